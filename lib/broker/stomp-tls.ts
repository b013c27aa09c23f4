import { Client, type IFrame, type IMessage, type IStompSocket, type StompSubscription } from '@stomp/stompjs';
import WebSocket from 'ws';
import { backoffDelay } from './backoff.js';
import { SocketAdapter } from './tls-socket.js';
import { tlsClientOptions } from '../net/tls-client.js';
import {
  NotConnectedError,
  errorNamesDestination,
  parseDestination,
  stompDestination,
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

/** Options for {@link StompTransport}: those of every transport. */
export type StompTransportOptions = TransportOptions;

/** A parsed broker URL. */
export interface BrokerAddress {
  secure: boolean;
  host: string;
  port: number;
  /** For STOMP over WebSocket: the URL to dial (scheme, host, port, path). */
  webSocketUrl?: string;
}

/** Parses `stomp+ssl://host:port`; names the problem when it cannot. */
export function parseStompUrl(url: string): BrokerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`broker URL "${url}" is not a URL (expected stomp+ssl://host:port)`);
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new Error(`broker URL "${url}" has no host`);
  if (scheme === 'wss' || scheme === 'ws') {
    if (parsed.username || parsed.password) throw new Error(`broker URL "${parsed.host}" carries credentials; give the broker user and password instead`);
    const secure = scheme === 'wss';
    return { secure, host, port: Number(parsed.port || (secure ? 443 : 80)), webSocketUrl: parsed.href };
  }
  const secure = scheme === 'stomp+ssl' || scheme === 'stomp+tls';
  if (!secure && scheme !== 'stomp') {
    throw new Error(`broker URL scheme "${scheme}" is not supported by the STOMP transport (use stomp+ssl://, wss://, stomp:// or ws://)`);
  }
  const port = Number(parsed.port || (secure ? 65001 : 61613));
  return { secure, host, port };
}

interface SubscriptionRecord {
  id: string;
  destination: Destination;
  options: SubscribeOptions;
  onMessage: (message: InboundMessage) => void;
  active?: StompSubscription;
  closed: boolean;
  /** Refusals in a row; a refused subscription is held back (not renewed) until `heldUntil`. */
  refusals: number;
  heldUntil?: number;
  retry?: NodeJS.Timeout;
  /** Set while a confirmed subscription waits for its first RECEIPT. */
  confirm?: { resolve: () => void; reject: (error: Error) => void };
}

interface PendingReceipt {
  generation: number;
  /** The subscription's id, for a SUBSCRIBE's receipt. */
  subscriptionId?: string;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * STOMP 1.2 over TLS (a TLS socket of ours), or over a WebSocket (`wss://`,
 * with the `ws` package), on @stomp/stompjs. Either way the TLS handshake
 * (chain, expiry, host name) completes before stompjs sees the socket open,
 * so CONNECT, with the credentials, never reaches an unverified peer.
 *
 * Reconnects forever with capped, jittered exponential backoff and renews
 * every subscription after each reconnect. Each connection has a generation
 * number so that acknowledgements for messages of a connection that is gone
 * are dropped (the broker redelivers those) rather than sent on the new one,
 * where ActiveMQ would reject them.
 *
 * @example
 * const t = new StompTransport({ url: 'stomp+ssl://broker:65001', login, passcode, tls: { ca } });
 * await t.connect();
 * t.subscribe({ kind: 'queue', name: 'actions.201.ops' }, { prefetch: 25 }, (m) => m.ack());
 */
export class StompTransport implements Transport {
  private readonly client: Client;
  private readonly address: BrokerAddress;
  private readonly log: Log;
  private readonly subscriptions = new Map<string, SubscriptionRecord>();
  private readonly receipts = new Map<string, PendingReceipt>();
  /** Destinations already written to with a confirmed send on this connection. */
  private confirmedTargets = new Set<string>();
  private readonly targets = new Map<string, string>();
  private generation = 0;
  private attempt = 0;
  private nextId = 0;
  private lastSocket: { lastError: Error | undefined } | undefined;
  private lastError: Error | undefined;
  private waitAbort = new AbortController();
  private readonly conn = new ConnectionState();
  private requeueByNack = true;
  /** The ERROR frame that ended connection `generation`, if one did. */
  private closingError: { generation: number; message: string } | undefined;

  constructor(private readonly options: StompTransportOptions) {
    this.address = parseStompUrl(options.url);
    this.log = options.log ?? silentLog;
    if (!this.address.secure) this.log.warn('broker connection is NOT encrypted (stomp:// or ws://); use stomp+ssl:// or wss:// outside development', { url: options.url });
    if (options.tls?.insecure) this.log.warn('INSECURE: broker certificate verification is OFF; anyone on the path can read the credentials', { url: options.url });
    const heartbeat = options.heartbeat ?? { outgoing: 10_000, incoming: 10_000 };
    this.client = new Client({
      webSocketFactory: () => this.openSocket(),
      connectHeaders: {
        ...(options.login !== undefined ? { login: options.login } : {}),
        ...(options.passcode !== undefined ? { passcode: options.passcode } : {}),
        host: options.vhost ?? this.address.host,
      },
      heartbeatOutgoing: heartbeat.outgoing,
      heartbeatIncoming: heartbeat.incoming,
      // A WebSocket peer that stopped sending heart-beats will not answer a close handshake either.
      discardWebsocketOnCommFailure: this.address.webSocketUrl !== undefined,
      // stompjs waits 1 ms; the real, jittered wait happens in beforeConnect.
      reconnectDelay: 1,
      connectionTimeout: options.connectTimeoutMs ?? 15_000,
      beforeConnect: () => this.waitBeforeAttempt(),
      onConnect: (frame) => this.connected(frame.headers['server']),
      onStompError: (frame) => this.stompError(frame),
      onWebSocketClose: () => this.socketClosed(),
      onWebSocketError: () => {},
      debug: () => {},
    });
  }

  /**
   * False on ActiveMQ (from the CONNECTED frame's `server` header), where
   * every STOMP NACK is a poison ack: the message goes to the dead-letter
   * queue at once, whatever the `requeue` header says.
   */
  get nackRequeues(): boolean {
    return this.requeueByNack;
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
    if (!this.client.active) {
      this.waitAbort = new AbortController();
      this.setState('connecting');
      this.client.activate();
    }
    return pending;
  }

  subscribe(destination: Destination, options: SubscribeOptions, onMessage: (message: InboundMessage) => void): Subscription {
    const record: SubscriptionRecord = { id: `sub-${++this.nextId}`, destination, options, onMessage, closed: false, refusals: 0 };
    const ready = options.confirm
      ? new Promise<void>((resolve, reject) => (record.confirm = { resolve, reject }))
      : Promise.resolve();
    this.subscriptions.set(record.id, record);
    if (this.client.connected) this.activate(record);
    return {
      destination,
      ready,
      unsubscribe: async () => {
        record.closed = true;
        clearTimeout(record.retry);
        this.subscriptions.delete(record.id);
        if (record.active && this.client.connected) record.active.unsubscribe();
        record.active = undefined;
      },
    };
  }

  send(destination: string | Destination, body: string, options: SendOptions = {}): Promise<void> {
    if (!this.client.connected) return Promise.reject(new NotConnectedError('send'));
    const headers: Record<string, string> = { ...options.headers };
    if (options.persistent ?? true) headers['persistent'] = 'true';
    const target = this.stompTarget(destination);
    const skipContentLengthHeader = options.text === true;
    let confirm = options.confirm ?? true;
    if (confirm === 'first') {
      confirm = !this.confirmedTargets.has(target);
      this.confirmedTargets.add(target);
    }
    if (!confirm) {
      this.client.publish({ destination: target, body, headers, skipContentLengthHeader });
      return Promise.resolve();
    }
    const receipt = `r-${this.generation}-${++this.nextId}`;
    headers['receipt'] = receipt;
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.options.receiptTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.receipts.delete(receipt);
        reject(new Error(`broker did not confirm the message to ${target} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.receipts.set(receipt, { generation: this.generation, resolve, reject, timer });
      this.client.watchForReceipt(receipt, () => this.settleReceipt(receipt));
      try {
        this.client.publish({ destination: target, body, headers, skipContentLengthHeader });
      } catch (error) {
        this.confirmedTargets.delete(target);
        this.settleReceipt(receipt, error as Error);
      }
    });
  }

  async close(): Promise<void> {
    this.waitAbort.abort();
    for (const record of this.subscriptions.values()) {
      record.closed = true;
      clearTimeout(record.retry);
    }
    this.subscriptions.clear();
    this.failReceipts(() => true, new NotConnectedError('wait for a receipt (transport closed)'));
    await this.client.deactivate();
    this.setState('closed');
  }

  /** The STOMP name of a destination; reply-to strings repeat, so they are parsed once. */
  private stompTarget(destination: string | Destination): string {
    if (typeof destination !== 'string') return stompDestination(destination);
    let target = this.targets.get(destination);
    if (target === undefined) {
      target = stompDestination(parseDestination(destination));
      if (this.targets.size < 10_000) this.targets.set(destination, target);
    }
    return target;
  }

  private openSocket(): IStompSocket {
    if (this.address.webSocketUrl !== undefined) return this.openWebSocket(this.address.webSocketUrl);
    const socket = new SocketAdapter({
      host: this.address.host,
      port: this.address.port,
      secure: this.address.secure,
      tls: this.options.tls,
    });
    this.lastSocket = socket;
    return socket;
  }

  /**
   * `ws` verifies chain, expiry and host name during the TLS handshake and
   * fires `open` only after the HTTP upgrade that follows it; a failed check
   * surfaces as `error` then `close`, and stompjs never writes CONNECT.
   */
  private openWebSocket(url: string): IStompSocket {
    const socket = new WebSocket(url, ['v12.stomp'], {
      ...(this.address.secure ? tlsClientOptions(this.options.tls ?? {}, this.address.host) : {}),
      handshakeTimeout: this.options.connectTimeoutMs ?? 15_000,
      perMessageDeflate: false,
    });
    const state = { lastError: undefined as Error | undefined };
    socket.on('error', (error) => {
      state.lastError = error;
    });
    // RabbitMQ's web-stomp answers a refused SUBSCRIBE by closing the
    // WebSocket (1000, "STOMP died"), with no STOMP ERROR: the close frame is
    // all the client learns. Our own close sends no reason.
    socket.on('close', (code, reason) => {
      if (reason.length || (code !== 1000 && code !== 1005 && code !== 1006)) state.lastError ??= new Error(`the broker closed the WebSocket (${code}${reason.length ? `: ${reason.toString('utf8')}` : ''})`);
    });
    this.lastSocket = state;
    return socket as unknown as IStompSocket;
  }

  private async waitBeforeAttempt(): Promise<void> {
    if (this.attempt === 0) return;
    const delayMs = backoffDelay(this.attempt, this.options.reconnect);
    this.setState('connecting', { attempt: this.attempt, delayMs, error: this.lastError });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.waitAbort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }

  private connected(server: string | undefined): void {
    this.requeueByNack = !/^ActiveMQ\b/i.test(server ?? '');
    this.generation++;
    this.confirmedTargets = new Set();
    this.attempt = 0;
    this.lastError = undefined;
    for (const record of this.subscriptions.values()) this.activate(record);
    this.setState('connected');
  }

  private activate(record: SubscriptionRecord): void {
    clearTimeout(record.retry);
    const wait = (record.heldUntil ?? 0) - Date.now();
    if (wait > 0) {
      // Refused a moment ago: renewing it with the others would get the connection closed again at once (RabbitMQ).
      record.retry = setTimeout(() => {
        if (!record.closed && this.client.connected && !record.active) this.activate(record);
      }, wait);
      return;
    }
    const generation = this.generation;
    const headers: Record<string, string> = {
      id: record.id,
      ack: 'client-individual',
      // ActiveMQ reads the first, RabbitMQ the second; each ignores the other's.
      'activemq.prefetchSize': String(Math.max(1, record.options.prefetch)),
      'prefetch-count': String(Math.max(1, record.options.prefetch)),
    };
    const confirm = record.confirm;
    if (confirm) {
      const receipt = `s-${record.id}-${++this.nextId}`;
      headers['receipt'] = receipt;
      const timer = setTimeout(() => this.settleReceipt(receipt, new Error('broker did not confirm the subscription')), this.options.receiptTimeoutMs ?? 30_000);
      this.receipts.set(receipt, {
        generation,
        subscriptionId: record.id,
        timer,
        resolve: () => {
          record.confirm = undefined;
          confirm.resolve();
        },
        reject: (error) => {
          record.confirm = undefined;
          confirm.reject(error);
        },
      });
      this.client.watchForReceipt(receipt, () => this.settleReceipt(receipt));
    }
    record.active = this.client.subscribe(
      stompDestination(record.destination),
      (frame) => {
        if (record.closed) return;
        record.refusals = 0;
        record.onMessage(this.inbound(record.destination, frame, generation));
      },
      headers,
    );
  }

  private inbound(destination: Destination, frame: IMessage, generation: number): InboundMessage {
    return new StompInbound(this, destination, frame, generation);
  }

  /** True while connection `generation` is the live one. */
  isLive(generation: number): boolean {
    return generation === this.generation && this.client.connected;
  }

  private stompError(frame: IFrame): void {
    const message = frame.headers['message'] ?? 'broker error';
    const error = new Error(`broker ERROR: ${message}${frame.body ? `: ${frame.body.split('\n')[0]}` : ''}`);
    this.lastError = error;
    const receipt = frame.headers['receipt-id'];
    if (receipt && this.receipts.has(receipt)) {
      this.settleReceipt(receipt, error);
      return;
    }
    // RabbitMQ refuses a SUBSCRIBE with an ERROR that has no receipt-id but
    // names the queue, then still sends the RECEIPT: the named subscription
    // is the refused one.
    const refused = [...this.subscriptions.values()].filter((r) => r.active && errorNamesDestination(error.message, r.destination));
    if (refused.length) {
      for (const [id, pending] of this.receipts) if (refused.some((r) => r.id === pending.subscriptionId)) this.settleReceipt(id, error);
      // Held back before it is renewed: RabbitMQ closes the connection after the refusal, and would again at every reconnect.
      for (const record of refused) {
        record.active = undefined;
        const holdMs = backoffDelay(++record.refusals + 2, this.options.reconnect);
        record.heldUntil = Date.now() + holdMs;
        this.log.error('broker refused a subscription; asking again later', { destination: record.destination.name, error: error.message, retryInMs: holdMs });
      }
      return;
    }
    // Any other ERROR without a receipt-id ends the connection (the server
    // closes after an ERROR): it is the reason every confirmation still
    // pending on this connection will not come.
    this.closingError = { generation: this.generation, message: error.message };
    this.log.error('broker sent an ERROR frame', { error: error.message });
  }

  private socketClosed(): void {
    const socketError = this.lastSocket?.lastError;
    if (socketError) this.lastError = socketError;
    const closing = !this.client.active;
    const generation = this.generation;
    const cause = this.closingError?.generation === generation ? `the broker closed the connection after ${this.closingError.message}` : socketError ? `connection lost: ${socketError.message}` : 'connection lost';
    // Still a NotConnectedError: a send pending here was not refused itself, so it must not be dead-lettered.
    this.failReceipts((p) => p.generation === generation, new NotConnectedError(`wait for a receipt (${cause})`));
    if (closing) return;
    this.attempt++;
    this.setState('disconnected', { error: this.lastError, attempt: this.attempt });
  }

  private settleReceipt(receipt: string, error?: Error): void {
    const pending = this.receipts.get(receipt);
    if (!pending) return;
    this.receipts.delete(receipt);
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve();
  }

  private failReceipts(match: (p: PendingReceipt) => boolean, error: Error): void {
    for (const [receipt, pending] of this.receipts) if (match(pending)) this.settleReceipt(receipt, error);
  }

  private setState(state: TransportState, detail?: Parameters<StateListener>[1]): void {
    this.conn.set(state, detail);
  }
}

/** A delivered message; a class rather than closures, as one is made per message. */
class StompInbound implements InboundMessage {
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly size: number;

  constructor(
    private readonly transport: StompTransport,
    readonly destination: Destination,
    private readonly frame: IMessage,
    private readonly generation: number,
  ) {
    this.headers = frame.headers as Record<string, string>;
    this.body = frame.body;
    this.size = frame.isBinaryBody ? frame.binaryBody.byteLength : Buffer.byteLength(this.body);
  }

  get live(): boolean {
    return this.transport.isLive(this.generation);
  }

  async ack(): Promise<boolean> {
    if (!this.live) return false;
    this.frame.ack();
    return true;
  }

  /**
   * A STOMP NACK with RabbitMQ's `requeue` header: RabbitMQ delivers the
   * message again, or drops it (dead-letters it where the queue has a
   * dead-letter exchange). ActiveMQ treats every NACK as a poison ack (the
   * message goes to `ActiveMQ.DLQ.Queue.<name>` at once), so there a
   * requeue sends nothing: the message stays unacknowledged and is
   * delivered again once this connection ends.
   */
  async nack(requeue: boolean): Promise<boolean> {
    if (!this.live) return false;
    if (requeue && !this.transport.nackRequeues) return true;
    this.frame.nack({ requeue: String(requeue) });
    return true;
  }
}
