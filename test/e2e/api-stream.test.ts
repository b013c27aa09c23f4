// The live feed (WS /executions/stream) behind a plain HTTP server on
// loopback, fed real signed execution events, read by real `ws` clients.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { ApiAuth, STREAM_SUBPROTOCOL } from '../../lib/api/auth.js';
import { ExecutionCache, type FeedEntry } from '../../lib/api/execution-cache.js';
import { StreamMessageSchema, type StreamMessage } from '../../lib/api/schemas.js';
import { attachStream, type StreamDeps, type StreamHandle } from '../../lib/api/stream.js';
import { ActivityRecorder } from '../../lib/activity/recorder.js';
import { openKeyring } from '../../lib/activity/keyring.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import type { ActivityEvent, ActivityStatus } from '../../lib/activity/record.js';
import type { Reporter } from '../../lib/activity/reporter.js';
import { registerSecret } from '../../lib/log/redact.js';
import { silentLog } from '../../lib/log/log.js';
import { build } from '../../lib/testing/index.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';
import { eventually } from '../support/stack.js';
import { transportLabel } from '../support/test-broker.js';

const READ_TOKEN = 'stream-read-token-0123456789';
const SENSITIVE_TOKEN = 'stream-sensitive-token-0123456789';
/** A value registered as a secret: it must not reach a `read`-only client. */
const SECRET_EMAIL = 'classified-analyst@example.com';
registerSecret(SECRET_EMAIL);

const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keyring = openKeyring(path.join(dir, 'keys'));

/** Real executions (the recorder, a ChainSigner) whose events go into `cache`. */
function executions(cache: ExecutionCache) {
  const reporter = { reportTo: (event: ActivityEvent) => void cache.deliver(event), sinkNames: () => ['api'] } as unknown as Reporter;
  const recorder = new ActivityRecorder({
    orgId: 201,
    identity: { host: 'test-host', version: '0.0.0' },
    signer: new ChainSigner(keyring, { chainId: `stream-${Math.random()}` }),
    reporter,
    always: ['api'],
    reportMemory: true,
    encodeB64Memory: false,
  });
  let n = 0;
  /** One execution from message to final record: 6 events (received, started, step_started, step_ended, reply, final). */
  return function run(options: { destination?: string; action?: string; processor?: string; incident?: number; status?: Exclude<ActivityStatus, 'received' | 'running'>; receivedAt?: string; email?: string } = {}): string {
    n++;
    const execution = recorder.open(options.destination ?? 'incident_ops', `invid:${n}`, options.receivedAt ?? new Date().toISOString());
    execution.parsed(ActionDataSchema.parse(build.message({ incident: build.incident({ id: options.incident ?? 2095 }), user: { id: 3, email: options.email ?? 'analyst@example.com' } } as never)));
    execution.started(options.action ?? 'Echo', options.processor ?? 'incident-ops', ['write']);
    const step = execution.stepStarted('write');
    execution.stepEnded(step, { output: { n } });
    execution.replied({ message_type: 0, message: 'done', complete: true });
    const status = options.status ?? 'succeeded';
    recorder.close(execution, status, status === 'succeeded' ? null : 'boom', { password: 'hunter22', n });
    return execution.executionId;
  };
}

interface Feed {
  url: string;
  cache: ExecutionCache;
  stream: StreamHandle;
  run: ReturnType<typeof executions>;
  /** Every entry the cache made, in order. */
  entries: FeedEntry[];
  stop(): Promise<void>;
}

const feeds = new Set<Feed>();
after(async () => {
  for (const feed of feeds) await feed.stop();
});

async function startFeed(options: { bufferSize?: number; deps?: Partial<StreamDeps> } = {}): Promise<Feed> {
  const cache = new ExecutionCache({ maxExecutions: 1000, bufferSize: options.bufferSize ?? 1000 });
  const entries: FeedEntry[] = [];
  cache.subscribe((entry) => entries.push(entry));
  const server = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const auth = new ApiAuth([
    { name: 'reader', token: READ_TOKEN, scopes: ['read'] },
    { name: 'admin', token: SENSITIVE_TOKEN, scopes: ['read', 'read:sensitive'] },
  ]);
  const stream = attachStream(server, { auth, cache, log: silentLog, ...options.deps });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  const feed: Feed = {
    url: `ws://127.0.0.1:${port}`,
    cache,
    stream,
    run: executions(cache),
    entries,
    async stop() {
      if (stopped) return;
      stopped = true;
      feeds.delete(feed);
      await stream.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  feeds.add(feed);
  return feed;
}

/** A connected client and what it has received. */
interface Client {
  ws: WebSocket;
  messages: StreamMessage[];
  events(): Array<Extract<StreamMessage, { type: 'event' }>>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves when `count` messages have arrived. */
  received(count: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

const clients = new Set<WebSocket>();
after(() => {
  for (const ws of clients) ws.terminate();
});

function open(feed: Feed, query = '', auth: 'header' | 'protocol' | 'sensitive' | 'none' | 'wrong' = 'header', options: WebSocket.ClientOptions = {}): WebSocket {
  const url = `${feed.url}/executions/stream${query ? `?${query}` : ''}`;
  const headers: Record<string, string> = {};
  let protocols: string[] | undefined;
  if (auth === 'header') headers['authorization'] = `Bearer ${READ_TOKEN}`;
  if (auth === 'sensitive') headers['authorization'] = `Bearer ${SENSITIVE_TOKEN}`;
  if (auth === 'wrong') headers['authorization'] = 'Bearer not-the-token-at-all';
  if (auth === 'protocol') protocols = [STREAM_SUBPROTOCOL, `cafkit.bearer.${READ_TOKEN}`];
  const ws = new WebSocket(url, protocols, { headers, ...options });
  clients.add(ws);
  return ws;
}

async function connect(feed: Feed, query = '', auth: Parameters<typeof open>[2] = 'header', options: WebSocket.ClientOptions = {}): Promise<Client> {
  const ws = open(feed, query, auth, options);
  const messages: StreamMessage[] = [];
  let wake = () => {};
  ws.on('message', (data, binary) => {
    assert.equal(binary, false, 'text frames only');
    messages.push(StreamMessageSchema.parse(JSON.parse(String(data))));
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  ws.on('error', () => undefined);
  await Promise.race([once(ws, 'open'), closed.then((c) => assert.fail(`closed before opening: ${c.code}`))]);
  return {
    ws,
    messages,
    events: () => messages.filter((m): m is Extract<StreamMessage, { type: 'event' }> => m.type === 'event'),
    closed,
    received: (count, what = `${count} messages`) =>
      eventually(
        () => messages.length >= count || undefined,
        what,
        10_000,
        (w) => {
          wake = w;
          return () => (wake = () => {});
        },
      ).then(() => undefined),
    async close() {
      ws.close();
      await closed;
    },
  };
}

/** The HTTP answer to an upgrade that is refused; fails if a WebSocket opens. */
async function refused(ws: WebSocket): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  ws.on('open', () => assert.fail('the WebSocket opened'));
  return await new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    ws.once('error', (error) => reject(error));
  });
}

const sequence = (cursor: string) => Number(cursor.split(':')[1]);

describe(`authentication before the upgrade [${transportLabel()}]`, () => {
  test('without a token or with a wrong one the upgrade is answered with HTTP 401 and no WebSocket is made', async () => {
    const feed = await startFeed();
    for (const auth of ['none', 'wrong'] as const) {
      const answer = await refused(open(feed, '', auth));
      assert.equal(answer.status, 401, auth);
      assert.equal(answer.headers['www-authenticate'], 'Bearer realm="cafkit"');
      assert.deepEqual(JSON.parse(answer.body), { error: 'unauthorized', message: 'a bearer token is required' });
    }
    const wrongProtocol = new WebSocket(`${feed.url}/executions/stream`, [STREAM_SUBPROTOCOL, 'cafkit.bearer.wrong-token-0123']);
    clients.add(wrongProtocol);
    assert.equal((await refused(wrongProtocol)).status, 401, 'a wrong token in the subprotocol');
    assert.equal(feed.stream.clients(), 0);
  });

  test('a token in the Authorization header opens the feed, without a subprotocol', async () => {
    const feed = await startFeed();
    const client = await connect(feed, '', 'header');
    assert.equal(client.ws.protocol, '');
    await client.received(1, 'ready');
    assert.deepEqual(client.messages[0], { type: 'ready', cursor: feed.cache.cursor });
    assert.equal(feed.stream.clients(), 1);
    await client.close();
  });

  test('a token in the cafkit.bearer.<token> subprotocol opens the feed, answered with cafkit.v1', async () => {
    const feed = await startFeed();
    const client = await connect(feed, '', 'protocol');
    assert.equal(client.ws.protocol, STREAM_SUBPROTOCOL);
    await client.received(1, 'ready');
    assert.equal(client.messages[0]!.type, 'ready');
    const only = new WebSocket(`${feed.url}/executions/stream`, [`cafkit.bearer.${READ_TOKEN}`]);
    clients.add(only);
    const answer = await refused(only);
    assert.equal(answer.status, 400, 'the token subprotocol alone: the server could not answer with cafkit.v1');
    assert.match(JSON.parse(answer.body).message, /cafkit\.v1/);
    await client.close();
  });

  test('another path is 404 (401 without a token); a bad filter or cursor is 400 naming the parameter, before any WebSocket', async () => {
    const feed = await startFeed();
    const other = new WebSocket(`${feed.url}/executions/other`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    clients.add(other);
    assert.equal((await refused(other)).status, 404);
    const otherWithout = new WebSocket(`${feed.url}/executions/other`);
    clients.add(otherWithout);
    assert.equal((await refused(otherWithout)).status, 401, 'the token first, whatever the path');
    const bad: Array<[string, string]> = [
      ['status=bogus', 'status'],
      ['status=failed,nope', 'status'],
      ['incident=12ab', 'incident'],
      ['since=yesterday', 'since'],
      ['until=2025-13-45', 'until'],
      ['cursor=garbage', 'cursor'],
      ['destination=a&destination=b', 'destination'],
      ['statuss=failed', 'statuss'],
    ];
    for (const [query, parameter] of bad) {
      const answer = await refused(open(feed, query));
      assert.equal(answer.status, 400, query);
      const body = JSON.parse(answer.body);
      assert.equal(body.error, 'bad_request');
      assert.match(body.message, new RegExp(`\\b${parameter}\\b`), query);
    }
    assert.equal(feed.stream.clients(), 0);
  });
});

describe(`events [${transportLabel()}]`, () => {
  test('each event as it happens, in order, with the execution summary (no steps, replies or memory)', async () => {
    const feed = await startFeed();
    const client = await connect(feed);
    await client.received(1, 'ready');
    const id = feed.run({ action: 'Echo', incident: 77 });
    await client.received(7, 'the six events');
    const events = client.events();
    assert.deepEqual(events.map((e) => e.event.kind), ['received', 'started', 'step_started', 'step_ended', 'reply', 'completed']);
    assert.deepEqual(events.map((e) => e.cursor), feed.entries.map((e) => e.cursor));
    for (const e of events) {
      assert.equal(e.event.execution_id, id);
      assert.equal(e.execution.execution_id, id);
      for (const key of ['steps', 'replies', 'memory', 'record', 'error']) assert.equal(key in e.execution, false, key);
    }
    assert.equal(events[0]!.execution.status, 'received');
    assert.equal(events[1]!.execution.status, 'running');
    assert.equal(events[1]!.execution.action_name, 'Echo');
    const last = events.at(-1)!.execution;
    assert.equal(last.status, 'succeeded');
    assert.equal(last.incident_id, 77);
    assert.equal(typeof last.duration_ms, 'number');
    await client.close();
  });

  test('filters select events by their execution: status, destination, action, processor, incident, since, until', async () => {
    const feed = await startFeed();
    const queries = {
      failed: 'status=failed',
      live: 'status=received&status=running',
      destination: 'destination=other_ops',
      action: 'action=Add%20Note',
      processor: 'processor=notes',
      incident: 'incident=1',
      since: 'since=2025-03-01T00:00:00Z',
      until: 'until=2025-03-01T00:00:00Z',
      none: 'status=timed_out',
    };
    const connected = Object.fromEntries(await Promise.all(Object.entries(queries).map(async ([name, query]) => [name, await connect(feed, query)] as const)));
    for (const client of Object.values(connected)) await client.received(1, 'ready');
    const a = feed.run({ destination: 'incident_ops', action: 'Echo', processor: 'incident-ops', incident: 1, status: 'succeeded', receivedAt: '2025-01-01T00:00:00.000Z' });
    const b = feed.run({ destination: 'other_ops', action: 'Add Note', processor: 'notes', incident: 2, status: 'failed', receivedAt: '2025-06-01T00:00:00.000Z' });
    // The server answers a client's close frame after everything it sent before: closing is the barrier.
    for (const client of Object.values(connected)) await client.close();
    const label = (id: string) => (id === a ? 'a' : id === b ? 'b' : `unknown ${id}`);
    const seen = (name: keyof typeof queries) => connected[name]!.events().map((e) => `${label(e.execution.execution_id)}:${e.event.kind}`);
    const stages = ['received', 'started', 'step_started', 'step_ended', 'reply'];
    const from = (x: string, kinds: string[]) => kinds.map((k) => `${x}:${k}`);
    assert.deepEqual(seen('failed'), ['b:failed']);
    assert.deepEqual(seen('live'), [...from('a', stages), ...from('b', stages)]);
    assert.deepEqual(seen('destination'), from('b', [...stages, 'failed']));
    // The action, processor and incident are known from the `started` event on.
    assert.deepEqual(seen('action'), from('b', [...stages.slice(1), 'failed']));
    assert.deepEqual(seen('processor'), from('b', [...stages.slice(1), 'failed']));
    assert.deepEqual(seen('incident'), from('a', [...stages.slice(1), 'completed']));
    assert.deepEqual(seen('since'), from('b', [...stages, 'failed']));
    assert.deepEqual(seen('until'), from('a', [...stages, 'completed']));
    assert.deepEqual(seen('none'), []);
  });

  test('values are redacted unless the token has read:sensitive', async () => {
    const feed = await startFeed();
    const reader = await connect(feed, '', 'header');
    const admin = await connect(feed, '', 'sensitive');
    await Promise.all([reader.received(1), admin.received(1)]);
    feed.run({ email: SECRET_EMAIL });
    await Promise.all([reader.received(7), admin.received(7)]);
    assert.equal(reader.events().at(-1)!.execution.user?.email, '[redacted]');
    assert.equal(admin.events().at(-1)!.execution.user?.email, SECRET_EMAIL);
    await reader.close();
    await admin.close();
  });
});

describe(`resume [${transportLabel()}]`, () => {
  test('reconnecting with the last cursor gets every event exactly once, in order: backlog, ready, then live', async () => {
    const feed = await startFeed();
    const first = await connect(feed);
    await first.received(1, 'ready');
    feed.run();
    feed.run();
    await first.received(13, 'two executions');
    const lastCursor = first.events().at(-1)!.cursor;
    await first.close();
    feed.run();
    feed.run();
    feed.run();
    const second = await connect(feed, `cursor=${encodeURIComponent(lastCursor)}`);
    await second.received(19, 'the backlog of three executions and ready');
    assert.deepEqual(second.messages.at(-1), { type: 'ready', cursor: feed.cache.cursor });
    assert.equal(second.messages.filter((m) => m.type === 'gap').length, 0);
    feed.run();
    await second.received(25, 'a live execution');
    const cursors = [...first.events(), ...second.events()].map((e) => e.cursor);
    assert.deepEqual(cursors, feed.entries.map((e) => e.cursor), 'every event once, in order');
    assert.equal(feed.entries.length, 36);
    await second.close();
  });

  test('clients connecting and resuming while events keep arriving see an unbroken sequence', async () => {
    const feed = await startFeed({ bufferSize: 100_000 });
    let producing = true;
    const producer = (async () => {
      while (producing) {
        feed.run();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      const sessions: string[][] = [];
      for (let i = 0; i < 10; i++) {
        let cursor: string | undefined;
        const seen: string[] = [];
        for (let round = 0; round < 3; round++) {
          const client = await connect(feed, cursor ? `cursor=${cursor}` : '');
          await client.received(20, 'some events');
          await client.close();
          seen.push(...client.events().map((e) => e.cursor));
          // The ready cursor is where the live part starts: without a cursor, the first event follows it.
          const ready = client.messages.find((m) => m.type === 'ready')!;
          if (!cursor) seen.unshift(`ready:${ready.cursor}`);
          cursor = client.events().at(-1)!.cursor;
        }
        sessions.push(seen);
      }
      for (const seen of sessions) {
        const start = sequence(seen.shift()!.slice('ready:'.length));
        const numbers = seen.map(sequence);
        assert.deepEqual(numbers, numbers.map((_, i) => start + 1 + i), 'consecutive cursors after the first ready: none lost, none twice');
      }
    } finally {
      producing = false;
      await producer;
    }
  });

  test('a backlog far above 4 MiB is paced to the reader, not cut off as slow', async () => {
    const feed = await startFeed({ bufferSize: 3000 });
    // About 1,800 events of 16 KiB: some 28 MiB to resume through.
    const action = 'B'.repeat(16 * 1024);
    for (let i = 0; i < 300; i++) feed.run({ action });
    const boot = feed.cache.cursor.split(':')[0]!;
    const client = await connect(feed, `cursor=${boot}:0`);
    await client.received(feed.entries.length + 1, 'the whole backlog and ready');
    assert.deepEqual(client.events().map((e) => e.cursor), feed.entries.map((e) => e.cursor));
    assert.deepEqual(client.messages.at(-1), { type: 'ready', cursor: feed.cache.cursor });
    feed.run();
    await client.received(feed.entries.length + 1, 'then live events (ready counted once)');
    assert.deepEqual(client.events().map((e) => e.cursor), feed.entries.map((e) => e.cursor));
    await client.close();
  });

  test('gap first when the cursor is older than the buffer, then what the buffer holds, then ready', async () => {
    const feed = await startFeed({ bufferSize: 12 });
    for (let i = 0; i < 5; i++) feed.run();
    const old = feed.entries[2]!.cursor;
    const client = await connect(feed, `cursor=${old}`);
    await client.received(14, 'gap, 12 buffered events, ready');
    assert.deepEqual(client.messages[0], { type: 'gap', cursor: feed.cache.cursor });
    assert.deepEqual(client.events().map((e) => e.cursor), feed.entries.slice(-12).map((e) => e.cursor));
    assert.deepEqual(client.messages.at(-1), { type: 'ready', cursor: feed.cache.cursor });
    await client.close();
  });

  test('gap first when the cursor is from another process', async () => {
    const feed = await startFeed();
    feed.run();
    const client = await connect(feed, 'cursor=0ther0ne:3');
    await client.received(8, 'gap, 6 events, ready');
    assert.deepEqual(client.messages[0], { type: 'gap', cursor: feed.cache.cursor });
    assert.equal(client.messages.at(-1)!.type, 'ready');
    // The cursor the server handed out is good for resuming: nothing more is missing.
    await client.close();
    const again = await connect(feed, `cursor=${feed.cache.cursor}`);
    await again.received(1);
    assert.deepEqual(again.messages, [{ type: 'ready', cursor: feed.cache.cursor }]);
    await again.close();
  });
});

describe(`flow control and shutdown [${transportLabel()}]`, () => {
  test('a client that stops reading is closed with 1013 once 4 MiB wait for it, not buffered without bound', async () => {
    const feed = await startFeed({ bufferSize: 100 });
    const slow = await connect(feed);
    await slow.received(1, 'ready');
    const reader = await connect(feed, 'status=failed');
    const socket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    // Big events (a 64 KiB action name) fill the socket buffers fast; bounded at 2,000 executions.
    const action = 'A'.repeat(64 * 1024);
    for (let i = 0; i < 2000 && feed.stream.clients() === 2; i++) {
      feed.run({ action });
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(feed.stream.clients(), 1, 'the slow client was let go; the other one stays');
    socket.resume();
    const { code } = await slow.closed;
    assert.equal(code, 1013);
    const cursors = slow.events().map((e) => sequence(e.cursor));
    assert.ok(cursors.length > 0);
    assert.deepEqual(cursors, cursors.map((_, i) => cursors[0]! + i), 'what it got before the close is in order with no hole');
    assert.equal(reader.ws.readyState, WebSocket.OPEN);
    feed.run({ status: 'failed' });
    await reader.received(2, 'the other client still gets events');
    await reader.close();
  });

  test('a peer that does not answer pings is terminated; one that does stays', async () => {
    const feed = await startFeed({ deps: { pingMs: 50 } });
    const live = await connect(feed);
    const dead = await connect(feed, '', 'header', { autoPong: false });
    let pings = 0;
    live.ws.on('ping', () => pings++);
    const { code } = await dead.closed;
    assert.equal(code, 1006, 'cut off without a close frame');
    await eventually(() => pings >= 4 || undefined, 'four pings answered', 5000);
    assert.equal(live.ws.readyState, WebSocket.OPEN);
    assert.equal(feed.stream.clients(), 1);
    await live.close();
  });

  test('close() closes every client with 1001 and resolves even when a client does not read', async () => {
    const feed = await startFeed({ deps: { closeGraceMs: 300 } });
    const a = await connect(feed);
    const b = await connect(feed, '', 'protocol');
    const stuck = await connect(feed);
    await Promise.all([a.received(1), b.received(1), stuck.received(1)]);
    (stuck.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    assert.equal(feed.stream.clients(), 3);
    await feed.stream.close();
    assert.equal(feed.stream.clients(), 0);
    assert.equal((await a.closed).code, 1001);
    assert.equal((await b.closed).code, 1001);
    (stuck.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
    const stuckClose = await stuck.closed;
    assert.ok([1001, 1006].includes(stuckClose.code), `the stuck one got the close frame or was cut off (${stuckClose.code})`);
    await feed.stop();
  });
});

describe(`through the real stack [${transportLabel()}]`, () => {
  test('an Echo triggered through the emulator shows on the feed of startApiServer, received to completed', async (t) => {
    const { startPlatform, processorConfig, EXAMPLES } = await import('../support/stack.js');
    const { createActivitySystem } = await import('../../lib/activity/system.js');
    const { createRuntime } = await import('../../lib/runtime/runtime.js');
    const { loadProcessors } = await import('../../lib/runtime/load-processors.js');
    const { createLogger } = await import('../../lib/log/logger.js');
    const { startApiServer } = await import('../../lib/api/server.js');
    const home = mkdtempSync(path.join(tmpdir(), 'cafkit-stream-stack-'));
    // Stopped in reverse order of starting, each by its own handle, whatever fails.
    const stops: Array<() => Promise<unknown> | unknown> = [() => rmSync(home, { recursive: true, force: true })];
    t.after(async () => {
      for (const stop of stops.reverse()) await Promise.resolve().then(stop).catch(() => undefined);
    });
    const platform = await startPlatform();
    stops.push(() => platform.stop());
    const config = processorConfig(platform, (c) => {
      c.activity.stores = [];
      c.activity.keys_dir = path.join(home, 'keys');
      c.api.port = 0;
      c.api.tokens = [{ name: 'ops', token: READ_TOKEN, scopes: ['read'] }];
    });
    const log = createLogger({ level: process.env['CAFKIT_TEST_LOG'] ? 'debug' : 'error' });
    const cache = new ExecutionCache({ maxExecutions: 100, bufferSize: 100 });
    const activity = await createActivitySystem(config, log, { ...process.env, CAFKIT_HOME: home }, [cache]);
    stops.push(() => activity?.close(2000));
    const runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log, activity });
    stops.push(() => runtime.stop(5000));
    await runtime.start(AbortSignal.timeout(30_000));
    const api = await startApiServer({ config: config.api, home, log, runtime, activity, cache });
    stops.push(() => api.close());

    const ws = new WebSocket(`${api.url.replace(/^http/, 'ws')}/executions/stream?destination=incident_ops&action=Echo`, [STREAM_SUBPROTOCOL, `cafkit.bearer.${READ_TOKEN}`]);
    clients.add(ws);
    const messages: StreamMessage[] = [];
    ws.on('message', (data) => messages.push(StreamMessageSchema.parse(JSON.parse(String(data)))));
    await once(ws, 'open');
    await eventually(() => messages.some((m) => m.type === 'ready') || undefined, 'ready', 10_000);
    const invocation = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: 'over the feed' } });
    assert.equal((await platform.emulator.waitFor(invocation.id, { timeoutMs: 60_000, status: 'done' })).status, 'completed');
    const events = await eventually(() => {
      const got = messages.filter((m): m is Extract<StreamMessage, { type: 'event' }> => m.type === 'event');
      return got.some((e) => e.event.kind === 'completed') ? got : undefined;
    }, 'the completed event on the feed', 20_000);
    const id = events.at(-1)!.execution.execution_id;
    const kinds = events.filter((e) => e.execution.execution_id === id).map((e) => e.event.kind);
    // `received` carries no action yet, so the action filter lets the execution in from `started`.
    assert.equal(kinds[0], 'started');
    assert.ok(kinds.includes('reply'), kinds.join());
    assert.equal(kinds.at(-1), 'completed');
    const final = events.at(-1)!.execution;
    assert.equal(final.status, 'succeeded');
    assert.equal(final.action_name, 'Echo');
    assert.equal(final.incident_id, 2095);
    const cursors = events.map((e) => sequence(e.cursor));
    assert.deepEqual(cursors, [...cursors].sort((x, y) => x - y), 'in cursor order');

    // An unfiltered reconnect from the start replays it from `received`.
    const replay = await connect({ url: api.url.replace(/^http/, 'ws') } as Feed, `cursor=${encodeURIComponent(events[0]!.cursor.split(':')[0]!)}:0`);
    await eventually(() => replay.messages.some((m) => m.type === 'ready') || undefined, 'the replay', 10_000);
    assert.deepEqual(
      replay.events().filter((e) => e.execution.execution_id === id).map((e) => e.event.kind),
      ['received', ...kinds],
    );
    const detail = await fetch(`${api.url}/executions/${id}`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    assert.equal(detail.status, 200);
    assert.equal(((await detail.json()) as { status: string }).status, 'succeeded');
    ws.close();
    await replay.close();
  });
});
