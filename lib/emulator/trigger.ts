import { transportFor } from '../broker/transport-for.js';
import type { Destination, Subscription, Transport } from '../broker/transport.js';
import { readAcknowledgement } from '../wire/acknowledgement.js';
import { actionQueueName, Headers } from '../wire/headers.js';
import { childLog, silentLog, type Log } from '../log/log.js';
import { buildActionData } from './action-message.js';
import { TriggerRequestSchema, type TriggerRequest } from './bodies.js';
import { newContextToken } from './context-token.js';
import { parseBody, PlatformError } from './errors.js';
import type { Invocation, InvocationLog } from './invocations.js';
import type { MessageDestination } from './model.js';
import type { EmulatorStore } from './store.js';

/** How the emulator reaches the broker, logged in as the platform's broker user. */
export interface EmulatorBrokerOptions {
  /** `stomp+ssl://host:port`, `wss://host:port/path` or `amqps://host:port` (plain variants for debugging). */
  url: string;
  login: string;
  passcode: string;
  /** Virtual host (RabbitMQ: `/`). */
  vhost?: string;
  /** PEM contents of the CA that signed the broker's certificate. */
  tls?: { ca?: string };
  /** How long start-up waits for the first connection before going on without it (ms, default 15 s). */
  connectTimeoutMs?: number;
}

/** The queue replies for a destination come back on. */
export function ackQueueName(orgId: number, programmaticName: string): string {
  return `acks.${orgId}.${programmaticName}`;
}

/**
 * The platform's trigger side: what happens when a user clicks an action in
 * the UI. It validates the request like the UI would, builds the
 * ActionDataDTO, publishes it (persistent, broker-confirmed) to the
 * destination with the platform's headers, and files every reply that comes
 * back on `acks.<org>.<destination>` under its invocation.
 *
 * Without broker options it still answers, with a 503 naming what is missing,
 * so the REST half of the emulator is usable on its own.
 */
export class TriggerSide {
  private readonly transport: Transport | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly log: Log;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly deps: {
      store: EmulatorStore;
      invocations: InvocationLog;
      broker?: EmulatorBrokerOptions;
      log?: Log;
      /** For tests: a transport other than STOMP over TLS. */
      transport?: Transport;
    },
  ) {
    this.log = childLog(deps.log ?? silentLog, { part: 'emulator-trigger' });
    const broker = deps.broker;
    this.transport =
      deps.transport ??
      (broker &&
        transportFor({
          url: broker.url,
          login: broker.login,
          passcode: broker.passcode,
          vhost: broker.vhost,
          tls: broker.tls?.ca !== undefined ? { ca: broker.tls.ca } : undefined,
          log: this.log,
        }));
  }

  /** True when a broker is configured. */
  get enabled(): boolean {
    return this.transport !== undefined;
  }

  /**
   * Subscribes to every destination's reply queue (and to those of
   * destinations created later), then waits for the first connection. When
   * the broker does not answer in time the emulator starts anyway and keeps
   * trying; triggers answer 503 until it is connected.
   */
  async start(): Promise<void> {
    const transport = this.transport;
    if (!transport) return;
    for (const destination of this.deps.store.destinations()) this.listen(destination);
    this.stopListening = this.deps.store.onDestinationCreated((d) => this.listen(d));
    const timeoutMs = this.deps.broker?.connectTimeoutMs ?? 15_000;
    try {
      await transport.connect(AbortSignal.timeout(timeoutMs));
    } catch {
      this.log.warn(`broker not reachable within ${timeoutMs} ms; the emulator starts without it and keeps trying`, { url: this.deps.broker?.url });
    }
  }

  /**
   * Invokes an action, like a user in the platform's UI. Rejects with a
   * {@link PlatformError}. `origin.causedBy` is set by automatic actions: the
   * invocation whose context token the triggering REST request carried.
   */
  async trigger(request: TriggerRequest, origin: { causedBy?: number } = {}): Promise<Invocation> {
    const req = parseBody(TriggerRequestSchema, request, 'trigger request');
    const { store, invocations } = this.deps;
    const transport = this.transport;
    if (!transport) {
      throw PlatformError.unavailable('the emulator has no broker configured (start it with the `broker` option), so it cannot send action messages');
    }
    const action = asBadRequest(() => store.action(req.action), `unknown action ${JSON.stringify(req.action)}`);
    if (!action.enabled) throw PlatformError.badRequest(`action "${action.name}" is disabled`);
    const destination = this.destinationFor(action.message_destinations, action.name, req.destination);
    const objectType = req.objectType ?? action.object_type;
    if (objectType !== action.object_type) {
      throw PlatformError.badRequest(`action "${action.name}" is defined on ${action.object_type} objects, not on ${objectType}`);
    }
    // A note, artifact or task names its incident itself; the request's must match it.
    let incidentId = req.incident ?? (objectType === 'incident' ? req.objectId : undefined);
    if (objectType !== 'incident' && req.objectId !== undefined) {
      const owner = asBadRequest(
        () => store.objectOf(objectType, req.objectId!, req.incident),
        `field "objectId": there is no ${objectType} ${req.objectId}${req.incident !== undefined ? ` on incident ${req.incident}` : ''}`,
      );
      if (owner) incidentId = owner.incidentId;
    }
    if (incidentId === undefined) throw PlatformError.badRequest('field "incident": is required (every action message carries its incident)');
    const incident = asBadRequest(() => store.incident(incidentId), `field "incident": incident ${incidentId} does not exist`);
    if (objectType === 'incident' && req.objectId !== undefined && req.objectId !== incident.id) {
      throw PlatformError.badRequest(`field "objectId": ${req.objectId} is not incident ${incident.id}`);
    }
    const objectId = objectType === 'incident' ? incident.id : req.objectId;
    if (objectId === undefined) throw PlatformError.badRequest(`field "objectId": is required for an action on ${objectType} objects`);
    const properties = store.actionProperties(action, req.properties ?? {});
    if (transport.state !== 'connected') {
      throw PlatformError.unavailable(`the emulator is not connected to the broker (${this.deps.broker?.url ?? 'test transport'}, state ${transport.state}); try again when it is`);
    }

    const token = newContextToken();
    const body = buildActionData(store, { action, incident, objectType, objectId, properties, user: store.invoker() });
    const invocation = invocations.create(
      {
        action_id: action.id,
        action_name: action.name,
        destination: destination.programmatic_name,
        object: { type: objectType, id: objectId },
        incident_id: incident.id,
        properties,
        ...(origin.causedBy !== undefined ? { caused_by: origin.causedBy } : {}),
      },
      token,
    );
    const org = store.org.id;
    const target: Destination = { kind: destination.destination_type === 1 ? 'topic' : 'queue', name: actionQueueName(org, destination.programmatic_name) };
    try {
      await transport.send(target, JSON.stringify(body), {
        persistent: true,
        confirm: true,
        headers: {
          [Headers.correlationId]: invocation.correlation_id,
          [Headers.replyTo]: `/queue/${ackQueueName(org, destination.programmatic_name)}`,
          [Headers.contextToken]: token,
          [Headers.payload]: 'ActionDataDTO',
          [Headers.contentType]: 'application/json',
        },
      });
    } catch (error) {
      invocations.remove(invocation.id);
      throw PlatformError.unavailable(`could not send the action message to /${target.kind}/${target.name}: ${(error as Error).message}`);
    }
    this.log.info('action message sent', { invocation: invocation.id, action: action.name, destination: `/${target.kind}/${target.name}` });
    // A destination that expects no acknowledgement shows the invocation completed at once.
    if (!destination.expect_ack) invocations.completeWithoutReply(invocation.id);
    return invocations.get(invocation.id) ?? invocation;
  }

  /** Unsubscribes and disconnects. */
  async close(): Promise<void> {
    this.stopListening?.();
    for (const subscription of this.subscriptions.values()) await subscription.unsubscribe().catch(() => {});
    this.subscriptions.clear();
    await this.transport?.close();
  }

  private destinationFor(names: string[], actionName: string, wanted: string | number | undefined): MessageDestination {
    const { store } = this.deps;
    if (wanted === undefined) {
      if (names.length !== 1) {
        throw PlatformError.badRequest(
          `field "destination": action "${actionName}" sends to ${names.length === 0 ? 'no destination' : names.join(', ')}; name the destination`,
        );
      }
      return store.destination(names[0]!);
    }
    const destination = asBadRequest(() => store.destination(wanted), `field "destination": message destination ${JSON.stringify(wanted)} does not exist`);
    if (!names.includes(destination.programmatic_name)) {
      throw PlatformError.badRequest(
        `field "destination": action "${actionName}" does not send to "${destination.programmatic_name}" (it sends to ${names.join(', ') || 'nothing'})`,
      );
    }
    return destination;
  }

  private listen(destination: MessageDestination): void {
    const transport = this.transport;
    const name = ackQueueName(this.deps.store.org.id, destination.programmatic_name);
    if (!transport || this.subscriptions.has(name)) return;
    // Confirmed, so a platform user without read access to the reply queue is reported, not silently deaf.
    const subscription = transport.subscribe({ kind: 'queue', name }, { prefetch: 100, confirm: true }, (message) => {
      const ack = readAcknowledgement(message.body, message.headers);
      const correlationId = message.headers[Headers.correlationId];
      const matched = this.deps.invocations.reply(correlationId, ack, destination.programmatic_name);
      if (!matched) this.log.warn('reply for no known invocation', { queue: name, correlationId });
      else this.log.debug('reply filed', { queue: name, correlationId, complete: ack.complete });
      // Filed in memory first, then acknowledged: the broker keeps it until we have it.
      void message.ack();
    });
    subscription.ready.catch((error: unknown) =>
      this.log.error('cannot read replies: the broker refused the subscription', { queue: name, error: (error as Error).message }),
    );
    this.subscriptions.set(name, subscription);
  }
}

/** Runs `fn`, turning its 404 into a 400: in a trigger request an unknown reference is a bad request. */
function asBadRequest<T>(fn: () => T, message: string): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof PlatformError && error.status === 404) throw PlatformError.badRequest(message);
    throw error;
  }
}
