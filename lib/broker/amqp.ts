import net from 'node:net';
import tls from 'node:tls';
import rhea, { type Connection, type Container, type Delivery, type EventContext, type Message, type Receiver, type Sender, type Session } from 'rhea';
import { backoffDelay } from './backoff.js';
import { tlsClientOptions } from '../net/tls-client.js';
import {
  NotConnectedError,
  errorNamesDestination,
  parseDestination,
  type Destination,
  type InboundMessage,
  type SendOptions,
  type StateListener,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportState,
  type TransportOptions,
} from './transport.js';
import { silentLog, type Log } from '../log/log.js';
import { ConnectionState } from './connection-state.js';

/** How a broker names queues and topics in AMQP 1.0 addresses. */
export type AmqpAddressStyle = 'rabbitmq';

/** Options for {@link AmqpTransport}: those of every transport, and the broker's address style. */
export interface AmqpTransportOptions extends TransportOptions {
  /** Address dialect of the broker. Default `rabbitmq`. */
  addressStyle?: AmqpAddressStyle;
}

/** A parsed `amqp://` or `amqps://` URL. */
export interface AmqpAddress {
  secure: boolean;
  host: string;
  port: number;
}

/** Parses `amqps://host:port`; names the problem when it cannot. */
export function parseAmqpUrl(url: string): AmqpAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`broker URL "${url}" is not a URL (expected amqps://host:port)`);
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (scheme !== 'amqps' && scheme !== 'amqp') {
    throw new Error(`broker URL scheme "${scheme}" is not supported by the AMQP transport (use amqps:// or amqp://)`);
  }
  const secure = scheme === 'amqps';
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new Error(`broker URL "${url}" has no host`);
  return { secure, host, port: Number(parsed.port || (secure ? 5671 : 5672)) };
}

/**
 * The AMQP 1.0 address of a destination. The one place that knows a
 * broker's naming, so another broker's style is one more case here.
 *
 * @example
 * amqpAddress({ kind: 'queue', name: 'actions.201.ops' }); // '/queue/actions.201.ops' (RabbitMQ 3.x)
 */
export function amqpAddress(destination: Destination, style: AmqpAddressStyle = 'rabbitmq'): string {
  switch (style) {
    case 'rabbitmq':
      return `/${destination.kind}/${destination.name}`;
  }
}

/**
 * Terminus durability `unsettled-state`: RabbitMQ declares the queue behind
 * `/queue/<name>` durable only when the terminus is, as STOMP's are; a
 * mismatch would make the two protocols refuse each other's queue.
 */
const DURABLE_TERMINUS = 2;

/** Message properties that carry a wire header; every other header travels in application_properties. */
const PROPERTY_HEADERS = { 'reply-to': 'reply_to', 'correlation-id': 'correlation_id', 'content-type': 'content_type' } as const;

interface SubscriptionRecord {
  destination: Destination;
  options: SubscribeOptions;
  onMessage: (message: InboundMessage) => void;
  receiver?: Receiver;
  /** The receiver's own session: RabbitMQ ends a session to refuse a link, and that must not take the other links with it. */
  session?: Session;
  /** Refusals in a row, for the backoff before attaching again. */
  refusals: number;
  retry?: NodeJS.Timeout;
  closed: boolean;
  confirm?: { resolve: () => void; reject: (error: Error) => void };
}

interface PendingSend {
  generation: number;
  target: string;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** One connection attempt; `generation` is set once it is open. */
interface Attempt {
  connection: Connection;
  socket?: net.Socket;
  generation?: number;
  error?: Error;
  ended: boolean;
  timer?: NodeJS.Timeout;
  senders: Map<string, Sender>;
  /** The session of every sender, opened at the first send. */
  senderSession?: Session;
}

/**
 * AMQP 1.0 on rhea, with our own reconnect policy and TLS checks.
 *
 * rhea's reconnect is off: each attempt is a fresh rhea connection, dialled
 * after capped, jittered backoff, and every subscription gets a new receiver
 * once it is open. Connections carry a generation number so that settling a
 * message of a connection that is gone answers `false` (the broker
 * redelivers it). Receivers settle by hand with credit equal to the
 * prefetch, topped up one per settlement.
 *
 * @example
 * const t = new AmqpTransport({ url: 'amqps://broker:5671', login, passcode, tls: { ca } });
 * await t.connect();
 * t.subscribe({ kind: 'queue', name: 'actions.201.ops' }, { prefetch: 25 }, (m) => m.ack());
 */
export class AmqpTransport implements Transport {
  private readonly container: Container;
  private readonly address: AmqpAddress;
  private readonly log: Log;
  private readonly subscriptions = new Set<SubscriptionRecord>();
  private readonly pending = new Map<Delivery, PendingSend>();
  private confirmedTargets = new Set<string>();
  private current: Attempt | undefined;
  private generation = 0;
  private attempt = 0;
  private active = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly conn = new ConnectionState();

  constructor(private readonly options: AmqpTransportOptions) {
    this.address = parseAmqpUrl(options.url);
    this.log = options.log ?? silentLog;
    if (!this.address.secure) this.log.warn('broker connection is NOT encrypted (amqp://); use amqps:// outside development', { url: options.url });
    if (options.tls?.insecure) this.log.warn('INSECURE: broker certificate verification is OFF; anyone on the path can read the credentials', { url: options.url });
    this.container = rhea.create_container();
    // An unhandled rhea 'error' would be thrown by EventEmitter; errors reach us through the attempt's events.
    this.container.on('error', () => {});
  }

  get state(): TransportState {
    return this.conn.state;
  }

  onState(listener: StateListener): () => void {
    return this.conn.onState(listener);
  }

  connect(signal?: AbortSignal): Promise<void> {
    if (this.conn.state === 'connected') return Promise.resolve();
    // Asked before dialling, so the promise exists before any connection can report.
    const pending = this.conn.firstConnected(signal);
    if (!this.active) {
      this.active = true;
      this.setState('connecting');
      this.dial();
    }
    return pending;
  }

  subscribe(destination: Destination, options: SubscribeOptions, onMessage: (message: InboundMessage) => void): Subscription {
    const record: SubscriptionRecord = { destination, options, onMessage, closed: false, refusals: 0 };
    const ready = options.confirm ? new Promise<void>((resolve, reject) => (record.confirm = { resolve, reject })) : Promise.resolve();
    this.subscriptions.add(record);
    if (this.isLive(this.generation)) this.attachReceiver(record, this.current!);
    return {
      destination,
      ready,
      unsubscribe: async () => {
        record.closed = true;
        clearTimeout(record.retry);
        this.subscriptions.delete(record);
        // Closing the link hands its unsettled messages back to the broker.
        if (record.receiver?.is_open()) record.receiver.close();
        if (record.session?.is_open()) record.session.close();
        record.receiver = undefined;
        record.session = undefined;
      },
    };
  }

  send(destination: string | Destination, body: string, options: SendOptions = {}): Promise<void> {
    const attempt = this.current;
    if (!attempt || !this.isLive(this.generation)) return Promise.reject(new NotConnectedError('send'));
    const target = amqpAddress(parseDestination(destination), this.options.addressStyle);
    const message = outboundMessage(body, options);
    let confirm = options.confirm ?? true;
    if (confirm === 'first') {
      confirm = !this.confirmedTargets.has(target);
      this.confirmedTargets.add(target);
    }
    const sender = this.senderFor(attempt, target);
    if (!confirm) {
      sender.send(message);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const delivery = sender.send(message);
      const timeoutMs = this.options.receiptTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(delivery);
        reject(new Error(`broker did not confirm the message to ${target} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(delivery, { generation: this.generation, target, resolve, reject, timer });
    });
  }

  async close(): Promise<void> {
    this.active = false;
    clearTimeout(this.retryTimer);
    for (const record of this.subscriptions) {
      record.closed = true;
      clearTimeout(record.retry);
    }
    this.subscriptions.clear();
    this.failPending(() => true, new NotConnectedError('wait for a confirmation (transport closed)'));
    const attempt = this.current;
    if (attempt && !attempt.ended) {
      const gone = new Promise<void>((resolve) => attempt.socket?.once('close', () => resolve()) ?? resolve());
      attempt.connection.close();
      // A peer that never answers close must not keep us waiting.
      const timer = setTimeout(() => attempt.socket?.destroy(), 2000);
      await gone;
      clearTimeout(timer);
    }
    this.setState('closed');
  }

  /** True while connection `generation` is the live one. */
  isLive(generation: number): boolean {
    return generation === this.generation && this.current?.generation === generation && !this.current.ended;
  }

  /** Lets a receiver take one more message after one was settled. */
  settled(receiver: Receiver, generation: number): void {
    if (this.isLive(generation) && receiver.is_open()) receiver.add_credit(1);
  }

  private dial(): void {
    const material = this.options.tls ?? {};
    const { secure, host, port } = this.address;
    const attempt: Attempt = { ended: false, senders: new Map(), connection: undefined as unknown as Connection };
    this.current = attempt;
    const heartbeat = this.options.heartbeat ?? { outgoing: 10_000, incoming: 10_000 };
    // Our socket, so that rhea writes its first byte (the SASL header, then
    // the credentials) only from the secureConnect callback, which Node
    // calls once chain, expiry and host name are verified.
    const openSocket = (_port: number, _host: string, _options: unknown, onOpen: () => void): net.Socket => {
      const socket = secure
        ? tls.connect({ host, port, ...tlsClientOptions(material, host) }, onOpen)
        : net.connect({ host, port }, onOpen);
      socket.setNoDelay(true);
      socket.on('error', (error) => (attempt.error ??= error));
      socket.once('close', () => this.ended(attempt));
      attempt.socket = socket;
      return socket;
    };
    const connection = this.container.connect({
      host,
      port,
      connect: openSocket,
      reconnect: false,
      ...(this.options.login !== undefined ? { username: this.options.login, password: this.options.passcode ?? '' } : {}),
      hostname: this.options.vhost !== undefined ? `vhost:${this.options.vhost}` : host,
      idle_time_out: heartbeat.incoming || undefined,
    } as Parameters<Container['connect']>[0]);
    attempt.connection = connection;
    const remember = (context: EventContext) => {
      const error = context.connection?.error ?? (context as { error?: unknown }).error;
      if (error) attempt.error ??= asError(error);
    };
    connection.on('connection_open', () => this.opened(attempt));
    connection.on('connection_error', remember);
    connection.on('connection_close', remember);
    connection.on('disconnected', remember);
    connection.on('error', (error: unknown) => (attempt.error ??= asError(error)));
    // Without a listener rhea writes these to stderr with a hex dump. RabbitMQ sends one when it closes a connection we already closed (after a session error).
    connection.on('protocol_error', (error: unknown) => {
      attempt.error ??= asError(error);
      this.log.debug('AMQP protocol error; the connection is dropped', { error: asError(error).message });
    });
    connection.on('accepted', (context) => this.settleSend(context.delivery));
    connection.on('rejected', (context) => this.settleSend(context.delivery, dispositionError('rejected', context.delivery)));
    connection.on('released', (context) => this.settleSend(context.delivery, dispositionError('released', context.delivery)));
    connection.on('modified', (context) => this.settleSend(context.delivery, dispositionError('modified', context.delivery)));
    connection.on('sender_error', (context) => this.senderFailed(attempt, context));
    connection.on('sender_close', (context) => this.senderFailed(attempt, context));
    connection.on('receiver_error', (context) => this.receiverFailed(context));
    connection.on('receiver_close', (context) => this.receiverFailed(context));
    connection.on('session_error', (context) => this.sessionFailed(attempt, context));
    attempt.timer = setTimeout(() => {
      attempt.error ??= new Error(`no AMQP connection to ${host}:${port} within ${this.options.connectTimeoutMs ?? 15_000} ms`);
      attempt.socket?.destroy();
    }, this.options.connectTimeoutMs ?? 15_000);
  }

  private opened(attempt: Attempt): void {
    clearTimeout(attempt.timer);
    if (attempt.ended || attempt !== this.current) return;
    attempt.generation = ++this.generation;
    this.confirmedTargets = new Set();
    this.attempt = 0;
    for (const record of this.subscriptions) this.attachReceiver(record, attempt);
    this.setState('connected');
  }

  private ended(attempt: Attempt): void {
    if (attempt.ended) return;
    attempt.ended = true;
    clearTimeout(attempt.timer);
    if (attempt.generation !== undefined) {
      const generation = attempt.generation;
      this.failPending((p) => p.generation === generation, new NotConnectedError('wait for a confirmation (connection lost)'));
    }
    for (const record of this.subscriptions) {
      if (record.receiver?.connection !== attempt.connection) continue;
      record.receiver = undefined;
      record.session = undefined;
      clearTimeout(record.retry);
    }
    if (!this.active || attempt !== this.current) return;
    this.attempt++;
    this.setState('disconnected', { error: attempt.error, attempt: this.attempt });
    const delayMs = backoffDelay(this.attempt, this.options.reconnect);
    this.setState('connecting', { attempt: this.attempt, delayMs, error: attempt.error });
    this.retryTimer = setTimeout(() => {
      if (this.active) this.dial();
    }, delayMs);
  }

  private attachReceiver(record: SubscriptionRecord, attempt: Attempt): void {
    const generation = attempt.generation!;
    const prefetch = Math.max(1, record.options.prefetch);
    clearTimeout(record.retry);
    const session = attempt.connection.create_session();
    session.begin();
    record.session = session;
    // credit_window 0: rhea grants nothing by itself; we top up per settlement,
    // so at most `prefetch` messages are ever unsettled.
    const receiver = session.open_receiver({
      source: { address: amqpAddress(record.destination, this.options.addressStyle), durable: DURABLE_TERMINUS },
      autoaccept: false,
      credit_window: 0,
    });
    record.receiver = receiver;
    receiver.on('receiver_open', () => {
      record.refusals = 0;
      record.confirm?.resolve();
      record.confirm = undefined;
    });
    receiver.on('message', (context) => {
      if (record.closed || !context.message || !context.delivery) return;
      record.onMessage(new AmqpInbound(this, record.destination, context.message, context.delivery, receiver, generation));
    });
    receiver.add_credit(prefetch);
  }

  private senderFor(attempt: Attempt, target: string): Sender {
    let sender = attempt.senders.get(target);
    if (!sender || sender.is_closed()) {
      if (!attempt.senderSession?.is_open()) {
        attempt.senderSession = attempt.connection.create_session();
        attempt.senderSession.begin();
      }
      sender = attempt.senderSession.open_sender({ target: { address: target, durable: DURABLE_TERMINUS } });
      attempt.senders.set(target, sender);
    }
    return sender;
  }

  private senderFailed(attempt: Attempt, context: EventContext): void {
    const sender = context.sender;
    if (!sender) return;
    for (const [target, s] of attempt.senders) if (s === sender) attempt.senders.delete(target);
    const error = asError(sender.error ?? 'sender link closed by the broker');
    for (const [delivery, pending] of this.pending) if (delivery.link === sender) this.settleSend(delivery, new Error(`broker refused messages to ${pending.target}: ${error.message}`));
  }

  private receiverFailed(context: EventContext): void {
    const receiver = context.receiver;
    if (!receiver) return;
    for (const record of this.subscriptions) {
      if (record.receiver !== receiver) continue;
      const error = asError(receiver.error ?? 'receiver link closed by the broker');
      record.receiver = undefined;
      if (!this.refuseConfirm(record, error)) this.log.error('broker closed a subscription', { destination: record.destination.name, error: error.message });
    }
  }

  /** Rejects the subscription's pending `ready` with the broker's reason; false when nobody was waiting on it. */
  private refuseConfirm(record: SubscriptionRecord, error: Error): boolean {
    if (!record.confirm) return false;
    record.confirm.reject(new Error(`broker refused the subscription to ${amqpAddress(record.destination, this.options.addressStyle)}: ${error.message}`));
    record.confirm = undefined;
    return true;
  }

  /**
   * RabbitMQ answers a link it refuses (access to a queue) by ending its
   * session, not the link. Each subscription has a session of its own and
   * the senders share one, so a refusal ends only that: a refused
   * subscription is reported (its `ready` rejects) and attached again after
   * a backoff, like a reconnect; a refused send fails the sends of the
   * target the error names, and the others on that session are failed as
   * "not connected" (retried, never dead-lettered). Another session's end
   * closes the connection to start over.
   */
  private sessionFailed(attempt: Attempt, context: EventContext): void {
    const session = context.session;
    const error = asError(session?.error ?? 'session ended by the broker');
    const record = [...this.subscriptions].find((r) => r.session === session);
    if (record) {
      record.receiver = undefined;
      record.session = undefined;
      if (!this.refuseConfirm(record, error)) {
        const meta = { destination: record.destination.name, error: error.message };
        if (/unauthorized|not-found|not-allowed/.test(String((session?.error as { condition?: unknown } | undefined)?.condition))) this.log.error('broker refused a subscription; trying again after a pause', meta);
        // RabbitMQ ends every session ("internal-error: shutdown") before it closes the connection on the way down.
        else this.log.warn("broker ended a subscription's session; attaching again after a pause", meta);
      }
      if (record.closed || attempt.generation === undefined || !this.isLive(attempt.generation)) return;
      const delayMs = backoffDelay(++record.refusals, this.options.reconnect);
      record.retry = setTimeout(() => {
        if (!record.closed && attempt.generation !== undefined && this.isLive(attempt.generation)) this.attachReceiver(record, attempt);
      }, delayMs);
      return;
    }
    if (session && session === attempt.senderSession) {
      attempt.senderSession = undefined;
      attempt.senders.clear();
      for (const [delivery, pending] of this.pending) {
        if (delivery.link?.session !== session) continue;
        if (errorNamesDestination(error.message, pending.target)) this.settleSend(delivery, error);
        else {
          this.pending.delete(delivery);
          clearTimeout(pending.timer);
          pending.reject(new NotConnectedError(`wait for a confirmation (the broker ended the session: ${error.message})`));
        }
      }
      return;
    }
    attempt.error ??= error;
    if (!attempt.ended) attempt.connection.close();
  }

  private settleSend(delivery: Delivery | undefined, error?: Error): void {
    const pending = delivery && this.pending.get(delivery);
    if (!pending) return;
    this.pending.delete(delivery);
    clearTimeout(pending.timer);
    if (error) pending.reject(new Error(`broker did not take the message to ${pending.target}: ${error.message}`));
    else pending.resolve();
  }

  private failPending(match: (p: PendingSend) => boolean, error: Error): void {
    for (const [delivery, pending] of this.pending) {
      if (!match(pending)) continue;
      this.pending.delete(delivery);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  private setState(state: TransportState, detail?: Parameters<StateListener>[1]): void {
    this.conn.set(state, detail);
  }
}

/** A delivered message. */
class AmqpInbound implements InboundMessage {
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly size: number;
  private done = false;

  constructor(
    private readonly transport: AmqpTransport,
    readonly destination: Destination,
    message: Message,
    private readonly delivery: Delivery,
    private readonly receiver: Receiver,
    private readonly generation: number,
  ) {
    this.headers = inboundHeaders(message);
    const bytes = bodyBytes(message.body);
    this.body = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
    this.size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  }

  get live(): boolean {
    return !this.done && this.receiver.is_open() && this.transport.isLive(this.generation);
  }

  async ack(): Promise<boolean> {
    return this.settle(() => this.delivery.accept());
  }

  /** `requeue` releases the message (delivered again); otherwise it is rejected (RabbitMQ drops it, or dead-letters it where the queue has a dead-letter exchange). */
  async nack(requeue: boolean): Promise<boolean> {
    return this.settle(() => (requeue ? this.delivery.release() : this.delivery.reject({ condition: 'amqp:internal-error', description: 'refused by the processor' })));
  }

  private settle(outcome: () => void): boolean {
    if (!this.live) return false;
    this.done = true;
    outcome();
    this.transport.settled(this.receiver, this.generation);
    return true;
  }
}

function outboundMessage(body: string, options: SendOptions): Message {
  const message: Message = {
    // A data section, not an amqp-value: RabbitMQ hands a single data
    // section to STOMP and 0-9-1 consumers as the plain body.
    body: rhea.message.data_section(Buffer.from(body, 'utf8')),
    durable: options.persistent ?? true,
  };
  const application: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const property = PROPERTY_HEADERS[name as keyof typeof PROPERTY_HEADERS];
    if (property) message[property] = value;
    else application[name] = value;
  }
  if (Object.keys(application).length > 0) message.application_properties = application;
  return message;
}

function inboundHeaders(message: Message): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.application_properties ?? {})) {
    if (value !== undefined && value !== null) headers[name] = typeof value === 'string' ? value : String(value);
  }
  for (const [header, property] of Object.entries(PROPERTY_HEADERS)) {
    const value = message[property];
    if (value !== undefined && value !== null) headers[header] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  // RabbitMQ 3.10 prefixes a STOMP sender's `reply-to: /queue/x` once more
  // on its way to AMQP 1.0 (`/queue//queue/x`).
  const replyTo = headers['reply-to'];
  if (replyTo) headers['reply-to'] = replyTo.replace(/^\/queue\/(?=\/(?:queue|topic)\/)/, '');
  return headers;
}

/** The body as text or bytes: an amqp-value string, or data section(s). */
function bodyBytes(body: unknown): string | Buffer {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body;
  const section = body as { typecode?: number; content?: unknown; multiple?: boolean };
  if (section.typecode === 0x75) {
    const parts = section.multiple ? (section.content as Buffer[]) : [section.content as Buffer];
    return Buffer.concat(parts.map((part) => Buffer.from(part)));
  }
  return typeof body === 'object' ? JSON.stringify(body) : String(body);
}

function dispositionError(outcome: string, delivery: Delivery | undefined): Error {
  const state = delivery?.remote_state as { error?: { condition?: string; description?: string } } | undefined;
  const reason = state?.error ? `: ${state.error.condition ?? ''}${state.error.description ? ` ${state.error.description}` : ''}` : '';
  return new Error(`${outcome}${reason}`);
}

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  if (typeof error === 'object' && error !== null) {
    const { condition, description } = error as { condition?: string; description?: string };
    if (condition || description) return new Error(`${condition ?? 'amqp error'}${description ? `: ${description}` : ''}`);
  }
  return new Error(String(error));
}
