import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { brokerLink, startTestBroker, transportLabel, type TestBroker } from '../support/test-broker.js';
import { collect } from '../support/collector.js';
import { eventually } from '../support/stack.js';
import type { InboundMessage, Transport } from '../../lib/broker/transport.js';

// nack on the broker under test (CAFKIT_TEST_TRANSPORT). RabbitMQ honours
// STOMP's `requeue` header and AMQP's release/reject. ActiveMQ turns every
// STOMP NACK into a poison ack (straight to ActiveMQ.DLQ.Queue.<name>), so
// there a requeue leaves the message unacknowledged until the connection ends.
describe(`nack gives a message back [${transportLabel()}]`, () => {
  let broker: TestBroker;
  const links: Transport[] = [];
  const link = async (): Promise<Transport> => {
    const t = brokerLink(broker);
    links.push(t);
    await t.connect(AbortSignal.timeout(30_000));
    return t;
  };
  const queue = (what: string) => ({ kind: 'queue' as const, name: `actions.${broker.orgId}.nack-${what}-${randomUUID().slice(0, 8)}` });

  /** Subscribes; `decide` answers each delivery (nack or ack) and is told how often that body came. */
  function consume(t: Transport, q: { kind: 'queue'; name: string }, decide: (m: InboundMessage, seen: number) => Promise<boolean>) {
    const bodies: string[] = [];
    const results: boolean[] = [];
    const subscription = t.subscribe(q, { prefetch: 5, confirm: true }, (m) => {
      bodies.push(m.body);
      void decide(m, bodies.filter((b) => b === m.body).length).then((r) => results.push(r));
    });
    return { subscription, bodies, results };
  }

  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    for (const t of links) await t.close();
    await broker?.dispose();
  });

  test('nack(false) takes the message off the queue: the message behind it comes, it does not come again', async () => {
    const t = await link();
    const q = queue('drop');
    const c = consume(t, q, (m) => (m.body === 'refused' ? m.nack(false) : m.ack()));
    await c.subscription.ready;
    await t.send(q, 'refused');
    await t.send(q, 'behind');
    await eventually(() => c.bodies.includes('behind') || undefined, 'the message behind the refused one');
    // A requeued message goes back to the head of the queue, before "behind": it would have come again by now.
    assert.deepEqual(c.bodies, ['refused', 'behind']);
    assert.equal(c.results[0], true, 'the nack was taken on a live connection');
    if (broker.transport === 'stomp+ssl') {
      // ActiveMQ: a poison ack, moved to its per-queue dead-letter queue (only the admin may read it).
      const admin = brokerLink(broker, 'admin');
      links.push(admin);
      await admin.connect(AbortSignal.timeout(30_000));
      const dlq = collect(admin, `ActiveMQ.DLQ.Queue.${q.name}`);
      await dlq.ready;
      const dead = await dlq.waitFor((m) => m.body === 'refused', 'the poison-acked message on the DLQ');
      assert.equal(dead.headers['original-destination'], `/queue/${q.name}`);
    }
  });

  test('nack(true) gives the message back to be delivered again (on ActiveMQ: once the connection ends)', async () => {
    const first = await link();
    const q = queue('requeue');
    const c = consume(first, q, (m, seen) => (m.body === 'again' && seen === 1 ? m.nack(true) : m.ack()));
    await c.subscription.ready;
    await first.send(q, 'again');
    await first.send(q, 'behind');
    if (broker.transport !== 'stomp+ssl') {
      await eventually(() => c.bodies.filter((b) => b === 'again').length === 2 || undefined, 'the requeued message a second time');
      assert.equal(c.bodies.filter((b) => b === 'again').length, 2);
      return;
    }
    await eventually(() => c.bodies.includes('behind') || undefined, 'the message behind the requeued one');
    assert.deepEqual(c.bodies, ['again', 'behind'], 'ActiveMQ: no redelivery on the same connection (a NACK would have dead-lettered it)');
    await first.close();
    const second = await link();
    const d = consume(second, q, (m) => m.ack());
    await d.subscription.ready;
    const redelivered = await eventually(() => (d.bodies.includes('again') ? d.bodies : undefined), 'the unacknowledged message on a new connection');
    assert.deepEqual(redelivered, ['again']);
  });

  test('nack on a connection that is gone answers false (the broker redelivers by itself)', async () => {
    const t = await link();
    const q = queue('gone');
    let held: InboundMessage | undefined;
    const s = t.subscribe(q, { prefetch: 1, confirm: true }, (m) => (held = m));
    await s.ready;
    await t.send(q, 'held');
    const message = await eventually(() => held, 'the message');
    await t.close();
    assert.equal(message.live, false);
    assert.equal(await message.nack(true), false);
    assert.equal(await message.nack(false), false);
  });
});
