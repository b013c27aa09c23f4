// e2e: STOMP over WebSocket (StompTransport with a ws:// or wss:// URL, lib/broker/stomp-tls.ts) against a
// real, private RabbitMQ node (rabbitmq_web_stomp, test/support/rabbitmq.ts).
// Broker-side facts (prefetch of a consumer, ready/unacknowledged counts) are
// read with rabbitmqctl from the node itself, not inferred from timing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StompTransport, type StompTransportOptions } from '../../lib/broker/stomp-tls.js';
import type { InboundMessage, TransportState } from '../../lib/broker/transport.js';
import { cert } from '../support/certs.js';
import { startRabbitMq, type RabbitMqInstance, type RabbitMqUser } from '../support/rabbitmq.js';
import { eventually } from '../support/stack.js';

const WAIT_MS = 20_000;

let mq: RabbitMqInstance | undefined;
const rabbit = (): RabbitMqInstance => {
  assert.ok(mq, 'RabbitMQ did not start');
  return mq;
};
const opened: StompTransport[] = [];

/** A transport on the node, closed in `after`; its state events are recorded. */
function transport(url: string, who: RabbitMqUser, extra: Partial<StompTransportOptions> = {}) {
  const t = new StompTransport({
    url,
    login: who.user,
    passcode: who.password,
    // RabbitMQ reads the STOMP `host` header as the virtual host.
    vhost: '/',
    tls: { ca: readFileSync(rabbit().ca) },
    reconnect: { initialMs: 200, maxMs: 1000 },
    connectTimeoutMs: 5000,
    ...extra,
  });
  opened.push(t);
  const states: { state: TransportState; error?: Error; attempt?: number }[] = [];
  t.onState((state, detail) => states.push({ state, error: detail?.error, attempt: detail?.attempt }));
  return { t, states };
}

/** Messages of one subscription, in arrival order. */
function inbox() {
  const messages: InboundMessage[] = [];
  return { messages, onMessage: (m: InboundMessage) => void messages.push(m) };
}

function queueName(what: string): string {
  return `actions.201.ws-test.${what}.${randomUUID().slice(0, 8)}`;
}

/** rabbitmqctl against the private node, as JSON rows. */
function ctl(args: string[]): Promise<Record<string, unknown>[]> {
  const m = rabbit();
  const cookie = readFileSync(join(m.dir, 'home', '.erlang.cookie'), 'utf8').trim();
  return new Promise((resolve, reject) => {
    execFile(
      'rabbitmqctl',
      ['--erlang-cookie', cookie, '-n', m.nodeName, ...args, '--formatter', 'json'],
      { env: { ...process.env, ERL_EPMD_PORT: String(m.ports.epmd) }, timeout: 30_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`rabbitmqctl ${args.join(' ')}: ${error.message} ${stderr}`));
        const text = stdout.trim();
        resolve(text ? (JSON.parse(text) as Record<string, unknown>[]) : []);
      },
    );
  });
}

async function queueCounts(name: string): Promise<{ ready: number; unacked: number } | undefined> {
  const rows = await ctl(['list_queues', 'name', 'messages_ready', 'messages_unacknowledged']);
  const row = rows.find((r) => r['name'] === name);
  return row ? { ready: Number(row['messages_ready']), unacked: Number(row['messages_unacknowledged']) } : undefined;
}

/**
 * A login the node does not know: a CONNECT carrying it is refused and logged
 * as "STOMP login failed for user '<login>'", so the log shows whether
 * credentials ever reached the node.
 */
function unknownLogin(): RabbitMqUser {
  return { user: `cafkit-ws-probe-${randomUUID().slice(0, 8)}`, password: 'not-the-password' };
}

/** Lines of the node's log that record a STOMP login attempt of `user`. */
function loginLines(user: string): string[] {
  return rabbit()
    .logTail(100_000)
    .split('\n')
    .filter((l) => l.includes(`'${user}'`));
}

describe('STOMP over WebSocket transport on RabbitMQ', () => {
  before(async () => {
    mq = await startRabbitMq();
  });

  after(async () => {
    for (const t of opened) await t.close().catch(() => undefined);
    if (mq) await mq.dispose();
  });

  test('delivers a message sent with reply-to, correlation-id and a custom header, and an ack removes it from the queue', async () => {
    const m = rabbit();
    const queue = queueName('headers');
    const consumer = transport(m.urls.ws, m.processor);
    const sender = transport(m.urls.ws, m.processor);
    await consumer.t.connect();
    await sender.t.connect();
    assert.equal(consumer.t.state, 'connected');
    const box = inbox();
    const sub = consumer.t.subscribe({ kind: 'queue', name: queue }, { prefetch: 5, confirm: true }, box.onMessage);
    await sub.ready;
    await sender.t.send(`/queue/${queue}`, '{"hello":"ws"}', {
      headers: { 'reply-to': '/queue/cafkit.ws-test.replies', 'correlation-id': 'corr-42', 'x-cafkit-test': 'custom value' },
    });
    const [message] = await eventually(() => (box.messages.length >= 1 ? box.messages : undefined), 'the message', WAIT_MS);
    assert.ok(message);
    assert.equal(message.body, '{"hello":"ws"}');
    assert.equal(message.headers['correlation-id'], 'corr-42');
    assert.equal(message.headers['reply-to'], '/queue/cafkit.ws-test.replies');
    assert.equal(message.headers['x-cafkit-test'], 'custom value');
    assert.deepEqual(message.destination, { kind: 'queue', name: queue });
    assert.equal(message.live, true);
    assert.deepEqual(await queueCounts(queue), { ready: 0, unacked: 1 });
    assert.equal(await message.ack(), true);
    await eventually(async () => {
      const counts = await queueCounts(queue);
      return counts?.ready === 0 && counts.unacked === 0 ? true : undefined;
    }, 'the broker to drop the acknowledged message', WAIT_MS);
    assert.equal(box.messages.length, 1);
  });

  test('honours prefetch: with prefetch 2 the third message waits until one is acknowledged', async () => {
    const m = rabbit();
    const queue = queueName('prefetch');
    const consumer = transport(m.urls.ws, m.processor);
    const sender = transport(m.urls.ws, m.processor);
    await Promise.all([consumer.t.connect(), sender.t.connect()]);
    for (const n of [1, 2, 3]) await sender.t.send(`/queue/${queue}`, `m${n}`);
    const box = inbox();
    await consumer.t.subscribe({ kind: 'queue', name: queue }, { prefetch: 2, confirm: true }, box.onMessage).ready;
    const consumers = await ctl(['list_consumers', 'queue_name', 'prefetch_count', 'ack_required']);
    const ours = consumers.find((c) => c['queue_name'] === queue);
    assert.equal(ours?.['prefetch_count'], 2, JSON.stringify(consumers));
    assert.equal(ours?.['ack_required'], true);
    await eventually(() => (box.messages.length === 2 ? true : undefined), 'two deliveries', WAIT_MS);
    // The queue process hands out what the consumer's credit allows; once it
    // reports one ready and two unacknowledged, the third is held back.
    await eventually(async () => {
      const counts = await queueCounts(queue);
      return counts?.ready === 1 && counts.unacked === 2 ? true : undefined;
    }, 'one message held back by the broker', WAIT_MS);
    assert.deepEqual(box.messages.map((x) => x.body), ['m1', 'm2']);
    assert.equal(await box.messages[0]!.ack(), true);
    await eventually(() => (box.messages.length === 3 ? true : undefined), 'the third delivery after an ack', WAIT_MS);
    assert.equal(box.messages[2]!.body, 'm3');
  });

  test('redelivers an unacknowledged message after the connection drops; the stale ack resolves false', async () => {
    const m = rabbit();
    const queue = queueName('redelivery');
    const consumer = transport(m.urls.ws, m.processor);
    const sender = transport(m.urls.ws, m.processor);
    await Promise.all([consumer.t.connect(), sender.t.connect()]);
    const box = inbox();
    await consumer.t.subscribe({ kind: 'queue', name: queue }, { prefetch: 1, confirm: true }, box.onMessage).ready;
    await sender.t.send(`/queue/${queue}`, 'keep me');
    const first = await eventually(() => box.messages[0], 'the first delivery', WAIT_MS);
    assert.notEqual(first.headers['redelivered'], 'true');
    const connectedBefore = consumer.states.filter((s) => s.state === 'connected').length;
    // The broker closes every client connection, as a gateway restart would.
    await ctl(['close_all_connections', 'cafkit test: connection drop']);
    await eventually(() => (consumer.states.some((s) => s.state === 'disconnected') ? true : undefined), 'the disconnect', WAIT_MS);
    await eventually(
      () => (consumer.states.filter((s) => s.state === 'connected').length > connectedBefore ? true : undefined),
      'the reconnect',
      WAIT_MS,
    );
    const again = await eventually(() => box.messages[1], 'the redelivery on the renewed subscription', WAIT_MS);
    assert.equal(again.body, 'keep me');
    assert.equal(again.headers['redelivered'], 'true');
    assert.equal(first.live, false);
    assert.equal(await first.ack(), false, 'an ack of a message of a dead connection must not be sent');
    assert.equal(await again.ack(), true);
    await eventually(async () => {
      const counts = await queueCounts(queue);
      return counts?.ready === 0 && counts.unacked === 0 ? true : undefined;
    }, 'the broker to drop the acknowledged redelivery', WAIT_MS);
  });

  test('reconnects after the broker stops and starts again, renews the subscription and messages flow again', async () => {
    const m = rabbit();
    const queue = queueName('restart');
    const consumer = transport(m.urls.ws, m.processor);
    const sender = transport(m.urls.ws, m.processor);
    await Promise.all([consumer.t.connect(), sender.t.connect()]);
    const box = inbox();
    await consumer.t.subscribe({ kind: 'queue', name: queue }, { prefetch: 5, confirm: true }, box.onMessage).ready;
    await sender.t.send(`/queue/${queue}`, 'before');
    await eventually(() => box.messages[0], 'the message before the restart', WAIT_MS);
    assert.equal(await box.messages[0]!.ack(), true);

    await m.stop();
    await eventually(() => (consumer.t.state !== 'connected' ? true : undefined), 'the transport to notice the stop', WAIT_MS);
    // While the node is down, attempts fail and are retried with backoff.
    const retry = await eventually(
      () => consumer.states.find((s) => s.state === 'connecting' && (s.attempt ?? 0) >= 2),
      'a second reconnect attempt',
      WAIT_MS,
    );
    assert.ok(retry.error, 'a reconnect attempt reports why the previous one failed');
    await assert.rejects(sender.t.send(`/queue/${queue}`, 'lost'), { name: 'NotConnectedError' });

    await m.start();
    await eventually(() => (consumer.t.state === 'connected' && sender.t.state === 'connected' ? true : undefined), 'both transports back', 60_000);
    const sequence = consumer.states.map((s) => s.state);
    assert.deepEqual(sequence.slice(0, 2), ['connecting', 'connected']);
    assert.ok(sequence.indexOf('disconnected') > 1, sequence.join(','));
    assert.equal(sequence.at(-1), 'connected');
    await sender.t.send(`/queue/${queue}`, 'after');
    const later = await eventually(() => box.messages[1], 'a message on the renewed subscription', WAIT_MS);
    assert.equal(later.body, 'after');
    assert.equal(await later.ack(), true);
  });

  describe('wss://', () => {
    test('refuses a server whose certificate is not signed by the trusted CA, before any STOMP CONNECT', async () => {
      const m = rabbit();
      const probe = unknownLogin();
      const refused = transport(m.urls.wss, probe, { tls: { ca: readFileSync(cert('rogue-ca.pem')) } });
      void refused.t.connect();
      const failure = await eventually(
        () => refused.states.find((s) => s.state === 'disconnected' && (s.attempt ?? 0) >= 2),
        'two refused attempts',
        WAIT_MS,
      );
      await refused.t.close();
      assert.match(String((failure.error as NodeJS.ErrnoException | undefined)?.code), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
      assert.ok(!refused.states.some((s) => s.state === 'connected'));
      assert.deepEqual(loginLines(probe.user), []);
    });

    test('refuses a server whose certificate does not name the expected host, before any STOMP CONNECT', async () => {
      const m = rabbit();
      const probe = unknownLogin();
      const refused = transport(m.urls.wss, probe, { tls: { ca: readFileSync(m.ca), servername: 'wrong-host.invalid' } });
      void refused.t.connect();
      const failure = await eventually(
        () => refused.states.find((s) => s.state === 'disconnected' && (s.attempt ?? 0) >= 2),
        'two refused attempts',
        WAIT_MS,
      );
      await refused.t.close();
      assert.equal((failure.error as NodeJS.ErrnoException | undefined)?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      assert.ok(!refused.states.some((s) => s.state === 'connected'));
      assert.deepEqual(loginLines(probe.user), []);
    });

    test('connects to a server verified with the dev CA and carries messages', async () => {
      const m = rabbit();
      const queue = queueName('wss');
      const client = transport(m.urls.wss, m.platform);
      await client.t.connect();
      const box = inbox();
      await client.t.subscribe({ kind: 'queue', name: queue }, { prefetch: 1, confirm: true }, box.onMessage).ready;
      await client.t.send(`/queue/${queue}`, 'over TLS');
      const message = await eventually(() => box.messages[0], 'the message over wss', WAIT_MS);
      assert.equal(message.body, 'over TLS');
      assert.equal(await message.ack(), true);
    });

    test('a CONNECT that does reach a verified node is logged with its login (so the refusals above would have shown one)', async () => {
      const m = rabbit();
      const probe = unknownLogin();
      const rejected = transport(m.urls.wss, probe);
      void rejected.t.connect();
      const failure = await eventually(() => rejected.states.find((s) => s.state === 'disconnected'), 'the refused login', WAIT_MS);
      await rejected.t.close();
      assert.match(String(failure.error?.message), /broker ERROR/);
      await eventually(() => (loginLines(probe.user).length > 0 ? true : undefined), "the node's record of the failed login", WAIT_MS);
    });
  });
});
