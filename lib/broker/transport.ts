/**
 * The broker connection behind a small interface, so routing, replies and
 * acknowledgements above it do not depend on the wire protocol.
 */
import type { Log } from '../log/log.js';
import type { TlsMaterial } from '../net/tls-client.js';
import type { BackoffOptions } from './backoff.js';

/** What every transport is configured with; `transportFor` picks the transport by the URL's scheme. */
export interface TransportOptions {
  /**
   * `stomp+ssl://host:port`, `wss://host:port/path` or `amqps://host:port`
   * (TLS, verified), or `stomp://`, `ws://`, `amqp://` (plain, for debugging).
   */
  url: string;
  /** The user (STOMP `login`, AMQP SASL PLAIN); without it an AMQP connection is anonymous. */
  login?: string;
  passcode?: string;
  /** Virtual host: STOMP's `host` header (default: the URL's host), AMQP's `vhost:<name>` open hostname (default: the broker's). RabbitMQ wants `/`. */
  vhost?: string;
  tls?: TlsMaterial;
  /** Heart-beat intervals in ms (STOMP: 0 disables one side; AMQP: `incoming` is our idle time-out, the peer sets the other). Default 10 s. */
  heartbeat?: { outgoing: number; incoming: number };
  reconnect?: BackoffOptions;
  /** Give up on one connection attempt (TCP, TLS, login) after this long (ms). Default 15 s. */
  connectTimeoutMs?: number;
  /** How long a confirmed send waits for the broker's confirmation (STOMP RECEIPT, AMQP disposition), in ms. Default 30 s. */
  receiptTimeoutMs?: number;
  log?: Log;
}

/** A queue or topic by logical name (e.g. `actions.201.incident_ops`). */
export interface Destination {
  kind: 'queue' | 'topic';
  name: string;
}

/** Connection states a transport reports. */
export type TransportState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** A message delivered by a subscription. */
export interface InboundMessage {
  /** Where it was delivered from. */
  destination: Destination;
  /** Wire headers, as received (names are case-sensitive). */
  headers: Record<string, string>;
  body: string;
  /** Size of the body in bytes. */
  size: number;
  /**
   * Acknowledges the message to the broker. Resolves `false` when the
   * connection that delivered it is gone: the broker will redeliver it, so
   * an acknowledgement on a newer connection would be refused.
   */
  ack(): Promise<boolean>;
  /**
   * Gives the message back unconsumed. `requeue: true` asks for it to be
   * delivered again; `false` asks the broker to drop it or move it to its
   * own dead-letter queue. Brokers differ (see each transport); cafkit's own
   * dead-lettering is a copy with the reason, then an ack. Resolves `false`
   * when the connection that delivered it is gone.
   */
  nack(requeue: boolean): Promise<boolean>;
  /** True while the connection that delivered this message is still up. */
  readonly live: boolean;
}

/** Options for an outgoing message. */
export interface SendOptions {
  headers?: Record<string, string>;
  /** Stored by the broker so it survives a broker restart (default true). */
  persistent?: boolean;
  /**
   * Wait for the broker to confirm it took the message (STOMP RECEIPT).
   * `'first'` confirms only the first message to each destination on a
   * connection: that proves the broker accepts writes there, without making
   * every send synchronous (ActiveMQ stores a confirmed SEND before it reads
   * the connection's next frame). Default true.
   */
  confirm?: boolean | 'first';
  /**
   * The body is text (no NUL bytes). On STOMP this leaves out
   * `content-length`, which ActiveMQ reads as "make it a JMS TextMessage".
   */
  text?: boolean;
}

/** Options for a subscription. */
export interface SubscribeOptions {
  /** How many unacknowledged messages the broker may hand out at once. */
  prefetch: number;
  /** Ask the broker to confirm the subscription (so `ready` rejects when it is refused). */
  confirm?: boolean;
}

/** A live subscription; it is renewed by the transport after a reconnect. */
export interface Subscription {
  destination: Destination;
  /** Settles when the broker confirmed (or refused) the subscription; resolved at once unless `confirm` was asked. */
  ready: Promise<void>;
  /** Stops delivery of new messages. */
  unsubscribe(): Promise<void>;
}

/** Listener for connection state changes. */
export type StateListener = (state: TransportState, detail?: { error?: Error; attempt?: number; delayMs?: number }) => void;

/** A broker connection that reconnects by itself until closed. */
export interface Transport {
  /** Starts connecting; resolves once the first connection is up. */
  connect(signal?: AbortSignal): Promise<void>;
  subscribe(destination: Destination, options: SubscribeOptions, onMessage: (message: InboundMessage) => void): Subscription;
  /**
   * Sends a message. The frame is written before this returns, on the
   * current connection, and the broker reads one connection's frames in
   * order (so an ack written afterwards is processed after it). The promise
   * settles when the broker confirmed it (or at once with `confirm: false`);
   * it rejects when there is no connection or the broker refuses it.
   */
  send(destination: string | Destination, body: string, options?: SendOptions): Promise<void>;
  /** Disconnects and stops reconnecting. */
  close(): Promise<void>;
  onState(listener: StateListener): () => void;
  readonly state: TransportState;
}

/** Error raised when a send or ack cannot be done because the link is down. */
export class NotConnectedError extends Error {
  override name = 'NotConnectedError';
  constructor(what: string) {
    super(`broker not connected: cannot ${what}`);
  }
}

/** Parses `/queue/x`, `/topic/x`, `queue://x` or a bare name (a queue). */
export function parseDestination(value: string | Destination): Destination {
  if (typeof value !== 'string') return value;
  const match = /^(?:\/(queue|topic)\/|(queue|topic):\/\/)(.+)$/.exec(value);
  if (!match) return { kind: 'queue', name: value };
  return { kind: (match[1] ?? match[2]) as Destination['kind'], name: match[3]! };
}

/**
 * True when a broker's error text names `destination` in quotes, as
 * RabbitMQ's do ("access to queue 'actions.999.x' in vhost '/' refused"):
 * how a refusal that carries no id is traced to the subscription or send
 * it answers.
 */
export function errorNamesDestination(message: string, destination: string | Destination): boolean {
  return message.includes(`'${parseDestination(destination).name}'`);
}

/** The STOMP form of a destination: `/queue/<name>` or `/topic/<name>`. */
export function stompDestination(destination: Destination): string {
  return `/${destination.kind}/${destination.name}`;
}
