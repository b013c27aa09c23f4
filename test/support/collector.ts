import type { InboundMessage, Transport } from '../../lib/broker/transport.js';

/** Collects messages from one destination and waits for them by predicate, with a deadline. */
export function collect(transport: Transport, name: string) {
  const messages: InboundMessage[] = [];
  const waiters = new Set<() => void>();
  const subscription = transport.subscribe({ kind: 'queue', name }, { prefetch: 100, confirm: true }, (message) => {
    messages.push(message);
    void message.ack();
    for (const wake of waiters) wake();
  });
  return {
    ready: subscription.ready,
    messages,
    /** Resolves with the first message matching `match`, or rejects after `timeoutMs`. */
    waitFor(match: (m: InboundMessage) => boolean, what: string, timeoutMs = 20_000): Promise<InboundMessage> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(match);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no message on ${name} for ${what} within ${timeoutMs} ms (got ${messages.length})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop: () => subscription.unsubscribe(),
  };
}
