// e2e: lib/broker/amqp.ts against a real RabbitMQ node (scripts/rabbitmq,
// AMQP 1.0 plugin): headers and bodies round-trip, settlement is manual with
// credit = prefetch, nack requeues or drops, the transport reconnects after
// the broker restarts and renews its receivers, and amqps refuses an
// unverified peer before any credential is written.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { AmqpTransport, type AmqpTransportOptions } from '../../lib/broker/amqp.js';
import { StompTransport } from '../../lib/broker/stomp-tls.js';
import type { InboundMessage, StateListener, Transport, TransportState } from '../../lib/broker/transport.js';
import { cert } from '../support/certs.js';
import { startRabbitMq, type RabbitMqInstance } from '../support/rabbitmq.js';
import { eventually } from '../support/stack.js';

let rabbit: RabbitMqInstance;
let ca: string;
const open: Transport[] = [];

before(async () => {
  rabbit = await startRabbitMq();
  ca = readFileSync(rabbit.ca, 'utf8');
});

after(async () => {
  for (const t of open) await t.close().catch(() => undefined);
  await rabbit?.dispose();
});

function amqp(options: Partial<AmqpTransportOptions> = {}): AmqpTransport {
  const t = new AmqpTransport({
    url: rabbit.urls.amqp,
    login: rabbit.processor.user,
    passcode: rabbit.processor.password,
    reconnect: { initialMs: 200, maxMs: 1000 },
    connectTimeoutMs: 10_000,
    receiptTimeoutMs: 10_000,
    ...options,
  });
  open.push(t);
  return t;
}

/** A fresh queue name per test, so tests never see each other's messages. */
const queue = (what: string) => ({ kind: 'queue' as const, name: `actions.201.amqp-test.${what}.${randomUUID().slice(0, 8)}` });

/** Collects deliveries; `next(n)` waits until n have arrived. */
function inbox() {
  const messages: InboundMessage[] = [];
  return {
    messages,
    onMessage: (m: InboundMessage) => void messages.push(m),
    until: (n: number, what = `${n} message(s)`) => eventually(() => messages.length >= n || undefined, what, 20_000),
  };
}

/** Records state changes with their details. */
function states(t: Transport) {
  const seen: { state: TransportState; error?: Error }[] = [];
  const listener: StateListener = (state, detail) => seen.push({ state, error: detail?.error });
  t.onState(listener);
  return seen;
}

describe('AMQP 1.0 transport on RabbitMQ', () => {
  test('connects with SASL PLAIN, reports its states and closes', { timeout: 30000 }, async () => {
    const t = amqp();
    const seen = states(t);
    await t.connect();
    assert.equal(t.state, 'connected');
    await t.close();
    assert.deepEqual(seen.map((s) => s.state), ['connecting', 'connected', 'closed']);
  });

  test('sends and receives every kind of header and a UTF-8 body unchanged', { timeout: 30000 }, async () => {
    const t = amqp();
    await t.connect();
    const q = queue('headers');
    const box = inbox();
    const sub = t.subscribe(q, { prefetch: 5, confirm: true }, box.onMessage);
    await sub.ready;
    const headers = {
      'reply-to': '/queue/acks.201.ops',
      'correlation-id': 'invocation-42',
      'content-type': 'application/json',
      Co3ContextToken: 'tok-ĉ-123',
      Co3InvocationComplete: 'true',
      Co3MessagePayload: 'ActionDataDTO',
    };
    const body = JSON.stringify({ text: 'héllo ✓ 日本' });
    await t.send(q, body, { headers });
    const [m] = await box.until(1).then(() => box.messages);
    assert.deepEqual(m!.headers, headers);
    assert.equal(m!.body, body);
    assert.equal(m!.size, Buffer.byteLength(body));
    assert.deepEqual(m!.destination, q);
    assert.equal(await m!.ack(), true);
  });

  test('receives what a STOMP client sent to the same queue, with its reply-to, correlation-id and content-type', { timeout: 30000 }, async () => {
    const stomp = new StompTransport({ url: rabbit.urls.stomp, vhost: '/', login: rabbit.platform.user, passcode: rabbit.platform.password, connectTimeoutMs: 10_000 });
    open.push(stomp);
    const t = amqp();
    await Promise.all([stomp.connect(), t.connect()]);
    const q = queue('stomp');
    const box = inbox();
    await t.subscribe(q, { prefetch: 1, confirm: true }, box.onMessage).ready;
    const headers = { 'reply-to': '/queue/acks.201.ops', 'correlation-id': 'invocation-7', 'content-type': 'application/json', Co3ContextToken: 'tok-7' };
    const body = '{"a":"ü"}';
    await stomp.send(q, body, { headers, text: true });
    await box.until(1);
    const m = box.messages[0]!;
    assert.equal(m.body, body);
    // RabbitMQ 3.10 carries the STOMP properties across, but drops custom
    // STOMP headers (Co3ContextToken) on the way to AMQP 1.0.
    const { Co3ContextToken: _dropped, ...properties } = headers;
    assert.deepEqual(m.headers, properties);
    assert.equal(await m.ack(), true);
  });

  test('with prefetch 2 the third message waits until one is accepted', { timeout: 30000 }, async () => {
    const t = amqp();
    await t.connect();
    const q = queue('prefetch');
    const box = inbox();
    await t.subscribe(q, { prefetch: 2, confirm: true }, box.onMessage).ready;
    for (const n of [1, 2, 3]) await t.send(q, `m${n}`);
    await box.until(2);
    // The broker confirmed the third message and then answered a later
    // confirmed send on the same connection: had it credit, it would have
    // delivered the third before that answer.
    await t.send(queue('probe'), 'probe');
    assert.deepEqual(box.messages.map((m) => m.body), ['m1', 'm2']);
    assert.equal(await box.messages[0]!.ack(), true);
    await box.until(3);
    assert.equal(box.messages[2]!.body, 'm3');
    for (const m of box.messages.slice(1)) await m.ack();
  });

  test('a message not accepted before its connection ends is redelivered, and its ack then answers false', { timeout: 30000 }, async () => {
    const q = queue('redeliver');
    const a = amqp();
    await a.connect();
    const first = inbox();
    await a.subscribe(q, { prefetch: 1, confirm: true }, first.onMessage).ready;
    await a.send(q, 'unsettled');
    await first.until(1);
    await a.close();
    assert.equal(first.messages[0]!.live, false);
    assert.equal(await first.messages[0]!.ack(), false);
    const b = amqp();
    await b.connect();
    const second = inbox();
    b.subscribe(q, { prefetch: 1 }, second.onMessage);
    await second.until(1);
    assert.equal(second.messages[0]!.body, 'unsettled');
    assert.equal(await second.messages[0]!.ack(), true);
  });

  test('nack with requeue redelivers the message; without requeue it is gone', { timeout: 30000 }, async () => {
    const t = amqp();
    await t.connect();
    const q = queue('nack');
    const box = inbox();
    await t.subscribe(q, { prefetch: 1, confirm: true }, box.onMessage).ready;
    await t.send(q, 'again');
    await box.until(1);
    assert.equal(await box.messages[0]!.nack(true), true);
    await box.until(2);
    assert.equal(box.messages[1]!.body, 'again');
    assert.equal(await box.messages[1]!.nack(false), true);
    // Settled twice is refused locally.
    assert.equal(await box.messages[1]!.ack(), false);
    await t.send(q, 'sentinel');
    await box.until(3);
    assert.equal(box.messages[2]!.body, 'sentinel', 'the rejected message came back');
    await box.messages[2]!.ack();
  });

  test('reconnects after the broker restarts, renews its receiver and messages flow again', { timeout: 90000 }, async () => {
    const t = amqp();
    const seen = states(t);
    await t.connect();
    const q = queue('restart');
    const box = inbox();
    await t.subscribe(q, { prefetch: 2, confirm: true }, box.onMessage).ready;
    await t.send(q, 'before', { persistent: true });
    await box.until(1);
    const held = box.messages[0]!;
    await rabbit.stop();
    await eventually(() => t.state !== 'connected' || undefined, 'the transport to notice the broker is gone');
    await assert.rejects(t.send(q, 'while down'), /not connected/);
    await rabbit.start();
    await eventually(() => t.state === 'connected' || undefined, 'the transport to reconnect', 60_000);
    const order = seen.map((s) => s.state);
    assert.ok(order.indexOf('disconnected') > order.indexOf('connected'), order.join(','));
    assert.equal(order.at(-1), 'connected');
    assert.equal(held.live, false);
    assert.equal(await held.ack(), false);
    // The unaccepted, durable message comes back on the renewed receiver.
    await box.until(2, 'the unaccepted message to be redelivered');
    assert.equal(box.messages[1]!.body, 'before');
    await box.messages[1]!.ack();
    await t.send(q, 'after');
    await box.until(3);
    assert.equal(box.messages[2]!.body, 'after');
    await box.messages[2]!.ack();
  });

  test('amqps connects when the broker is verified by the dev CA', { timeout: 30000 }, async () => {
    const t = amqp({ url: rabbit.urls.amqps, tls: { ca } });
    await t.connect();
    const q = queue('tls');
    const box = inbox();
    await t.subscribe(q, { prefetch: 1, confirm: true }, box.onMessage).ready;
    await t.send(q, 'secret');
    await box.until(1);
    assert.equal(box.messages[0]!.body, 'secret');
    await box.messages[0]!.ack();
  });

  /** The first failure a transport reports, then closes it. */
  async function firstFailure(options: Partial<AmqpTransportOptions>): Promise<Error> {
    const t = amqp(options);
    const seen = states(t);
    void t.connect();
    const failure = await eventually(() => seen.find((s) => s.state === 'disconnected'), 'a refused connection', 20_000);
    await t.close();
    assert.ok(!seen.some((s) => s.state === 'connected'), 'it never connected');
    return failure.error ?? new Error('connection closed without an error');
  }

  test('amqps refuses a broker not signed by the trusted CA, in the TLS handshake', { timeout: 30000 }, async () => {
    const error = (await firstFailure({ url: rabbit.urls.amqps, tls: { ca: readFileSync(cert('rogue-ca.pem'), 'utf8') } })) as NodeJS.ErrnoException;
    assert.match(String(error.code), /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/, error.message);
  });

  test('amqps refuses a broker whose certificate names another host', { timeout: 30000 }, async () => {
    const error = (await firstFailure({ url: rabbit.urls.amqps, tls: { ca, servername: 'wrong-host.invalid' } })) as NodeJS.ErrnoException;
    assert.equal(error.code, 'ERR_TLS_CERT_ALTNAME_INVALID', error.message);
  });

  test('a wrong password is refused by SASL', { timeout: 30000 }, async () => {
    const error = await firstFailure({ passcode: 'not-the-password' });
    assert.match(error.message, /unauthorized|auth|sasl/i);
  });

  // An impostor listening with TLS: it records every byte a client writes
  // after the handshake. A refused peer must receive none, not even the
  // SASL header, let alone the credentials.
  for (const [what, leaf, trust] of [
    ['an untrusted certificate', 'rogue', 'ca.pem'],
    ['a certificate for another host', 'wronghost', 'ca.pem'],
  ] as const) {
    test(`sends nothing to an impostor with ${what}`, { timeout: 30_000 }, async () => {
      const received: Buffer[] = [];
      let handshakes = 0;
      const server = tls.createServer({ cert: readFileSync(cert(`${leaf}.pem`), 'utf8'), key: readFileSync(cert(`${leaf}-key.pem`), 'utf8') }, (socket) => {
        handshakes++;
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('error', () => undefined);
      });
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const error = (await firstFailure({ url: `amqps://localhost:${port}`, tls: { ca: readFileSync(cert(trust), 'utf8') } })) as NodeJS.ErrnoException;
        assert.match(String(error.code), /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID/, error.message);
        assert.equal(Buffer.concat(received).length, 0, `the impostor received ${Buffer.concat(received).toString('latin1')}`);
        assert.equal(handshakes <= 1, true);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }

  test('a positive control: the impostor does receive the SASL header from a client that trusts it', { timeout: 30000 }, async () => {
    const received: Buffer[] = [];
    const server = tls.createServer({ cert: readFileSync(cert('broker.pem')), key: readFileSync(cert('broker-key.pem')) }, (socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        socket.destroy();
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await firstFailure({ url: `amqps://localhost:${port}`, tls: { ca: readFileSync(cert('ca.pem'), 'utf8') } });
      assert.equal(Buffer.concat(received).subarray(0, 5).toString('latin1'), 'AMQP\x03');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
