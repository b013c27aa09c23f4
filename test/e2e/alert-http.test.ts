// The webhook channel against a real HTTPS server (node:https on loopback,
// the dev certificates): what it sends, how it fails, TLS, workers, and a
// webhook that goes down and comes back behind a real Reporter.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Reporter } from '../../lib/activity/reporter.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import { HttpChannelSchema } from '../../lib/config/alerting.js';
import type { Log } from '../../lib/log/log.js';
import { createHttpSink } from '../../lib/sinks/http.js';
import { cert, eventually, signedActivities } from '../support/signed-activities.js';
import { okAnswer, startWebhookServer, type SeenRequest, type WebhookServer } from '../support/webhook-server.js';

const SECRET = 'Bearer hook-secret-4f2a9c';
const activities = signedActivities();
let hook: WebhookServer;
const servers: WebhookServer[] = [];
const sinks: Array<{ close(): Promise<void> }> = [];

before(async () => {
  hook = await startWebhookServer();
  servers.push(hook);
});
after(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await Promise.all(servers.map((s) => s.stop()));
  activities.dispose();
});

function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(meta ?? {})}`);
  return { lines, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function sinkFor(options: Record<string, unknown>, log: Log = recordingLog()) {
  const config = HttpChannelSchema.parse({ enable: true, url: hook.url, use_body: true, timeout_ms: 5_000, tls: { ca: cert('ca.pem') }, ...options });
  const sink = createHttpSink(config, { log, home: '/nonexistent' });
  sinks.push(sink);
  return sink;
}

/** Requests from this test on: the server is shared. */
function seenFrom(server: WebhookServer = hook) {
  const start = server.requests.length;
  return () => server.requests.slice(start);
}

function executionOf(request: SeenRequest): string {
  return (JSON.parse(request.body) as { execution_id: string }).execution_id;
}

test('POSTs the signed JSON as the body, with the configured headers, the query appended to the URL\'s own', async () => {
  const seen = seenFrom();
  const sink = sinkFor({
    url: `${hook.url}?fixed=a%20b`,
    headers: { Authorization: SECRET, 'X-Trace': 'cafkit' },
    query: { source: 'cafkit', activity: '{{ACTIVITY}}' },
  });
  const event = activities.event();
  await sink.deliver(event);
  const [request, more] = seen();
  assert.equal(more, undefined, 'one request');
  assert.equal(request!.method, 'POST');
  assert.equal(request!.path, '/hook');
  assert.match(request!.search, /^fixed=a%20b&/, "the URL's own query is kept as written, first");
  assert.equal(request!.query.get('source'), 'cafkit');
  assert.equal(request!.query.get('activity'), canonicalRecordText(event.record!), '{{ACTIVITY}} decodes to the signed canonical JSON');
  assert.equal(request!.body, canonicalRecordText(event.record!));
  assert.deepEqual(JSON.parse(request!.body), event.record);
  assert.equal(request!.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(request!.headers.authorization, SECRET);
  assert.equal(request!.headers['x-trace'], 'cafkit');
});

test('PUT with body_intro and body_end sends text/plain around the activity', async () => {
  const seen = seenFrom();
  const sink = sinkFor({ method: 'PUT', body_intro: 'activity: ', body_end: '\n-- cafkit' });
  const event = activities.event({ status: 'failed', error: 'REST 500' });
  await sink.deliver(event);
  const [request] = seen();
  assert.equal(request!.method, 'PUT');
  assert.equal(request!.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(request!.body, `activity: ${canonicalRecordText(event.record!)}\n-- cafkit`);
});

test('GET carries the activity in the query only (base64 here), with no body', async () => {
  const seen = seenFrom();
  const sink = sinkFor({ method: 'GET', use_body: false, base64: true, query: { a: '{{ACTIVITY}}', wrapped: '[{{ACTIVITY}}]' } });
  const event = activities.event();
  await sink.deliver(event);
  const [request] = seen();
  assert.equal(request!.method, 'GET');
  assert.equal(Buffer.from(request!.query.get('a')!, 'base64').toString('utf8'), canonicalRecordText(event.record!));
  assert.equal(request!.query.get('wrapped'), `[${request!.query.get('a')}]`, '{{ACTIVITY}} replaced inside a longer value');
  assert.equal(request!.body, '');
  assert.equal(request!.headers['content-type'], undefined);
  assert.equal(request!.headers['content-length'], undefined);
});

test('a base64 body is text/plain and decodes to the signed JSON', async () => {
  const seen = seenFrom();
  const sink = sinkFor({ base64: true });
  const event = activities.event();
  await sink.deliver(event);
  const [request] = seen();
  assert.equal(request!.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(Buffer.from(request!.body, 'base64').toString('utf8'), canonicalRecordText(event.record!));
});

test('a non-2xx answer throws with the status and a secret-free excerpt; a redirect is not followed', async (t) => {
  t.after(() => (hook.answer = okAnswer));
  const seen = seenFrom();
  const sink = sinkFor({ headers: { Authorization: SECRET } });
  hook.answer = (request) => ({ status: 401, body: `refused: ${request.headers.authorization} is not a valid token` });
  await assert.rejects(sink.deliver(activities.event()), (error: Error) => {
    assert.match(error.message, /^http: POST https:\/\/127\.0\.0\.1:\d+\/hook answered 401 Unauthorized: refused: \[redacted\] is not a valid token/);
    assert.ok(!error.message.includes('hook-secret'), error.message);
    return true;
  });
  hook.answer = () => ({ status: 302, headers: { location: `${hook.url}/elsewhere?key=abc` } });
  await assert.rejects(sink.deliver(activities.event()), /answered 302 Found \(redirect to https:\/\/127\.0\.0\.1:\d+\/hook\/elsewhere not followed\)/);
  assert.equal(seen().length, 2, 'the redirect was not followed');
});

test('success_pattern: a 2xx whose body says failure counts as failure', async (t) => {
  t.after(() => (hook.answer = okAnswer));
  const sink = sinkFor({ success_pattern: '"status"\\s*:\\s*"ok"' });
  hook.answer = () => ({ status: 200, body: '{"status":"error","reason":"queue full"}' });
  await assert.rejects(sink.deliver(activities.event()), /answered 200 OK but the body does not match success_pattern: \{"status":"error","reason":"queue full"\}/);
  hook.answer = () => ({ status: 201, body: '{"status": "ok"}' });
  await sink.deliver(activities.event());
});

test('a server that never answers makes deliver throw at timeout_ms', async (t) => {
  t.after(() => (hook.answer = okAnswer));
  const seen = seenFrom();
  hook.answer = () => 'hang';
  const sink = sinkFor({ timeout_ms: 300 });
  await assert.rejects(sink.deliver(activities.event()), /^Error: http: POST https:\/\/127\.0\.0\.1:\d+\/hook failed: no complete answer within 300 ms$/);
  assert.equal(seen().length, 1, 'the request had arrived: it was the answer that never came');
});

test('TLS: a server certificate from another CA is refused before anything is sent', async () => {
  const rogue = await startWebhookServer({ certName: 'rogue.pem', keyName: 'rogue-key.pem' });
  servers.push(rogue);
  const sink = sinkFor({ url: rogue.url });
  await assert.rejects(sink.deliver(activities.event()), /http: POST https:\/\/127\.0\.0\.1:\d+\/hook failed: .*certificate/);
  assert.equal(rogue.requests.length, 0);
});

test('TLS: a client certificate with an encrypted key and its passphrase reaches a server that asks for one; a wrong passphrase fails at start', async () => {
  const mutual = await startWebhookServer({ requestCert: true });
  servers.push(mutual);
  const passphrase = readFileSync(cert('client-key-passphrase'), 'utf8').trim();
  const tls = { ca: cert('ca.pem'), cert: cert('client.pem'), key: cert('client-enc-key.pem') };
  await sinkFor({ url: mutual.url, tls: { ...tls, passphrase } }).deliver(activities.event());
  assert.equal(mutual.requests.length, 1);
  assert.equal(mutual.requests[0]!.clientCn, 'cafkit-processor');
  assert.equal(mutual.requests[0]!.clientAuthorized, true, 'the client certificate verifies against the dev CA');
  assert.throws(() => sinkFor({ url: mutual.url, tls: { ...tls, passphrase: 'not-the-passphrase' } }), /^Error: alerting\.http\.tls: the client certificate or key is not usable: .*bad decrypt \(the key does not decrypt with tls\.passphrase\)$/, 'a wrong passphrase stops the start, not each delivery');
  assert.equal(mutual.requests.length, 1);
});

test('workers: one at a time (no batches) with 1; up to `workers` requests at once above', async (t) => {
  t.after(() => (hook.answer = okAnswer));
  assert.equal(sinkFor({ workers: 1 }).deliverBatch, undefined, 'workers 1 keeps order: no batches');
  assert.equal(typeof sinkFor({ workers: 0 }).deliverBatch, 'function', 'workers 0 means 200');
  // The server holds requests until three are waiting: one at a time would never get an answer.
  let waiting: Array<() => void> = [];
  let inFlight = 0;
  let most = 0;
  hook.answer = async () => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === 3) {
        for (const release of waiting) release();
        waiting = [];
      }
    });
    inFlight--;
    return { status: 204 };
  };
  const sink = sinkFor({ workers: 3, timeout_ms: 5_000 });
  const seen = seenFrom();
  const events = Array.from({ length: 6 }, () => activities.event());
  await sink.deliverBatch!(events);
  assert.equal(most, 3, 'three at once, never more');
  assert.deepEqual(new Set(seen().map(executionOf)), new Set(events.map((e) => e.execution_id)));
  assert.equal(seen().length, 6);
});

test('workers: a batch with failures throws, and its retry sends only what did not get through', async (t) => {
  t.after(() => (hook.answer = okAnswer));
  const sink = sinkFor({ workers: 4 });
  const events = Array.from({ length: 6 }, () => activities.event());
  const failOnce = new Set([events[1]!.execution_id, events[4]!.execution_id]);
  hook.answer = (request) => {
    const id = executionOf(request);
    if (failOnce.delete(id)) return { status: 503, body: 'try later' };
    return { status: 200 };
  };
  const seen = seenFrom();
  await assert.rejects(sink.deliverBatch!(events), /^Error: http: 2 of 6 requests failed \(the others are not sent again\): http: POST .* answered 503 Service Unavailable: try later$/);
  await sink.deliverBatch!(events);
  const count = new Map<string, number>();
  for (const request of seen()) count.set(executionOf(request), (count.get(executionOf(request)) ?? 0) + 1);
  assert.deepEqual(events.map((e) => count.get(e.execution_id)), [1, 2, 1, 1, 2, 1]);
});

test('statuses: only final activities of the listed statuses are sent', async () => {
  const seen = seenFrom();
  const sink = sinkFor({ statuses: ['failed', 'timed_out'] });
  const reporter = new Reporter([sink], { overflow: 'drop_oldest', retry: { initialMs: 50, maxMs: 200 } });
  const events = [activities.event(), activities.event({ status: 'failed' }), activities.event({ status: 'dead_lettered' }), activities.event({ status: 'timed_out' })];
  const started: ActivityEvent = { kind: 'started', at: new Date().toISOString(), execution_id: 'x', correlation_id: null };
  reporter.report(started);
  for (const event of events) reporter.report(event);
  const { drained } = await reporter.drain(10_000);
  assert.ok(drained);
  assert.deepEqual(seen().map(executionOf), [events[1]!.execution_id, events[3]!.execution_id]);
});

test('webhook down and back: every activity arrives once, in order, and no log line holds the secret', { timeout: 30_000 }, async () => {
  const log = recordingLog();
  const sink = sinkFor({ headers: { Authorization: SECRET }, timeout_ms: 1_000 }, log);
  const reporter = new Reporter([sink], { overflow: 'drop_oldest', retry: { initialMs: 50, maxMs: 200 }, log, warnEveryMs: 0 });
  try {
    // Warm the keep-alive connection, so the outage also cuts a pooled socket.
    const seen = seenFrom();
    const first = activities.event();
    reporter.report(first);
    await eventually(() => reporter.stats().http!.delivered === 1, 'the first delivery');
    await hook.close();
    const events = Array.from({ length: 5 }, (_, i) => activities.event({ status: i % 2 ? 'failed' : 'succeeded' }));
    for (const event of events) reporter.report(event);
    await eventually(() => reporter.stats().http!.failed_attempts >= 3, 'failed attempts while the webhook is down');
    assert.equal(seen().length, 1, 'nothing arrived while down');
    await hook.reopen();
    await eventually(() => reporter.stats().http!.delivered === 6, 'every activity delivered after the webhook came back');
    assert.deepEqual(seen().map(executionOf), [first, ...events].map((e) => e.execution_id), 'each once, in order');
    assert.ok(log.lines.some((line) => /activity sink delivery failed/.test(line) && /ECONNREFUSED|socket hang up|ECONNRESET/.test(line)), 'the failures were logged');
    assert.ok(!log.lines.some((line) => line.includes('hook-secret')), 'the secret never reaches a log line');
  } finally {
    await reporter.drain(2_000);
  }
});
