// The Slack channel through @slack/web-api against a Slack Web API double
// (loopback HTTPS, dev certificate) that checks what Slack checks: the
// message posted, Slack's refusals, a rate limit honoured, TLS, timeouts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { Reporter } from '../../lib/activity/reporter.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { SlackChannelSchema } from '../../lib/config/alerting.js';
import type { Log } from '../../lib/log/log.js';
import { activityTitle, renderText } from '../../lib/sinks/render.js';
import { createSlackSink, SLACK_MAX_RETRY_AFTER_S } from '../../lib/sinks/slack.js';
import { sendRequest } from '../../lib/sinks/http-request.js';
import { cert, eventually, signedActivities } from '../support/signed-activities.js';
import { startSlackDouble, type SlackDouble } from '../support/slack-double.js';

const TOKEN = 'xoxb-1111-2222-sEcReTbOtToKeN';
const APP_TOKEN = 'xapp-1-A111-3333-aPpLeVeLsEcReT';
const CHANNEL = 'C0CAFKIT01';
const activities = signedActivities();
let slack: SlackDouble;
const sinks: Array<{ close(): Promise<void> }> = [];

before(async () => {
  slack = await startSlackDouble({ tokens: [TOKEN, 'xoxp-user-token-0001'], channels: [CHANNEL] });
});
after(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await slack.stop();
  activities.dispose();
});

function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(meta ?? {})}`);
  return { lines, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function sinkFor(options: Record<string, unknown> = {}, log: Log = recordingLog()) {
  const config = SlackChannelSchema.parse({ enable: true, oauth_token: TOKEN, app_level_token: APP_TOKEN, url: slack.url, channel_id: CHANNEL, timeout_ms: 5_000, tls: { ca: cert('ca.pem') }, ...options });
  const sink = createSlackSink(config, { log, home: '/nonexistent' });
  sinks.push(sink);
  return sink;
}

function newMessages() {
  const start = slack.messages.length;
  return () => slack.messages.slice(start);
}

/** What Slack shows for text we escaped. */
function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

test('posts the title as text and one attachment: pretext, intro + rendered activity + end, fallback, ts', async () => {
  const posted = newMessages();
  const event = activities.event({ error: null });
  await sinkFor({ pretext: 'cafkit <!here>', body_intro: 'Activity:\n', body_end: '\n— cafkit' }).deliver(event);
  const [message, more] = posted();
  assert.equal(more, undefined);
  const record = event.record!;
  assert.equal(message!.token, TOKEN, 'the bot token, as a Bearer header');
  assert.equal(message!.channel, CHANNEL);
  assert.equal(message!.text, activityTitle(record));
  assert.equal(message!.attachments!.length, 1);
  const attachment = message!.attachments![0]!;
  assert.equal(attachment.color, 'good');
  assert.equal(attachment.pretext, 'cafkit <!here>', 'the operator\'s pretext, markup kept');
  assert.equal(attachment.fallback, activityTitle(record));
  assert.equal(attachment.ts, String(Math.floor(Date.parse(record.ended_at!) / 1000)));
  const text = attachment.text as string;
  assert.ok(text.startsWith('Activity:\n') && text.endsWith('\n— cafkit'), text);
  assert.ok(text.includes('Note added &lt;b&gt;&amp;&lt;/b&gt; done'), 'our text is escaped for Slack');
  assert.equal(unescapeSlack(text.slice('Activity:\n'.length, -'\n— cafkit'.length)), renderText(record));
});

test('the attachment colour follows the status, unless text_color is set', async () => {
  const posted = newMessages();
  const sink = sinkFor();
  for (const status of ['succeeded', 'timed_out', 'failed', 'dead_lettered'] as const) await sink.deliver(activities.event({ status }));
  await sinkFor({ text_color: '36a64f' }).deliver(activities.event({ status: 'failed' }));
  assert.deepEqual(posted().map((m) => m.attachments![0]!.color), ['good', 'warning', 'danger', 'danger', '#36a64f']);
  assert.ok(posted().every((m) => m.attachments![0]!.pretext === undefined), 'no pretext unless configured');
});

test('base64: the attachment carries the base64 of the signed JSON between intro and end', async () => {
  const posted = newMessages();
  const event = activities.event();
  await sinkFor({ base64: true, body_intro: '[', body_end: ']' }).deliver(event);
  const text = posted()[0]!.attachments![0]!.text as string;
  assert.match(text, /^\[[A-Za-z0-9+/=]+\]$/);
  assert.equal(Buffer.from(text.slice(1, -1), 'base64').toString('utf8'), canonicalRecordText(event.record!));
});

test('statuses: only final activities of the listed statuses are accepted', () => {
  const sink = sinkFor({ statuses: ['failed'] });
  assert.equal(sink.accepts!(activities.event({ status: 'failed' })), true);
  assert.equal(sink.accepts!(activities.event({ status: 'succeeded' })), false);
  assert.equal(sink.accepts!({ kind: 'started', at: new Date().toISOString(), execution_id: 'x', correlation_id: null }), false);
});

test('Slack refusals throw with the error code, never the token, and post nothing', async () => {
  const posted = newMessages();
  const log = recordingLog();
  const badToken = 'xoxb-9999-not-a-known-token';
  await assert.rejects(sinkFor({ oauth_token: badToken }, log).deliver(activities.event()), (error: Error) => {
    assert.match(error.message, /^slack: chat\.postMessage to C0CAFKIT01 at https:\/\/127\.0\.0\.1:\d+\/api\/ refused: invalid_auth$/);
    return true;
  });
  await assert.rejects(sinkFor({ channel_id: 'C0NOSUCH00' }, log).deliver(activities.event()), /refused: channel_not_found$/);
  assert.equal(posted().length, 0);
  assert.ok(!log.lines.some((line) => line.includes(badToken) || line.includes(TOKEN)), 'no token in the logs');
});

test('a 429 with Retry-After: nothing is sent before it has passed, then the activity is posted once', { timeout: 20_000 }, async () => {
  const posted = newMessages();
  const firstArrival = slack.arrivals.length;
  const log = recordingLog();
  const sink = sinkFor({}, log);
  // Retries every 50-200 ms: the sink, not the reporter, must hold back.
  const reporter = new Reporter([sink], { overflow: 'drop_oldest', retry: { initialMs: 50, maxMs: 200 }, log, warnEveryMs: 0 });
  try {
    slack.rateLimit = { calls: 1, retryAfterSec: 1 };
    const event = activities.event();
    reporter.report(event);
    await eventually(() => posted().length === 1, 'the message posted after the rate limit', 15_000);
    const arrivals = slack.arrivals.slice(firstArrival);
    assert.deepEqual(arrivals.map((a) => a.status), [429, 200], 'one refused request, then one accepted: no hammering');
    assert.ok(arrivals[1]!.at - arrivals[0]!.at >= 1000, `the second request came ${arrivals[1]!.at - arrivals[0]!.at} ms after the 429 (Retry-After: 1 s)`);
    assert.equal(posted()[0]!.text, activityTitle(event.record!));
    assert.ok(reporter.stats().slack!.failed_attempts >= 1);
    assert.ok(log.lines.some((line) => /rate limiting chat\.postMessage; nothing more is sent for 1 s/.test(line)), 'the wait is logged');
    assert.equal((await reporter.drain(5_000)).drained, true);
    assert.equal(posted().length, 1, 'posted exactly once');
  } finally {
    slack.rateLimit = { calls: 0, retryAfterSec: 1 };
    await reporter.drain(1_000);
  }
});

test('a Retry-After of a day is capped: the channel is quiet for at most SLACK_MAX_RETRY_AFTER_S', async () => {
  const sink = sinkFor({});
  try {
    slack.rateLimit = { calls: 1, retryAfterSec: 86_400 };
    await assert.rejects(sink.deliver(activities.event()), new RegExp(`nothing more is sent for ${SLACK_MAX_RETRY_AFTER_S} s \\(Retry-After: 86400 s, capped\\)$`));
  } finally {
    slack.rateLimit = { calls: 0, retryAfterSec: 1 };
    await sink.close?.();
  }
});

test('timeout_ms: a Slack that never answers makes deliver throw', async (t) => {
  slack.hang = true;
  t.after(() => (slack.hang = false));
  await assert.rejects(sinkFor({ timeout_ms: 300 }).deliver(activities.event()), /^Error: slack: chat\.postMessage at https:\/\/127\.0\.0\.1:\d+\/api\/ failed: .*timeout/);
});

test('TLS: a Slack URL whose certificate is not from the configured CA is refused', async () => {
  const posted = newMessages();
  await assert.rejects(sinkFor({ tls: { ca: cert('rogue-ca.pem') } }).deliver(activities.event()), /slack: chat\.postMessage at .* failed: .*certificate/);
  assert.equal(posted().length, 0);
});

test('debug: the client logs its requests at debug level, with the token scrubbed', async () => {
  const quiet = recordingLog();
  await sinkFor({}, quiet).deliver(activities.event());
  assert.equal(quiet.lines.filter((line) => line.startsWith('debug')).length, 0, 'no debug lines unless debug');
  const verbose = recordingLog();
  await sinkFor({ debug: true }, verbose).deliver(activities.event());
  assert.ok(verbose.lines.some((line) => line.startsWith('debug') && line.includes('chat.postMessage')), verbose.lines.join('\n'));
  assert.ok(!verbose.lines.some((line) => line.includes(TOKEN) || line.includes(APP_TOKEN)));
});

test('the double refuses what Slack refuses', async () => {
  const agent = new https.Agent({ ca: readFileSync(cert('ca.pem')) });
  const url = new URL('chat.postMessage', slack.url);
  const call = async (method: string, headers: Record<string, string>, body?: string) => {
    const res = await sendRequest({ url, method, headers, body, agent, timeoutMs: 5_000 });
    return { status: res.status, error: (JSON.parse(res.body.toString('utf8')) as { error?: string }).error };
  };
  const form = 'application/x-www-form-urlencoded';
  try {
    assert.deepEqual(await call('GET', { authorization: `Bearer ${TOKEN}` }), { status: 405, error: 'method_not_allowed' });
    assert.deepEqual(await call('POST', { 'content-type': form }, `channel=${CHANNEL}&text=hi`), { status: 200, error: 'not_authed' });
    assert.deepEqual(await call('POST', { 'content-type': form }, `token=xoxp-user-token-0001&channel=${CHANNEL}`), { status: 200, error: 'no_text' }, 'token as a form field');
    assert.deepEqual(await call('POST', { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, JSON.stringify({ channel: CHANNEL, text: 'x'.repeat(40_001) })), { status: 200, error: 'msg_too_long' });
    assert.deepEqual(await call('POST', { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, JSON.stringify({ channel: CHANNEL, text: 'hi' })), { status: 200, error: undefined });
  } finally {
    agent.destroy();
  }
});
