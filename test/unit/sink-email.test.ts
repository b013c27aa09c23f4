import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EmailChannelSchema } from '../../lib/config/alerting.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { silentLog, type Log } from '../../lib/log/log.js';
import { scrub } from '../../lib/log/redact.js';
import { composeEmail, htmlToText } from '../../lib/sinks/email-message.js';
import { createEmailSink, transportOptions } from '../../lib/sinks/email.js';
import { activityTitle, renderHtml, renderText } from '../../lib/sinks/render.js';
import { activityFactory } from '../support/email-activities.js';

const activities = activityFactory();
const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-sink-email-'));
after(() => {
  activities.dispose();
  rmSync(dir, { recursive: true, force: true });
});
const caFile = path.join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n');

const base = { enable: true, host: 'smtp.example.com', from: 'cafkit@example.com', to: ['soc@example.com'] };
const config = (extra: Record<string, unknown> = {}) => EmailChannelSchema.parse({ ...base, ...extra });

test('one activity: the subject is the configured one and the activity title', () => {
  const record = activities.record();
  const mail = composeEmail(config(), [record]);
  assert.equal(mail.subject, `[cafkit][Activity Report] ${activityTitle(record)}`);
  assert.deepEqual(mail.executionIds, [record.execution_id]);
});

test('several activities: the subject counts them, the body renders each, in order, between intro and end', () => {
  const records = [activities.record(), activities.record({ status: 'failed', stepError: 'x' }), activities.record()];
  const mail = composeEmail(config({ subject: 'Report', body_intro: '<h1>Hi</h1>', body_end: '<footer>bye</footer>' }), records);
  assert.equal(mail.subject, 'Report 3 activities');
  const at = [mail.html.indexOf('<h1>Hi</h1>'), ...records.map((r) => mail.html.indexOf(renderHtml(r))), mail.html.indexOf('<footer>bye</footer>')];
  assert.ok(at.every((i, n) => i >= 0 && (n === 0 || i > at[n - 1]!)), `intro, activities in order, end: ${at.join(',')}`);
  const textAt = records.map((r) => mail.text.indexOf(renderText(r)));
  assert.ok(textAt.every((i, n) => i >= 0 && (n === 0 || i > textAt[n - 1]!)), 'the text part renders each in order');
  assert.match(mail.text, /^Hi\n\n/);
  assert.match(mail.text, /\n\nbye\n$/);
  assert.deepEqual(mail.executionIds, records.map((r) => r.execution_id));
});

test('what comes from a record is escaped in the HTML; the intro and end are inserted as given', () => {
  const record = activities.record({ action: '<img src=x onerror=alert(1)>', stepError: '<script>evil()</script>' });
  const mail = composeEmail(config({ body_intro: '<b>ops</b>' }), [record]);
  assert.ok(mail.html.includes('<b>ops</b>'));
  assert.ok(!mail.html.includes('<script>') && !mail.html.includes('<img'));
  assert.ok(mail.html.includes('&lt;script&gt;evil()&lt;/script&gt;'));
});

test('base64: each activity is followed by its signed canonical JSON, base64, in the HTML and the text; none without', () => {
  const records = [activities.record(), activities.record()];
  const on = composeEmail(config({ base64: true }), records);
  for (const record of records) {
    const b64 = Buffer.from(canonicalRecordText(record), 'utf8').toString('base64');
    assert.ok(on.html.indexOf(b64) > on.html.indexOf(renderHtml(record)), 'HTML: under its rendering');
    assert.ok(on.text.indexOf(b64) > on.text.indexOf(renderText(record)), 'text: under its rendering');
  }
  const off = composeEmail(config(), records);
  assert.ok(!off.html.includes('<pre') && !off.text.includes('Signed activity'));
});

test('the Message-ID is the same for the same activities (a retry) and differs for others', () => {
  const [a, b] = [activities.record(), activities.record()];
  const first = composeEmail(config(), [a, b]).messageId;
  assert.match(first, /^<[0-9a-f]{40}@cafkit>$/);
  assert.equal(composeEmail(config({ subject: 'other' }), [a, b]).messageId, first);
  assert.notEqual(composeEmail(config(), [a]).messageId, first);
});

test('an empty batch is refused', () => {
  assert.throws(() => composeEmail(config(), []), RangeError);
});

test('htmlToText: block ends become line breaks, tags go, entities are decoded', () => {
  assert.equal(htmlToText('<p>Hello <b>SOC</b></p><p>a &amp; b &lt;c&gt;<br>next</p>'), 'Hello SOC\na & b <c>\nnext');
  assert.equal(htmlToText(''), '');
});

test('transport options: STARTTLS is required by default, with verification on and the timeouts from timeout_ms', () => {
  const options = transportOptions(config({ timeout_ms: 1234, tls: { ca: caFile } }), silentLog);
  assert.equal(options.requireTLS, true);
  assert.ok(!options.secure && !options.ignoreTLS);
  assert.equal(options.port, 587);
  assert.equal(options.tls?.rejectUnauthorized, true);
  assert.match(String(options.tls?.ca), /not parsed here/, 'the CA file read');
  assert.equal(options.tls?.servername, 'smtp.example.com');
  assert.deepEqual([options.connectionTimeout, options.greetingTimeout, options.socketTimeout], [1234, 1234, 1234]);
  assert.equal(options.auth, undefined, 'no user: no AUTH');
});

test('transport options: implicit TLS, and plain with no TLS at all', () => {
  const tls = transportOptions(config({ security: 'tls', port: 465 }), silentLog);
  assert.equal(tls.secure, true);
  assert.equal(tls.port, 465);
  const none = transportOptions(config({ host: '127.0.0.1', security: 'none', port: 25 }), silentLog);
  assert.deepEqual([none.secure, none.requireTLS, none.ignoreTLS, none.tls], [undefined, undefined, true, undefined]);
});

test('transport options: the configured mechanism; PLAIN with an identity uses its own handler', () => {
  const login = transportOptions(config({ user: 'u', password: 'p', auth_mechanism: 'LOGIN' }), silentLog);
  assert.deepEqual([login.auth, login.authMethod, login.customAuth], [{ user: 'u', pass: 'p' }, 'LOGIN', undefined]);
  assert.equal(transportOptions(config({ user: 'u', password: 'p' }), silentLog).customAuth, undefined, 'PLAIN without identity: the built-in one');
  const identity = transportOptions(config({ user: 'u', password: 'p', plain_identity: 'boss' }), silentLog);
  assert.equal(identity.authMethod, 'PLAIN');
  assert.equal(typeof identity.customAuth?.PLAIN, 'function');
});

test('insecure TLS is logged loudly', () => {
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (m) => warnings.push(m) };
  assert.equal(transportOptions(config({ tls: { insecure: true } }), log).tls?.rejectUnauthorized, false);
  assert.match(warnings.join('\n'), /INSECURE: email certificate verification is OFF/);
});

test('the sink: name, accepts, batching knobs; the password registered as a secret', async () => {
  const sink = createEmailSink(config({ user: 'u', password: 'unit-secret-4711', statuses: ['failed'], batch_window_ms: 2000, batch_max: 7 }), { log: silentLog, home: '/nonexistent' });
  try {
    assert.equal(sink.name, 'email');
    assert.equal(sink.batchWindowMs, 2000);
    assert.equal(sink.maxBatch, 7);
    assert.equal(sink.accepts!(activities.final({ status: 'failed', stepError: 'x' })), true);
    assert.equal(sink.accepts!(activities.final()), false);
    assert.equal(sink.accepts!({ kind: 'started', at: new Date().toISOString(), execution_id: 'e', correlation_id: null }), false);
    assert.equal(scrub('password is unit-secret-4711'), 'password is [redacted]');
  } finally {
    await sink.close();
  }
  const single = createEmailSink(config({ batch_window_ms: 0, batch_max: 50 }), { log: silentLog, home: '/nonexistent' });
  assert.equal(single.maxBatch, 1, 'no window: one mail per activity');
  await single.close();
});

test('the sink refuses to send credentials in clear to a server that is not loopback', () => {
  assert.throws(() => createEmailSink(config({ security: 'none', user: 'u', password: 'p' }), { log: silentLog, home: '/x' }), /credentials would cross the network in clear to smtp\.example\.com/);
});

test('an unreadable CA file is an error at creation, naming the key', () => {
  assert.throws(() => createEmailSink(config({ tls: { ca: '/nonexistent/ca.pem' } }), { log: silentLog, home: '/x' }), /alerting\.email\.tls\.ca: cannot read \/nonexistent\/ca\.pem/);
});
