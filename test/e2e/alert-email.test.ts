// The email channel against a real SMTP server (smtp-server on loopback,
// with the dev certificates): authentication, TLS, what arrives, batching
// through a real Reporter, retries.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressObject } from 'mailparser';
import { Reporter } from '../../lib/activity/reporter.js';
import type { ActivityEvent, ActivityRecord } from '../../lib/activity/record.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { verifyRecords } from '../../lib/activity/verify.js';
import { EmailChannelSchema } from '../../lib/config/alerting.js';
import { silentLog } from '../../lib/log/log.js';
import { createEmailSink } from '../../lib/sinks/email.js';
import { activityTitle } from '../../lib/sinks/render.js';
import { activityFactory } from '../support/email-activities.js';
import { cert, startSmtpServer, type ReceivedMail, type SmtpServerOptions, type SmtpTestServer } from '../support/smtp.js';

const USER = 'alerts';
const PASSWORD = 'smtp-pass-7f3c9e21';
const activities = activityFactory();
const home = mkdtempSync(path.join(tmpdir(), 'cafkit-email-home-'));
const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  activities.dispose();
  rmSync(home, { recursive: true, force: true });
});

async function server(options: SmtpServerOptions = {}): Promise<SmtpTestServer> {
  const smtp = await startSmtpServer({ users: { [USER]: PASSWORD }, ...options });
  stops.push(() => smtp.stop());
  return smtp;
}

/** A sink for `smtp`, closed after the file; credentials and the dev CA unless overridden. */
function sink(smtp: SmtpTestServer, overrides: Record<string, unknown> = {}) {
  const config = EmailChannelSchema.parse({
    enable: true,
    host: smtp.host,
    port: smtp.port,
    user: USER,
    password: PASSWORD,
    from: 'cafkit <cafkit@example.com>',
    to: ['soc@example.com'],
    timeout_ms: 5_000,
    tls: { ca: cert('ca.pem') },
    ...overrides,
  });
  const email = createEmailSink(config, { log: silentLog, home });
  stops.push(() => email.close());
  return email;
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  return [field ?? []].flat().flatMap((a) => a.value.map((v) => v.address ?? ''));
}

function executionHeaders(mail: ReceivedMail): string[] {
  return mail.parsed.headerLines.filter((h) => h.key === 'x-cafkit-execution').map((h) => h.line.replace(/^[^:]*:\s*/, '').trim());
}

function html(mail: ReceivedMail): string {
  assert.equal(typeof mail.parsed.html, 'string', 'the mail has an HTML part');
  return mail.parsed.html as string;
}

function reporter(email: ReturnType<typeof sink>): Reporter {
  const r = new Reporter([email], { overflow: 'drop_oldest', retry: { initialMs: 20, maxMs: 100 } });
  stops.push(async () => void (await r.drain(0)));
  return r;
}

test('PLAIN, LOGIN and CRAM-MD5 each authenticate, after STARTTLS, with the mechanism configured', async () => {
  const smtp = await server();
  for (const mechanism of ['PLAIN', 'LOGIN', 'CRAM-MD5'] as const) {
    const event = activities.final();
    await sink(smtp, { auth_mechanism: mechanism }).deliver(event);
    const auth = smtp.auths.at(-1)!;
    assert.deepEqual({ method: auth.method, username: auth.username, ok: auth.ok, secure: auth.secure }, { method: mechanism, username: USER, ok: true, secure: true });
    const mail = smtp.mails.at(-1)!;
    assert.equal(mail.user, USER, `${mechanism}: the mail came in the authenticated session`);
    assert.deepEqual(executionHeaders(mail), [event.execution_id]);
  }
  assert.equal(smtp.auths[0]!.authzid, '', 'PLAIN without plain_identity sends an empty authorisation identity');
  assert.equal(smtp.mails.length, 3);
});

test('PLAIN sends plain_identity as the authorisation identity', async () => {
  const smtp = await server();
  await sink(smtp, { plain_identity: 'shared-mailbox@example.com' }).deliver(activities.final());
  assert.deepEqual(
    smtp.auths.map((a) => [a.method, a.authzid, a.username, a.ok]),
    [['PLAIN', 'shared-mailbox@example.com', USER, true]],
  );
  assert.equal(smtp.mails.length, 1);
});

test('no user: the mail goes without AUTH', async () => {
  const smtp = await server({ users: {} });
  await sink(smtp, { user: undefined, password: undefined }).deliver(activities.final());
  assert.equal(smtp.auths.length, 0);
  assert.equal(smtp.mails.length, 1);
  assert.equal(smtp.mails[0]!.secure, true, 'still STARTTLS');
});

test('the mail: From, To, Cc; Bcc only in the envelope; subject; intro, escaped rendering and end; a text part; no attachments', async () => {
  const smtp = await server();
  const event = activities.final({ status: 'failed', action: 'Create <Ticket>', stepError: '<script>alert("x")</script>', reply: 'ticket & co failed' });
  const record = event.record!;
  await sink(smtp, {
    to: ['soc@example.com', 'lead@example.com'],
    cc: ['audit@example.com'],
    bcc: ['hidden@example.com'],
    subject: '[SOC] Activity',
    body_intro: '<p id="intro">Hello <b>SOC</b> team</p>',
    body_end: '<p id="end">-- cafkit on test-host</p>',
  }).deliver(event);

  const [mail] = await smtp.waitForMails(1);
  const { parsed } = mail!;
  assert.deepEqual(addresses(parsed.from), ['cafkit@example.com']);
  assert.deepEqual(addresses(parsed.to), ['soc@example.com', 'lead@example.com']);
  assert.deepEqual(addresses(parsed.cc), ['audit@example.com']);
  assert.equal(parsed.bcc, undefined);
  assert.doesNotMatch(mail!.raw.toString('utf8'), /hidden@example\.com/, 'Bcc is in no header');
  assert.equal(mail!.envelope.from, 'cafkit@example.com');
  assert.deepEqual([...mail!.envelope.to].sort(), ['audit@example.com', 'hidden@example.com', 'lead@example.com', 'soc@example.com']);
  assert.equal(parsed.subject, `[SOC] Activity ${activityTitle(record)}`);
  assert.match(parsed.subject!, /^\[SOC\] Activity Create <Ticket> on incident \d+: failed/);

  const body = html(mail!);
  const intro = body.indexOf('<p id="intro">Hello <b>SOC</b> team</p>');
  const rendering = body.indexOf('<div class="cafkit-activity">');
  const end = body.indexOf('<p id="end">-- cafkit on test-host</p>');
  assert.ok(intro >= 0 && rendering > intro && end > rendering, 'intro, then the activity, then the end, the operator HTML as given');
  assert.ok(body.includes('Create &lt;Ticket&gt; on incident'), 'the title, escaped');
  assert.ok(body.includes('validate: succeeded'), 'the steps');
  assert.ok(body.includes('write: failed'), 'the failed step');
  assert.ok(body.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'), 'the step error, escaped');
  assert.ok(!body.includes('<script>'), 'no live script from the record');
  assert.ok(body.includes('ticket &amp; co failed'), 'the reply, escaped');
  assert.ok(body.includes(record.execution_id));
  assert.ok(!body.includes('Signed activity'), 'base64 off: no signed JSON');

  assert.equal(typeof parsed.text, 'string');
  assert.match(parsed.text!, /^Hello SOC team\n\nCreate <Ticket> on incident \d+: failed/);
  assert.match(parsed.text!, /Steps:\n {2}- validate: succeeded.*\n {2}- write: failed.*: <script>alert\("x"\)<\/script>/);
  assert.match(parsed.text!, /Replies:\n {2}- .* error \(final\): ticket & co failed/);
  assert.match(parsed.text!, /-- cafkit on test-host\n?$/);
  assert.equal(parsed.attachments.length, 0);
  assert.deepEqual(executionHeaders(mail!), [record.execution_id]);
  assert.equal(mail!.secure, true);
});

test('base64 on: each activity carries its signed JSON in base64 (HTML and text), and the signature verifies', async () => {
  const smtp = await server();
  const event = activities.final();
  const record = event.record!;
  await sink(smtp, { base64: true }).deliver(event);
  const [mail] = await smtp.waitForMails(1);

  const fromText = /Signed activity \(base64 of its canonical JSON\):\n([A-Za-z0-9+/=]+)/.exec(mail!.parsed.text!)?.[1];
  const fromHtml = /<pre class="cafkit-signed"[^>]*>([A-Za-z0-9+/=]+)<\/pre>/.exec(html(mail!))?.[1];
  assert.ok(fromText && fromHtml, 'base64 in both parts');
  assert.equal(fromHtml, fromText);
  const json = Buffer.from(fromText, 'base64').toString('utf8');
  assert.equal(json, canonicalRecordText(record), 'exactly the signed bytes');
  // The factory's chain started earlier in this file: this record is not its first.
  const report = await verifyRecords([JSON.parse(json) as ActivityRecord], activities.keyring, { startMayBePruned: true });
  assert.deepEqual([report.ok, report.problems], [1, []]);
  const tampered = JSON.parse(json.replace('"status":"succeeded"', '"status":"failed"')) as ActivityRecord;
  assert.deepEqual((await verifyRecords([tampered], activities.keyring, { startMayBePruned: true })).problems.map((p) => p.kind), ['altered'], 'a changed activity does not verify');
});

test('implicit TLS (security: tls) with the dev CA', async () => {
  const smtp = await server({ security: 'tls' });
  await sink(smtp, { security: 'tls' }).deliver(activities.final());
  assert.equal(smtp.mails.length, 1);
  assert.equal(smtp.mails[0]!.secure, true);
  assert.deepEqual(smtp.auths.map((a) => [a.method, a.ok, a.secure]), [['PLAIN', true, true]]);
});

test('security none towards a loopback server: plain SMTP, with AUTH', async () => {
  const smtp = await server({ security: 'none' });
  await sink(smtp, { security: 'none' }).deliver(activities.final());
  assert.equal(smtp.mails.length, 1);
  assert.equal(smtp.mails[0]!.secure, false);
  assert.deepEqual(smtp.auths.map((a) => [a.ok, a.secure]), [[true, false]]);
});

test('a server certificate that does not verify (untrusted CA, other host, expired) is refused before any credentials are sent', async () => {
  const cases = [
    { security: 'starttls', cert: 'rogue', refusal: /certificate/ },
    { security: 'tls', cert: 'rogue', refusal: /certificate/ },
    { security: 'starttls', cert: 'wronghost', refusal: /does not match certificate/ },
    { security: 'tls', cert: 'expired', refusal: /certificate has expired/ },
  ] as const;
  for (const { security, cert: name, refusal } of cases) {
    const smtp = await server({ security, certificate: { cert: `${name}.pem`, key: `${name}-key.pem` } });
    await assert.rejects(sink(smtp, { security }).deliver(activities.final()), (error: Error) => {
      assert.match(error.message, new RegExp(`^email: mail to SMTP server 127\\.0\\.0\\.1:${smtp.port} failed: `));
      assert.match(error.message, refusal);
      assert.ok(!error.message.includes(PASSWORD));
      return true;
    });
    assert.equal(smtp.connections(), 1, `${security}/${name}: the client did connect`);
    assert.deepEqual(smtp.auths, [], `${security}/${name}: the server saw no AUTH`);
    assert.deepEqual(smtp.mails, []);
  }
});

test('security starttls refuses a server that does not offer STARTTLS: no AUTH, no mail in clear', async () => {
  const smtp = await server({ security: 'none' });
  await assert.rejects(sink(smtp).deliver(activities.final()), new RegExp(`email: mail to SMTP server 127\\.0\\.0\\.1:${smtp.port} failed`));
  assert.equal(smtp.connections(), 1);
  assert.deepEqual(smtp.auths, []);
  assert.deepEqual(smtp.mails, []);
});

test('client certificate with an encrypted key and its passphrase: the server sees CN cafkit-processor', async () => {
  const smtp = await server({ requestCert: true });
  const tls = { ca: cert('ca.pem'), cert: cert('client.pem'), key: cert('client-enc-key.pem'), passphrase: readFileSync(cert('client-key-passphrase'), 'utf8').trim() };
  await sink(smtp, { tls }).deliver(activities.final());
  assert.deepEqual(smtp.tlsSessions, [{ clientCN: 'cafkit-processor', clientAuthorized: true }]);
  assert.equal(smtp.mails.length, 1);
});

test('a wrong password makes deliver throw, naming the server and never the password', async () => {
  const smtp = await server();
  const wrong = 'not-the-password-91ab';
  await assert.rejects(sink(smtp, { password: wrong }).deliver(activities.final()), (error: Error) => {
    assert.match(error.message, new RegExp(`^email: mail to SMTP server 127\\.0\\.0\\.1:${smtp.port} failed: EAUTH`));
    assert.ok(!error.message.includes(wrong) && !error.message.includes(PASSWORD));
    return true;
  });
  assert.deepEqual(smtp.auths.map((a) => a.ok), [false]);
  assert.equal(smtp.mails.length, 0);
});

test('a server that never answers fails the mail (timeout), it does not hang', async () => {
  const held: net.Socket[] = [];
  const silent = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as net.AddressInfo).port;
    const email = sink({ host: '127.0.0.1', port } as SmtpTestServer, { timeout_ms: 300 });
    await assert.rejects(email.deliver(activities.final()), new RegExp(`email: mail to SMTP server 127\\.0\\.0\\.1:${port} failed: .*(?:ETIMEDOUT|[Tt]imeout)`));
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('batching through a Reporter: 3 activities ending within the window arrive as ONE mail with 3 renderings', async () => {
  const smtp = await server();
  const r = reporter(sink(smtp, { batch_window_ms: 300, batch_max: 50, base64: true }));
  const events = [activities.final(), activities.final({ status: 'failed', stepError: 'boom' }), activities.final()];
  for (const event of events) r.report(event);
  assert.equal((await r.drain(20_000)).drained, true);

  assert.equal(smtp.mails.length, 1);
  const mail = smtp.mails[0]!;
  assert.equal(mail.parsed.subject, '[cafkit][Activity Report] 3 activities');
  const body = html(mail);
  assert.equal(body.split('<div class="cafkit-activity">').length - 1, 3);
  assert.equal(body.split('<pre class="cafkit-signed"').length - 1, 3, 'one signed JSON per activity');
  for (const event of events) assert.ok(body.includes(event.execution_id) && mail.parsed.text!.includes(event.execution_id));
  assert.deepEqual(executionHeaders(mail), events.map((e) => e.execution_id));
  assert.deepEqual(r.stats().email, { queued: 0, in_spill: 0, delivered: 3, failed_attempts: 0, dropped: 0, spilled: 0 });
});

test('batch_max 2 splits 3 activities into 2 mails, in order', async () => {
  const smtp = await server();
  const r = reporter(sink(smtp, { batch_window_ms: 300, batch_max: 2 }));
  const events = [activities.final(), activities.final(), activities.final()];
  for (const event of events) r.report(event);
  assert.equal((await r.drain(20_000)).drained, true);

  assert.equal(smtp.mails.length, 2);
  assert.deepEqual(smtp.mails.map(executionHeaders), [[events[0]!.execution_id, events[1]!.execution_id], [events[2]!.execution_id]]);
  assert.deepEqual(smtp.mails.map((m) => m.parsed.subject), ['[cafkit][Activity Report] 2 activities', `[cafkit][Activity Report] ${activityTitle(events[2]!.record!)}`]);
});

test('batch_window_ms 0: one mail per activity, even when several are queued', async () => {
  const smtp = await server();
  const r = reporter(sink(smtp, { batch_window_ms: 0 }));
  const events = [activities.final(), activities.final(), activities.final()];
  for (const event of events) r.report(event);
  assert.equal((await r.drain(20_000)).drained, true);
  assert.deepEqual(smtp.mails.map(executionHeaders), events.map((e) => [e.execution_id]));
});

test('refused AUTH: the reporter retries the same activities until the server accepts, and each arrives exactly once', async () => {
  const smtp = await server({ refuseAuth: 2 });
  const r = reporter(sink(smtp));
  const events = [activities.final(), activities.final()];
  for (const event of events) r.report(event);
  assert.equal((await r.drain(20_000)).drained, true);

  const stats = r.stats().email!;
  assert.equal(stats.failed_attempts, 2);
  assert.equal(stats.delivered, 2);
  assert.deepEqual(smtp.auths.map((a) => a.ok), [false, false, true, true]);
  assert.deepEqual(smtp.mails.map(executionHeaders), events.map((e) => [e.execution_id]));
});

test('statuses: [failed] mails only the activities that failed', async () => {
  const smtp = await server();
  const email = sink(smtp, { statuses: ['failed'] });
  const r = reporter(email);
  const failed = activities.final({ status: 'failed', stepError: 'nope' });
  const events: ActivityEvent[] = [activities.final(), failed, activities.final({ status: 'timed_out' })];
  for (const event of events) r.report(event);
  r.report({ kind: 'started', at: new Date().toISOString(), execution_id: failed.execution_id, correlation_id: null });
  assert.equal((await r.drain(20_000)).drained, true);
  assert.deepEqual(smtp.mails.map(executionHeaders), [[failed.execution_id]]);
  assert.equal(r.stats().email!.delivered, 1);
});
