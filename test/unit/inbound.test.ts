import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectDelivery } from '../../lib/runtime/inbound.js';
import type { InboundMessage } from '../../lib/broker/transport.js';
import { selectLabel } from '../../lib/wire/action-data.js';
import { readAcknowledgement } from '../../lib/wire/acknowledgement.js';
import { successReply } from '../../lib/runtime/reply.js';

function delivery(body: string, headers: Record<string, string> = { 'reply-to': '/queue/acks.201.ops', 'correlation-id': 'invid:1' }): InboundMessage {
  return { destination: { kind: 'queue', name: 'actions.201.ops' }, headers, body, size: Buffer.byteLength(body), live: true, ack: async () => true, nack: async () => true };
}

const good = JSON.stringify({
  action_id: 12,
  incident: { id: 2095, severity_code: 6 },
  properties: { severity: 6 },
  type_info: { incident: { fields: { severity_code: { values: { '6': { label: 'High', enabled: true } } } } } },
  some_future_field: { kept: true },
});

test('a good message parses, unknown fields tolerated', () => {
  const result = inspectDelivery(delivery(good), 1 << 20);
  assert.ok(result.ok);
  assert.equal(result.message.incident?.id, 2095);
  assert.deepEqual((result.message as Record<string, unknown>)['some_future_field'], { kept: true });
  assert.equal(selectLabel(result.message, 'incident', 'severity_code', result.message.incident?.['severity_code']), 'High');
  assert.equal(selectLabel(result.message, 'incident', 'severity_code', 99), undefined);
});

test('each kind of bad input is named', () => {
  const reason = (d: InboundMessage, max = 1 << 20) => {
    const r = inspectDelivery(d, max);
    assert.equal(r.ok, false);
    return (r as { reason: string }).reason;
  };
  assert.match(reason(delivery('{not json')), /not valid JSON/);
  assert.match(reason(delivery('{"incident":{"id":1}}')), /not an ActionDataDTO: action_id: required/);
  assert.match(reason(delivery(good, { 'correlation-id': 'invid:1' })), /no reply-to header/);
  assert.match(reason(delivery(good, { 'reply-to': '/queue/acks.201.ops' })), /no correlation-id header/);
  assert.match(reason(delivery(good), 10), /exceeds the limit of 10 bytes/);
});

test('replies: a plain string, a message with results, and the platform reading plain text', () => {
  assert.deepEqual(successReply('done', 'Echo'), { message_type: 0, message: 'done', complete: true });
  assert.deepEqual(successReply({ results: { a: 1 } }, 'Echo'), { message_type: 0, message: 'Action "Echo" completed', complete: true, results: { a: 1 } });
  assert.deepEqual(readAcknowledgement('working', { Co3InvocationComplete: 'false' }), { message_type: 0, message: 'working', complete: false });
  assert.deepEqual(readAcknowledgement('{"message_type":1,"message":"bad","complete":true}', {}), { message_type: 1, message: 'bad', complete: true });
});
