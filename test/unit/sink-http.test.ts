// The webhook's pure parts: the request built for a record, the error excerpt.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { HttpChannelSchema } from '../../lib/config/alerting.js';
import { registerSecret } from '../../lib/log/redact.js';
import { bodyExcerpt, buildWebhookRequest, createHttpSink, DEFAULT_HTTP_WORKERS } from '../../lib/sinks/http.js';
import { signedActivities } from '../support/signed-activities.js';

const activities = signedActivities();
after(() => activities.dispose());

const http = (options: Record<string, unknown>) => HttpChannelSchema.parse({ enable: true, url: 'https://hooks.example.com/in', use_body: true, ...options });

test('query: appended after the URL\'s own (kept byte for byte), {{ACTIVITY}} replaced everywhere and URL-encoded', () => {
  const record = activities.record();
  const { url } = buildWebhookRequest(http({ url: 'https://hooks.example.com/in?k=a%20b&x=%2F', query: { src: 'cafkit & co', act: '{{ACTIVITY}}', two: '{{ACTIVITY}}|{{ACTIVITY}}' } }), record);
  const text = canonicalRecordText(record);
  assert.ok(url.search.startsWith('?k=a%20b&x=%2F&src=cafkit+%26+co&act='), url.search);
  assert.equal(url.searchParams.get('act'), text);
  assert.equal(url.searchParams.get('two'), `${text}|${text}`);
  assert.equal(url.searchParams.get('src'), 'cafkit & co');
  assert.ok(!/[{}"\s]/.test(url.search), 'nothing left unencoded');
});

test('query: a URL without its own query gets one; base64 puts the base64 text in', () => {
  const record = activities.record();
  const { url } = buildWebhookRequest(http({ base64: true, query: { a: '{{ACTIVITY}}' } }), record);
  assert.equal(url.pathname, '/in');
  assert.equal(Buffer.from(url.searchParams.get('a')!, 'base64').toString('utf8'), canonicalRecordText(record));
});

test('body: bare JSON is application/json; with intro, end or base64 it is text/plain; a configured Content-Type wins', () => {
  const record = activities.record();
  const text = canonicalRecordText(record);
  const bare = buildWebhookRequest(http({}), record);
  assert.equal(bare.body, text);
  assert.equal(bare.headers['Content-Type'], 'application/json; charset=utf-8');
  const wrapped = buildWebhookRequest(http({ body_intro: '{"activity":', body_end: '}' }), record);
  assert.equal(wrapped.body, `{"activity":${text}}`);
  assert.equal(wrapped.headers['Content-Type'], 'text/plain; charset=utf-8');
  assert.equal(buildWebhookRequest(http({ base64: true }), record).headers['Content-Type'], 'text/plain; charset=utf-8');
  const own = buildWebhookRequest(http({ body_intro: '{"activity":', body_end: '}', headers: { 'content-type': 'application/json' } }), record);
  assert.deepEqual(own.headers, { 'content-type': 'application/json' });
});

test('no use_body: no body and no Content-Type, whatever the method; headers as given', () => {
  const request = buildWebhookRequest(http({ method: 'GET', use_body: false, query: { a: '{{ACTIVITY}}' }, headers: { 'X-Api-Key': 'k-123456', Accept: 'text/plain' } }), activities.record());
  assert.equal(request.method, 'GET');
  assert.equal(request.body, undefined);
  assert.deepEqual(request.headers, { 'X-Api-Key': 'k-123456', Accept: 'text/plain' });
});

test('bodyExcerpt: one line, registered secrets scrubbed, cut at the limit', () => {
  registerSecret('s3cr3t-webhook-token');
  assert.equal(bodyExcerpt('bad\n  token:\ts3cr3t-webhook-token\n'), 'bad token: [redacted]');
  assert.equal(bodyExcerpt('x'.repeat(300), 10), `${'x'.repeat(10)}…`);
});

test('the sink: credential-like header values become secrets; workers ≤ 0 means 200; a bad success_pattern fails at start', () => {
  const sink = createHttpSink(http({ headers: { 'X-Auth-Token': 'tok-abcdef-123' }, workers: 0 }), { log: { debug() {}, info() {}, warn() {}, error() {} }, home: '' });
  assert.equal(bodyExcerpt('echo tok-abcdef-123'), 'echo [redacted]');
  assert.equal(typeof sink.deliverBatch, 'function');
  assert.equal(DEFAULT_HTTP_WORKERS, 200);
  void sink.close();
  assert.throws(() => createHttpSink(http({ success_pattern: '(' }), { log: { debug() {}, info() {}, warn() {}, error() {} }, home: '' }), /^Error: alerting\.http\.success_pattern: /);
});
