/**
 * The floor: a minimal hand-written stompjs consumer on the same TLS socket
 * that only replies (persistent, like cafkit) and acks. It does no
 * validation, routing, REST or bookkeeping: the broker's own cost.
 * Env: BENCH_URL, BENCH_USER, BENCH_PASSWORD, BENCH_CA, BENCH_QUEUE, BENCH_PREFETCH.
 */
import { readFileSync } from 'node:fs';
import { Client } from '@stomp/stompjs';
import { SocketAdapter } from '../lib/broker/tls-socket.js';

const env = process.env as Record<string, string>;
const url = new URL(env['BENCH_URL']!);
const client = new Client({
  webSocketFactory: () => new SocketAdapter({ host: url.hostname, port: Number(url.port), secure: true, tls: { ca: readFileSync(env['BENCH_CA']!) } }),
  connectHeaders: { login: env['BENCH_USER']!, passcode: env['BENCH_PASSWORD']!, host: url.hostname },
  heartbeatIncoming: 10_000,
  heartbeatOutgoing: 10_000,
  reconnectDelay: 0,
  debug: () => {},
});
client.onConnect = () => {
  client.subscribe(
    `/queue/${env['BENCH_QUEUE']}`,
    (message) => {
      client.publish({
        destination: message.headers['reply-to']!,
        body: JSON.stringify({ message_type: 0, message: 'done', complete: true }),
        headers: { 'correlation-id': message.headers['correlation-id']!, persistent: 'true' },
        skipContentLengthHeader: true,
      });
      message.ack();
    },
    { ack: 'client-individual', 'activemq.prefetchSize': env['BENCH_PREFETCH'] ?? '25' },
  );
  process.stdout.write('processing\n');
};
process.once('SIGTERM', () => void client.deactivate().then(() => process.exit(0)));
client.activate();
