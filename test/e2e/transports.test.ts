import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startRabbitMq, type RabbitMqInstance } from '../support/rabbitmq.js';
import { cert } from '../support/certs.js';
import { API_KEY, EXAMPLES, eventually, startRuntime } from '../support/stack.js';
import { transportFor } from '../../lib/broker/transport-for.js';
import { startEmulator, type EmulatorHandle } from '../../lib/emulator/index.js';
import { loadConfig } from '../../lib/config/load.js';
import type { Runtime } from '../../lib/runtime/runtime.js';

// The same processor code on each transport a broker URL can name, against
// one real RabbitMQ (STOMP over TLS, STOMP over a TLS WebSocket, AMQP 1.0
// over TLS). The emulator's trigger side publishes over the same transport:
// on RabbitMQ 3.10 custom STOMP headers (the context token) do not cross to
// AMQP 1.0 receivers.
describe('the runtime on every transport (RabbitMQ)', () => {
  let rabbit: RabbitMqInstance;
  before(async () => {
    rabbit = await startRabbitMq();
  });
  after(async () => {
    await rabbit?.dispose();
  });

  for (const scheme of ['stompSsl', 'wss', 'amqps'] as const) {
    describe(scheme, () => {
      let emulator: EmulatorHandle;
      let runtime: Runtime | undefined;
      before(async () => {
        const url = rabbit.urls[scheme];
        const ca = readFileSync(rabbit.ca, 'utf8');
        emulator = await startEmulator({
          host: '127.0.0.1',
          port: 0,
          orgId: 201,
          tls: { cert: readFileSync(cert('broker.pem'), 'utf8'), key: readFileSync(cert('broker-key.pem'), 'utf8') },
          apiKeys: [API_KEY],
          broker: { url, login: rabbit.platform.user, passcode: rabbit.platform.password, vhost: '/', tls: { ca } },
        });
        const config = loadConfig({
          env: {
            CAFKIT_ORG_ID: '201',
            CAFKIT_BROKER_URL: url,
            CAFKIT_BROKER_USER: rabbit.processor.user,
            CAFKIT_BROKER_PASSWORD: rabbit.processor.password,
            CAFKIT_BROKER_CA: rabbit.ca,
            CAFKIT_REST_URL: emulator.url,
            CAFKIT_REST_CA: cert('ca.pem'),
            CAFKIT_API_KEY_ID: API_KEY.id,
            CAFKIT_API_KEY_SECRET: API_KEY.secret,
            CAFKIT_ACTIVITY_STORES: 'none',
          },
        });
        config.broker.vhost = '/';
        config.broker.reconnect_initial_ms = 200;
        config.broker.reconnect_max_ms = 2000;
        runtime = await startRuntime(config, path.join(EXAMPLES));
      });
      after(async () => {
        await runtime?.stop(5000);
        await emulator?.close();
      });

      test("a queue of another organisation is refused with the broker's reason; the link then serves its own", async () => {
        const link = transportFor({ url: rabbit.urls[scheme], login: rabbit.processor.user, passcode: rabbit.processor.password, vhost: '/', tls: { ca: readFileSync(rabbit.ca, 'utf8') }, reconnect: { initialMs: 100, maxMs: 500 } });
        try {
          await link.connect(AbortSignal.timeout(30_000));
          const states: string[] = [];
          link.onState((state) => states.push(state));
          const foreign = link.subscribe({ kind: 'queue', name: 'actions.999.incident_ops' }, { prefetch: 1, confirm: true }, () => {});
          // STOMP: an ERROR frame naming the queue; AMQP 1.0: the session's error. web-stomp only closes the WebSocket.
          const reason = scheme === 'wss' ? /the broker closed the WebSocket \(1000: STOMP died\)/ : /access to queue 'actions\.999\.incident_ops' in vhost '\/' refused for user 'cafkit-processor'/;
          await assert.rejects(foreign.ready, reason);
          await foreign.unsubscribe();
          if (scheme === 'amqps') {
            // RabbitMQ ends only the refused link's session: each subscription has its own, so the connection stays.
            assert.deepEqual(states, []);
          } else {
            // Over STOMP RabbitMQ ends the connection (right after the ERROR; web-stomp at once): the link comes back by itself.
            await eventually(() => (states.includes('disconnected') && link.state === 'connected') || undefined, 'the link to reconnect after the refusal');
          }
          const own = { kind: 'queue' as const, name: `actions.201.perm-${scheme}` };
          const got: string[] = [];
          const sub = link.subscribe(own, { prefetch: 1, confirm: true }, (m) => {
            got.push(m.body);
            void m.ack();
          });
          await sub.ready;
          await link.send(own, 'still served');
          await eventually(() => (got.length ? got : undefined), 'the message on our own queue');
          assert.deepEqual(got, ['still served']);
        } finally {
          await link.close();
        }
      });

      test('a refused subscription (no one waiting on it) is held back, so the others are not cut off at every reconnect', { skip: scheme === 'wss' ? 'web-stomp closes the WebSocket without naming the refused queue' : false }, async () => {
        // A long hold against a short reconnect: without the hold the refused queue is renewed at the reconnect, and RabbitMQ STOMP drops the connection again.
        const link = transportFor({ url: rabbit.urls[scheme], login: rabbit.processor.user, passcode: rabbit.processor.password, vhost: '/', tls: { ca: readFileSync(rabbit.ca, 'utf8') }, reconnect: { initialMs: 500, maxMs: 10_000 } });
        try {
          const states: string[] = [];
          link.onState((state) => states.push(state));
          await link.connect(AbortSignal.timeout(30_000));
          const own = { kind: 'queue' as const, name: `actions.201.held-${scheme}` };
          const got: string[] = [];
          link.subscribe({ kind: 'queue', name: 'actions.999.held' }, { prefetch: 1 }, () => {});
          // Like the runtime's: no confirmation asked (a message sent before the subscription is renewed waits in the queue).
          link.subscribe(own, { prefetch: 5 }, (m) => {
            got.push(m.body);
            void m.ack();
          });
          if (scheme === 'stompSsl') await eventually(() => (states.includes('disconnected') && link.state === 'connected') || undefined, 'the reconnect after the refusal');
          for (const n of [1, 2, 3]) {
            await link.send(own, `m${n}`);
            await eventually(() => got.includes(`m${n}`) || undefined, `message m${n}`);
          }
          assert.equal(states.filter((s) => s === 'disconnected').length, scheme === 'stompSsl' ? 1 : 0, `states: ${states.join(',')}`);
        } finally {
          await link.close();
        }
      });

      test("a send to a queue of another organisation is refused with the broker's reason; sends to our own still go", async () => {
        const link = transportFor({ url: rabbit.urls[scheme], login: rabbit.processor.user, passcode: rabbit.processor.password, vhost: '/', tls: { ca: readFileSync(rabbit.ca, 'utf8') }, reconnect: { initialMs: 100, maxMs: 500 } });
        try {
          await link.connect(AbortSignal.timeout(30_000));
          const reason = scheme === 'wss' ? /the broker closed the WebSocket \(1000: STOMP died\)/ : /access to queue 'acks\.999\.elsewhere' in vhost '\/' refused for user 'cafkit-processor'/;
          await assert.rejects(link.send('/queue/acks.999.elsewhere', 'not ours'), reason);
          await eventually(() => link.state === 'connected' || undefined, 'the link to be up');
          await link.send(`/queue/acks.201.send-${scheme}`, 'ours');
        } finally {
          await link.close();
        }
      });

      test('Echo replies with the correlation-id and results; Add Note calls back with the context token; Set Severity sends progress', async () => {
        const echo = await emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: `over ${scheme}` } });
        const echoed = await emulator.waitFor(echo.id, { timeoutMs: 30_000, status: 'done' });
        assert.equal(echoed.status, 'completed', JSON.stringify(echoed.messages));
        assert.deepEqual(echoed.messages.at(-1)!.results, { note_text: `over ${scheme}` });

        const note = await emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: `note over ${scheme}` } });
        const noted = await emulator.waitFor(note.id, { timeoutMs: 30_000, status: 'done' });
        assert.equal(noted.status, 'completed', JSON.stringify(noted.messages));
        const post = emulator.requests().find((r) => r.method === 'POST' && r.path.endsWith('/incidents/2095/comments') && r.contextToken);
        assert.ok(post, 'the note was posted with the X-Co3ContextToken that came with the message');

        const severity = await emulator.trigger({ destination: 'incident_ops', action: 'Set Severity', incident: 2095, properties: { severity: 'High' } });
        const set = await emulator.waitFor(severity.id, { timeoutMs: 30_000, status: 'done' });
        assert.equal(set.status, 'completed', JSON.stringify(set.messages));
        assert.ok(set.messages.some((m) => !m.complete), 'a progress reply came before the final one');
      });
    });
  }
});
