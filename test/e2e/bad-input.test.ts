import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startStack, type Platform, type Stack } from '../support/stack.js';
import { collect } from '../support/collector.js';
import { brokerLink, testTransport, transportLabel } from '../support/test-broker.js';
import type { Transport } from '../../lib/broker/transport.js';

describe(`bad input is answered, dead-lettered with the reason, and the processor keeps serving [${transportLabel()}]`, () => {
  let stack: Stack;
  let platform: Platform;
  let platformLink: Transport;
  let replies: ReturnType<typeof collect>;
  let dlq: ReturnType<typeof collect>;
  const queue = '/queue/actions.201.incident_ops';
  const replyTo = '/queue/acks.201.badinput';

  before(async () => {
    stack = await startStack((c) => (c.runtime.max_body_bytes = 4096));
    platform = stack.platform;
    const b = platform.broker;
    platformLink = brokerLink(b);
    await platformLink.connect();
    replies = collect(platformLink, 'acks.201.badinput');
    dlq = collect(platformLink, 'DLQ.actions.201.incident_ops');
    await Promise.all([replies.ready, dlq.ready]);
  });

  after(async () => {
    await platformLink?.close();
    await stack?.stop();
  });

  const cases = [
    { id: 'bad-json', body: '{"action_id": 11, nope', reason: /not valid JSON/ },
    { id: 'bad-schema', body: JSON.stringify({ incident: { id: 2095 }, properties: {} }), reason: /not an ActionDataDTO: action_id: required/ },
    { id: 'bad-size', body: JSON.stringify({ action_id: 11, incident: { id: 2095 }, properties: { blob: 'x'.repeat(5000) } }), reason: /exceeds the limit of 4096 bytes/ },
  ];

  for (const c of cases) {
    test(`${c.id}: error reply with the correlation-id, and a DLQ copy with the reason`, async () => {
      await platformLink.send(queue, c.body, { headers: { 'reply-to': replyTo, 'correlation-id': c.id, Co3ContextToken: 'tok' } });
      const reply = await replies.waitFor((m) => m.headers['correlation-id'] === c.id, 'the error reply');
      const ack = JSON.parse(reply.body) as { message_type: number; complete: boolean; message: string };
      assert.equal(ack.message_type, 1);
      assert.equal(ack.complete, true);
      assert.match(ack.message, c.reason);
      const dead = await dlq.waitFor((m) => m.headers['correlation-id'] === c.id, 'the dead-letter copy');
      assert.match(dead.headers['cafkit-dead-letter-reason'] ?? '', c.reason);
      assert.equal(dead.body, c.body);
      assert.equal(dead.headers['cafkit-original-destination'], queue);
    });
  }

  test('a message without reply-to is dead-lettered (no reply possible)', async () => {
    const body = JSON.stringify({ action_id: 11, incident: { id: 2095 } });
    await platformLink.send(queue, body, { headers: { 'correlation-id': 'no-reply-to' } });
    const dead = await dlq.waitFor((m) => m.headers['correlation-id'] === 'no-reply-to', 'the dead-letter copy');
    assert.match(dead.headers['cafkit-dead-letter-reason'] ?? '', /no reply-to header/);
    assert.equal(replies.messages.filter((m) => m.headers['correlation-id'] === 'no-reply-to').length, 0);
  });

  test('a redelivered invocation that already completed gets its stored reply and does not run again', async () => {
    const body = JSON.stringify({ action_id: platform.emulator.store.action('Add Note').id, incident: { id: 2096 }, properties: { note_text: 'only-once' }, type_info: {} });
    const headers = { 'reply-to': replyTo, 'correlation-id': 'dup-1', Co3ContextToken: 'tok' };
    await platformLink.send(queue, body, { headers });
    await replies.waitFor((m) => m.headers['correlation-id'] === 'dup-1', 'the first reply');
    await platformLink.send(queue, body, { headers });
    await eventually(() => (replies.messages.filter((m) => m.headers['correlation-id'] === 'dup-1').length === 2 ? true : undefined), 'the second reply');
    const [first, second] = replies.messages.filter((m) => m.headers['correlation-id'] === 'dup-1');
    assert.equal(second!.body, first!.body);
    assert.equal(platform.emulator.store.notes(2096).filter((n) => JSON.stringify(n).includes('only-once')).length, 1);
    assert.equal(stack.runtime.dispatcher.stats.replayed, 1);
  });

  test('a new invocation that reuses a correlation-id (a new context token) runs', async () => {
    const body = JSON.stringify({ action_id: platform.emulator.store.action('Add Note').id, incident: { id: 2096 }, properties: { note_text: 'only-once' }, type_info: {} });
    await platformLink.send(queue, body, { headers: { 'reply-to': replyTo, 'correlation-id': 'dup-1', Co3ContextToken: 'a-new-token' } });
    await eventually(() => (replies.messages.filter((m) => m.headers['correlation-id'] === 'dup-1').length === 3 ? true : undefined), 'the third reply');
    assert.equal(platform.emulator.store.notes(2096).filter((n) => JSON.stringify(n).includes('only-once')).length, 2);
    assert.equal(stack.runtime.dispatcher.stats.replayed, 1);
  });

  test('a reply-to the processor may not write to: the broker refuses the reply, the message is dead-lettered with that reason, once', async () => {
    const body = JSON.stringify({ action_id: platform.emulator.store.action('Echo').id, incident: { id: 2095 }, properties: {}, type_info: {} });
    await platformLink.send(queue, body, { headers: { 'reply-to': '/queue/acks.999.elsewhere', 'correlation-id': 'foreign-reply', Co3ContextToken: 'tok' } });
    const dead = await dlq.waitFor((m) => m.headers['correlation-id'] === 'foreign-reply', 'the dead-letter copy', 30_000);
    // ActiveMQ and AMQP 1.0 refuse the reply itself; RabbitMQ's STOMP drops the connection, so the reply is given up after it took the connection down alone.
    const reason = testTransport() === 'wss' ? /the reply to \/queue\/acks\.999\.elsewhere never reached the broker: .*last: .*STOMP died/ : /reply to \/queue\/acks\.999\.elsewhere was refused: .*(not authorized|access to queue 'acks\.999\.elsewhere')/;
    assert.match(dead.headers['cafkit-dead-letter-reason'] ?? '', reason);
    assert.equal(dead.body, body);
    await eventually(() => stack.runtime.dispatcher.inFlight === 0 || undefined, 'the message to be settled', 30_000);
    assert.equal(dlq.messages.filter((m) => m.headers['correlation-id'] === 'foreign-reply').length, 1, 'dead-lettered once, not once per redelivery');
  });

  test('the processor still serves actions afterwards, and nothing is left unacknowledged', async () => {
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: {} });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    assert.equal(done.status, 'completed');
    assert.equal(stack.runtime.dispatcher.stats.deadLettered, 5);
    // The reply reaches the emulator just before the ack is sent: wait for the ack.
    await eventually(() => stack.runtime.dispatcher.inFlight === 0 || undefined, 'the last message to be acknowledged', 10_000);
  });
});
