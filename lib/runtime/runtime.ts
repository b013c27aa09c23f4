import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { readPem } from '../config/load.js';
import { transportFor } from '../broker/transport-for.js';
import type { Destination, Subscription, Transport } from '../broker/transport.js';
import { RestClient } from '../rest/client.js';
import { silentLog, type Log } from '../log/log.js';
import { registerSecret } from '../log/redact.js';
import { actionQueueName } from '../wire/headers.js';
import { ActionCatalog } from './action-catalog.js';
import { MemoryCompletedReplies, type CompletedReplies } from './completed-replies.js';
import { Dispatcher } from './dispatcher.js';
import { Limiter } from './limiter.js';
import type { ProcessorDefinition } from './processor.js';
import { buildRoutes, type RouteDestination } from './routes.js';
import type { ActivitySystem } from '../activity/system.js';

/** Parts a runtime can be given instead of building them from the config. */
export interface RuntimeParts {
  transport?: Transport;
  rest?: RestClient;
  completed?: CompletedReplies;
  log?: Log;
  /** Signed activity records, their stores and channels; none when absent. */
  activity?: ActivitySystem;
}

/**
 * A running processor host: one broker connection, a subscription per
 * destination the processors declare, and the dispatcher.
 *
 * @example
 * const runtime = createRuntime(config, processors, { log });
 * await runtime.start();
 * process.once('SIGTERM', () => runtime.stop().then(() => process.exit(0)));
 */
export class Runtime {
  readonly dispatcher: Dispatcher;
  readonly destinations: RouteDestination[];
  private subscriptions: Subscription[] = [];
  private connectedOnce = false;
  private reconnectCount = 0;
  private live: readonly Destination[] = [];

  constructor(
    private readonly config: Config,
    readonly transport: Transport,
    readonly rest: RestClient,
    processors: ProcessorDefinition<any>[],
    private readonly log: Log,
    completed: CompletedReplies,
    private readonly activity?: ActivitySystem,
  ) {
    const { routes, destinations, problems } = buildRoutes(processors, config.settings);
    for (const problem of problems) log.warn(`${problem}; its actions will answer with this error`);
    this.destinations = destinations;
    this.dispatcher = new Dispatcher({
      transport,
      rest,
      catalog: new ActionCatalog(),
      completed,
      limiter: new Limiter(config.runtime.concurrency),
      routes,
      orgId: config.org_id,
      log,
      maxBodyBytes: config.runtime.max_body_bytes,
      deadLetterPrefix: config.runtime.dead_letter_prefix,
      handlerTimeoutMs: config.runtime.handler_timeout_ms,
      serializePerIncident: config.runtime.serialize_per_incident,
      activity: activity?.recorder,
      // Stable across restarts with a durable store, so a restarted instance takes its unfinished claims straight back.
      owner: activity?.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
      claimLeaseMs: config.runtime.claim_lease_ms,
    });
    transport.onState((state, detail) => {
      // The transport renews every subscription before it reports 'connected', and has none without a connection.
      if (state === 'connected') {
        if (this.connectedOnce) this.reconnectCount++;
        this.connectedOnce = true;
        this.live = this.subscriptions.map((s) => s.destination);
      } else {
        this.live = [];
      }
      if (state === 'connected') log.info('broker connected', { url: config.broker.url });
      else if (state === 'disconnected') log.warn('broker connection lost', { error: detail?.error?.message });
      else if (state === 'connecting' && detail?.attempt) log.info('reconnecting to the broker', { attempt: detail.attempt, inMs: detail.delayMs, lastError: detail.error?.message });
    });
  }

  /**
   * True while the broker connection is up.
   *
   * @example
   * if (!runtime.connected) log.warn('no broker');
   */
  get connected(): boolean {
    return this.transport.state === 'connected';
  }

  /**
   * How many times the broker connection came back after it was lost (the
   * first connection does not count).
   *
   * @example
   * const before = runtime.reconnects; // ...broker restarts...; runtime.reconnects === before + 1
   */
  get reconnects(): number {
    return this.reconnectCount;
  }

  /**
   * The destinations subscribed on the live connection, by broker name
   * (`actions.201.incident_ops`); empty while disconnected. A subscription
   * counts once its SUBSCRIBE frame is on the connection; a broker that
   * refuses it closes the connection, which empties this list.
   *
   * @example
   * const ready = runtime.connected && runtime.subscribed.length === runtime.destinations.length;
   */
  get subscribed(): readonly Destination[] {
    return this.live;
  }

  /** Connects (waiting as long as it takes, unless aborted) and subscribes. */
  async start(signal?: AbortSignal): Promise<void> {
    for (const destination of this.destinations) {
      const name = actionQueueName(this.config.org_id, destination.name);
      this.subscriptions.push(
        this.transport.subscribe({ kind: destination.kind, name }, { prefetch: this.config.runtime.concurrency }, (message) => this.dispatcher.accept(message)),
      );
    }
    // A transport connected before start subscribes at once, without a new 'connected' state.
    if (this.transport.state === 'connected') this.live = this.subscriptions.map((s) => s.destination);
    await this.transport.connect(signal);
    this.log.info('processing', { destinations: this.destinations.map((d) => `${d.kind}:${actionQueueName(this.config.org_id, d.name)}`), concurrency: this.config.runtime.concurrency });
  }

  /**
   * Stops taking messages, lets in-flight handlers finish up to the
   * deadline, then disconnects; anything not acknowledged is redelivered.
   */
  async stop(deadlineMs = this.config.runtime.shutdown_timeout_ms): Promise<void> {
    const inFlight = this.dispatcher.inFlight;
    if (inFlight) this.log.info('stopping: waiting for in-flight actions', { inFlight, deadlineMs });
    const drained = await this.dispatcher.drain(deadlineMs);
    if (!drained) this.log.warn('stopping: deadline passed; unfinished actions stay unacknowledged and will be redelivered', { inFlight: this.dispatcher.inFlight });
    await this.transport.close();
    this.rest.close();
    await this.activity?.close(this.config.activity.drain_timeout_ms);
    this.log.info('stopped', { ...this.dispatcher.stats });
  }
}

/** Builds the transport and REST client from the config and returns a runtime. */
export function createRuntime(config: Config, processors: ProcessorDefinition<any>[], parts: RuntimeParts = {}): Runtime {
  const log = parts.log ?? silentLog;
  // The REST secrets are registered by createRestClient.
  for (const secret of [config.broker.password, config.broker.passphrase]) registerSecret(secret);
  const transport = parts.transport ?? createTransport(config, log);
  const rest = parts.rest ?? createRestClient(config, log);
  const completed = parts.completed ?? parts.activity?.completed ?? new MemoryCompletedReplies(config.runtime.completed_memory);
  return new Runtime(config, transport, rest, processors, log, completed, parts.activity);
}

/** The broker transport the config describes. */
export function createTransport(config: Config, log: Log): Transport {
  const b = config.broker;
  return transportFor({
    url: b.url,
    login: b.user,
    passcode: b.password,
    vhost: b.vhost,
    tls: { ca: readPem(b.ca), cert: readPem(b.cert), key: readPem(b.key), passphrase: b.passphrase, servername: b.servername, insecure: b.insecure },
    heartbeat: { outgoing: b.heartbeat_ms, incoming: b.heartbeat_ms },
    reconnect: { initialMs: b.reconnect_initial_ms, maxMs: b.reconnect_max_ms },
    connectTimeoutMs: b.connect_timeout_ms,
    log,
  });
}

/** The REST client the config's `org_id` and `rest` describe; its secrets are registered for log redaction. */
export function createRestClient(config: Pick<Config, 'org_id' | 'rest'>, log: Log): RestClient {
  const r = config.rest;
  for (const secret of [r.password, r.api_key_secret, r.passphrase]) registerSecret(secret);
  return new RestClient({
    url: r.url,
    orgId: config.org_id,
    tls: { ca: readPem(r.ca), cert: readPem(r.cert), key: readPem(r.key), passphrase: r.passphrase, insecure: r.insecure },
    apiKey: r.api_key_id && r.api_key_secret ? { id: r.api_key_id, secret: r.api_key_secret } : undefined,
    login: r.email && r.password ? { email: r.email, password: r.password } : undefined,
    timeoutMs: r.timeout_ms,
    retries: r.retries,
    conflictTries: r.conflict_tries,
    log,
  });
}
