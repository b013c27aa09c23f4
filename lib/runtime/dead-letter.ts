import type { InboundMessage, Transport } from '../broker/transport.js';
import { Headers } from '../wire/headers.js';

// Broker bookkeeping that must not be copied onto a new message.
const DROPPED = new Set(['message-id', 'destination', 'subscription', 'ack', 'content-length', 'receipt', 'redelivered', 'expires', 'timestamp', 'priority', 'persistent']);

/**
 * Puts a copy of a message that cannot be run on its dead-letter queue
 * (`<prefix><original queue>`, e.g. `DLQ.actions.201.incident_ops`), with
 * the reason in a header. Resolves to the queue name once the broker has it.
 */
export async function deadLetter(transport: Transport, delivery: InboundMessage, reason: string, prefix: string): Promise<string> {
  const queue = `${prefix}${delivery.destination.name}`;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(delivery.headers)) {
    if (!DROPPED.has(name.toLowerCase())) headers[name] = value;
  }
  // Header values cannot carry new lines in STOMP.
  headers[Headers.deadLetterReason] = reason.replace(/[\r\n]+/g, ' ').slice(0, 1000);
  headers[Headers.deadLetterOrigin] = `/${delivery.destination.kind}/${delivery.destination.name}`;
  await transport.send({ kind: 'queue', name: queue }, delivery.body, { headers, persistent: true, confirm: true });
  return queue;
}
