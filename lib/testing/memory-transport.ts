import type { Destination, InboundMessage, SendOptions, StateListener, SubscribeOptions, Subscription, Transport, TransportState } from '../broker/transport.js';
import { parseDestination } from '../broker/transport.js';

/** A message a test's transport was asked to send. */
export interface SentMessage {
  destination: Destination;
  body: string;
  headers: Record<string, string>;
}

/**
 * A broker that lives in memory, for handler tests: it records what is sent
 * and lets a test deliver messages and see when they are acknowledged.
 * End-to-end tests use a real broker instead.
 */
export class MemoryTransport implements Transport {
  readonly sent: SentMessage[] = [];
  readonly state: TransportState = 'connected';

  async connect(): Promise<void> {}

  subscribe(destination: Destination, _options: SubscribeOptions, _onMessage: (message: InboundMessage) => void): Subscription {
    return { destination, ready: Promise.resolve(), unsubscribe: async () => {} };
  }

  async send(destination: string | Destination, body: string, options: SendOptions = {}): Promise<void> {
    this.sent.push({ destination: parseDestination(destination), body, headers: { ...options.headers } });
  }

  async close(): Promise<void> {}

  onState(_listener: StateListener): () => void {
    return () => {};
  }

  /** A delivery of `body` on `destination`; `acked` resolves when the framework acknowledges it, and rejects if it gives the message back (nack). */
  delivery(destination: Destination, body: string, headers: Record<string, string>): { message: InboundMessage; acked: Promise<void> } {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const acked = new Promise<void>((r, j) => ((resolve = r), (reject = j)));
    const message: InboundMessage = {
      destination,
      headers,
      body,
      size: Buffer.byteLength(body),
      live: true,
      async ack() {
        resolve();
        return true;
      },
      async nack(requeue) {
        reject(new Error(`the message was given back (nack, requeue ${requeue})`));
        return true;
      },
    };
    return { message, acked };
  }
}
