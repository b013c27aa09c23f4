import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import WebSocket from 'ws';
import { eventually, startPlatform, processorConfig, spawnProcessor, EXAMPLES, type Platform } from '../support/stack.js';
import { createActivitySystem, type ActivitySystem } from '../../lib/activity/system.js';
import { openActivityStore } from '../../lib/activity/sql-store.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import type { ActivityRecord } from '../../lib/activity/record.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { loadProcessors } from '../../lib/runtime/load-processors.js';
import { brokerLink, transportLabel } from '../support/test-broker.js';
import { createLogger } from '../../lib/log/logger.js';
import type { Config } from '../../lib/config/schema.js';
import { ExecutionCache } from '../../lib/api/execution-cache.js';
import { startApiServer, type ApiServer } from '../../lib/api/server.js';
import type { ExecutionDetail, ExecutionList, ExecutionSummary } from '../../lib/api/schemas.js';

const READ = 'read-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const log = createLogger({ level: process.env['CAFKIT_TEST_LOG'] ? 'debug' : 'error' });

/** A response as the tests look at it; every one is kept for the OpenAPI check. */
interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

describe(`operator API against a real broker, emulator and SQLite store [${transportLabel()}]`, () => {
  let platform: Platform;
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-api-'));
  const sqlite = `sqlite:${path.join(dir, 'activities.db')}`;
  let config: Config;
  let processor: { runtime: Runtime; activity: ActivitySystem | undefined; cache: ExecutionCache; api: ApiServer } | undefined;
  /** Every answer, by route template and status, for the OpenAPI check. */
  const answers: Array<{ route: string; status: number; body: unknown; contentType: string }> = [];
  /** Executions triggered, by correlation id. */
  const triggered = new Map<string, { action: string; incident: number | null; status: string }>();

  async function startProcessor(): Promise<NonNullable<typeof processor>> {
    const cache = new ExecutionCache({ maxExecutions: config.api.cache_executions, bufferSize: config.api.stream_buffer });
    const activity = await createActivitySystem(config, log, { ...process.env, CAFKIT_HOME: dir }, [cache]);
    const runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log, activity });
    await runtime.start(AbortSignal.timeout(30_000));
    const api = await startApiServer({ config: config.api, home: dir, log, runtime, activity, cache });
    processor = { runtime, activity, cache, api };
    return processor;
  }
  async function stopProcessor(): Promise<void> {
    const p = processor;
    processor = undefined;
    await p?.api.close();
    await p?.runtime.stop(5000);
  }

  /** GET `url` (relative to the API) with `token`; records the answer under `route`. */
  /** GET with `token` (null: none). */
  async function get(pathAndQuery: string, token: string | null = READ, route?: string, init: RequestInit = {}): Promise<Answer> {
    const res = await fetch(`${processor!.api.url}${pathAndQuery}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    const body = contentType.startsWith('application/json') ? JSON.parse(text) : text;
    if (route) answers.push({ route, status: res.status, body, contentType });
    return { status: res.status, headers: res.headers, body, text };
  }
  const list = async (query: string, token = READ) => {
    const answer = await get(`/executions${query ? `?${query}` : ''}`, token, '/executions');
    assert.equal(answer.status, 200, answer.text);
    return answer.body as ExecutionList;
  };
  /** Every execution a filter lists, following next_cursor, with the page size given. */
  async function all(query: string, limit = 500): Promise<ExecutionSummary[]> {
    const items: ExecutionSummary[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const page = await list([query, `limit=${limit}`, cursor ? `cursor=${cursor}` : ''].filter(Boolean).join('&'));
      assert.ok(page.items.length <= limit);
      items.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) return items;
    }
    assert.fail('paging did not end');
  }
  const correlations = (items: ExecutionSummary[]) => items.map((i) => i.correlation_id);

  async function trigger(action: string, properties: Record<string, unknown>, incident = 2095, wait = true): Promise<string> {
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action, incident, properties });
    triggered.set(inv.correlation_id, { action, incident, status: 'succeeded' });
    if (wait) await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    return inv.correlation_id;
  }

  before(async () => {
    platform = await startPlatform();
    config = processorConfig(platform, (c) => {
      c.activity.stores = [sqlite];
      c.activity.keys_dir = path.join(dir, 'keys');
      c.activity.report_memory = true;
      c.api.port = 0;
      c.api.tokens = [
        { name: 'ops', token: READ, scopes: ['read'] },
        { name: 'admin', token: ADMIN, scopes: ['read', 'read:sensitive'] },
      ];
    });
    await startProcessor();
    await trigger('Echo', { note_text: 'hello' });
    await trigger('Add Note', { note_text: 'a note from the API test' });
    await trigger('Set Severity', { severity: 'High' }, 2095);
    await trigger('Echo', { note_text: 'on 2096' }, 2096);
    platform.emulator.setFaults({ conflicts: 1000 });
    try {
      // Low is not 2096's severity yet, so the action has to PUT, and every PUT conflicts.
      const failed = await trigger('Set Severity', { severity: 'Low' }, 2096);
      triggered.get(failed)!.status = 'failed';
    } finally {
      platform.emulator.setFaults({ conflicts: 0 });
    }
    const b = platform.broker;
    const link = brokerLink(b);
    await link.connect();
    await link.send(`/queue/actions.${b.orgId}.incident_ops`, '{broken', { headers: { 'reply-to': `/queue/acks.${b.orgId}.api`, 'correlation-id': 'api-bad' } });
    await link.close();
    triggered.set('api-bad', { action: '', incident: null, status: 'dead_lettered' });
    // Every execution finished and stored: the cache has its final state, the store its record.
    await eventually(async () => {
      const store = processor!.cache.newestFirst();
      return store.length === triggered.size && store.every((s) => s.record) && (await countStored()) === triggered.size;
    }, 'every execution to be finished and stored');
  });

  async function countStored(): Promise<number> {
    const store = await openActivityStore(sqlite);
    try {
      const rows = await store.connection.all<{ n: number }>('SELECT COUNT(*) AS n FROM activities');
      return Number(rows[0]!.n);
    } finally {
      await store.close();
    }
  }

  after(async () => {
    await stopProcessor();
    await platform?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('lists every execution newest first, with what it is about and how it ended', async () => {
    const page = await list('');
    assert.deepEqual(new Set(correlations(page.items)), new Set(triggered.keys()));
    assert.equal(page.next_cursor, null);
    const ids = page.items.map((i) => i.execution_id);
    assert.deepEqual(ids, ids.slice().sort().reverse(), 'newest (greatest UUID v7) first');
    assert.equal(page.items[0]!.correlation_id, 'api-bad', 'the last one sent comes first');
    for (const item of page.items) {
      const expected = triggered.get(item.correlation_id!)!;
      assert.equal(item.status, expected.status, item.correlation_id!);
      if (item.status === 'dead_lettered') continue;
      assert.equal(item.action_name, expected.action);
      assert.equal(item.incident_id, expected.incident);
      assert.equal(item.destination, 'incident_ops');
      assert.equal(item.processor, 'incident-ops');
      assert.ok(item.duration_ms !== null && item.duration_ms >= 0);
    }
  });

  test('each filter and their combinations select exactly the matching executions', async () => {
    const expect = (pred: (c: string, t: { action: string; incident: number | null; status: string }) => boolean) =>
      new Set([...triggered].filter(([c, t]) => pred(c, t)).map(([c]) => c));
    const check = async (query: string, pred: Parameters<typeof expect>[0], empty = false) => {
      const got = correlations(await all(query, 2));
      assert.equal(new Set(got).size, got.length, `${query}: no duplicates`);
      assert.deepEqual(new Set(got), expect(pred), query);
      assert.equal(got.length === 0, empty, `${query} selects ${empty ? 'nothing' : 'something'}`);
    };
    await check('status=failed', (_c, t) => t.status === 'failed');
    await check('status=failed,dead_lettered', (_c, t) => t.status !== 'succeeded');
    await check('status=failed&status=succeeded', (_c, t) => t.status !== 'dead_lettered');
    await check('destination=incident_ops', () => true);
    await check('destination=none', () => false, true);
    await check('action=Echo', (_c, t) => t.action === 'Echo');
    await check('action=Set+Severity&status=succeeded', (_c, t) => t.action === 'Set Severity' && t.status === 'succeeded');
    await check('processor=incident-ops', (_c, t) => t.status !== 'dead_lettered');
    await check('incident=2096', (_c, t) => t.incident === 2096);
    await check('incident=2095&action=Echo', (_c, t) => t.incident === 2095 && t.action === 'Echo');
    await check('incident=2096&status=failed&processor=incident-ops&destination=incident_ops', (_c, t) => t.incident === 2096 && t.status === 'failed');
    // Time windows on received_at: split at the third execution's arrival.
    const oldestFirst = (await list('')).items.slice().reverse();
    const cut = oldestFirst[2]!.received_at;
    const before = new Set(oldestFirst.filter((i) => i.received_at < cut).map((i) => i.correlation_id!));
    await check(`until=${cut}`, (c) => before.has(c));
    await check(`since=${cut}`, (c) => !before.has(c));
    await check(`since=${oldestFirst[0]!.received_at}&until=${cut}&action=Echo`, (c, t) => before.has(c) && t.action === 'Echo');
    await check('since=2000-01-01&until=2000-01-02', () => false, true);
  });

  test('a bad filter value is 400 naming the parameter, in the error shape', async () => {
    const cases: Array<[string, RegExp]> = [
      ['status=done', /status/],
      ['incident=twenty', /incident/],
      ['since=yesterday', /since/],
      ['until=2025-02-30T25:00:00Z', /until/],
      ['limit=0', /limit/],
      ['limit=501', /limit/],
      ['cursor=not-a-cursor', /cursor/],
      ['destination=a&destination=b', /destination/],
      ['colour=blue', /colour/],
    ];
    for (const [query, names] of cases) {
      const answer = await get(`/executions?${query}`, READ, '/executions');
      assert.equal(answer.status, 400, query);
      assert.equal((answer.body as { error: string }).error, 'bad_request');
      assert.match((answer.body as { message: string }).message, names, query);
    }
  });

  test('one execution in full; memory and secrets redacted for read, all of it for read:sensitive; 404 for an unknown id', async () => {
    const listed = (await list('action=Echo&incident=2095')).items[0]!;
    const read = await get(`/executions/${listed.execution_id}`, READ, '/executions/{id}');
    assert.equal(read.status, 200, read.text);
    const detail = read.body as ExecutionDetail;
    assert.equal(detail.execution_id, listed.execution_id);
    assert.equal(detail.memory, '[redacted]');
    assert.equal(detail.record?.memory, '[redacted]');
    assert.equal(detail.replies.at(-1)?.complete, true);
    const admin = await get(`/executions/${listed.execution_id}`, ADMIN, '/executions/{id}');
    const full = admin.body as ExecutionDetail;
    assert.deepEqual(full.memory, { properties: { note_text: 'hello' } });
    // The unredacted record is the stored one, byte for byte once canonical: its signature verifies.
    const store = await openActivityStore(sqlite);
    const stored: ActivityRecord[] = [];
    for await (const r of store.read()) stored.push(r);
    await store.close();
    assert.equal(canonicalRecordText(full.record!), canonicalRecordText(stored.find((r) => r.execution_id === listed.execution_id)!));
    const missing = await get('/executions/01936b1e-0000-7000-8000-000000000000', READ, '/executions/{id}');
    assert.equal(missing.status, 404);
    assert.equal((missing.body as { error: string }).error, 'not_found');
  });

  test('without a valid token every route is 401 with WWW-Authenticate; other methods 405 with Allow', async () => {
    const id = (await list('')).items[0]!.execution_id;
    const routes: Array<[string, string]> = [
      ['/executions', '/executions'],
      [`/executions/${id}`, '/executions/{id}'],
      ['/executions/stream', '/executions/stream'],
      ['/health', '/health'],
      ['/metrics', '/metrics'],
      ['/openapi.json', '/openapi.json'],
      ['/no/such/route', ''],
    ];
    for (const [url, route] of routes) {
      for (const token of [null, 'wrong-token-0123456789abcdef', `${READ}x`]) {
        const answer = await get(url, token ?? null, route || undefined);
        assert.equal(answer.status, 401, `${url} with ${token ?? 'no token'}`);
        assert.equal(answer.headers.get('www-authenticate'), 'Bearer realm="cafkit"');
        assert.deepEqual(answer.body, { error: 'unauthorized', message: 'a bearer token is required' });
      }
    }
    const basic = await fetch(`${processor!.api.url}/executions`, { headers: { authorization: `Basic ${Buffer.from(`x:${READ}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await get('/executions', READ, '/executions', { method });
      assert.equal(answer.status, 405, method);
      assert.equal(answer.headers.get('allow'), 'GET');
      assert.equal((answer.body as { error: string }).error, 'method_not_allowed');
    }
    // The dashboard's files too; its challenge is Basic first, which a browser answers with its sign-in dialog.
    for (const [url, route] of [['/', '/'], ['/assets/app.js', '/assets/{file}'], ['/assets/nope.js', '/assets/{file}']] as const) {
      for (const authorization of [undefined, `Basic ${Buffer.from('x:wrong-token-0123456789').toString('base64')}`, 'Bearer wrong-token-0123456789abcdef']) {
        const res = await fetch(`${processor!.api.url}${url}`, { headers: authorization ? { authorization } : {} });
        const body = (await res.json()) as { error: string };
        answers.push({ route, status: res.status, body, contentType: res.headers.get('content-type') ?? '' });
        assert.equal(res.status, 401, `${url} with ${authorization ?? 'nothing'}`);
        assert.equal(body.error, 'unauthorized');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="cafkit dashboard", charset="UTF-8", Bearer realm="cafkit"$/);
      }
    }
    assert.equal((await get('/', READ, '/', { method: 'POST' })).status, 405);
    const unknown = await get('/no/such/route', READ);
    assert.equal(unknown.status, 404);
    const plain = await get('/executions/stream', READ, '/executions/stream');
    assert.equal(plain.status, 426, 'a plain GET of the feed asks for the upgrade');
  });

  test('the dashboard is served with a token (bearer, or Basic with the token as the password), with types and ETags, and nothing outside its folder', async () => {
    const page = await get('/', READ, '/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.text, /<script type="module" src="assets\/app\.js">/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const etag = page.headers.get('etag');
    assert.ok(etag);
    assert.equal((await get('/', READ, undefined, { headers: { 'if-none-match': etag } })).status, 304);
    assert.doesNotMatch(page.text, /cafkit-token/, 'a bearer request gets the plain page');
    // A browser signed in with Basic credentials gets the page with its token, not cached.
    const signedIn = await fetch(`${processor!.api.url}/`, { headers: { authorization: `Basic ${Buffer.from(`analyst:${READ}`).toString('base64')}` } });
    assert.equal(signedIn.status, 200);
    assert.equal(signedIn.headers.get('cache-control'), 'no-store');
    assert.ok((await signedIn.text()).includes(`<meta name="cafkit-token" content="${READ}">`));
    const js = await get('/assets/app.js', READ, '/assets/{file}');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.text, readFileSync(path.join(EXAMPLES, '..', 'lib', 'api', 'dashboard', 'app.js'), 'utf8'));
    const css = await get('/assets/style.css', READ, '/assets/{file}');
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    for (const bad of ['/assets/nope.js', '/assets/..%2Fserver.ts', '/assets/%2e%2e%2fserver.ts', '/assets/.hidden.js', '/assets/index.html%00.js', '/assets/server.ts']) {
      const answer = await get(bad, READ, '/assets/{file}');
      assert.equal(answer.status, 404, bad);
      assert.equal((answer.body as { error: string }).error, 'not_found');
    }
    // A path that walks out of /assets/ is another route, which takes no Basic credentials.
    const out = await fetch(`${processor!.api.url}/assets/../executions`, { headers: { authorization: `Basic ${Buffer.from(`x:${READ}`).toString('base64')}` } });
    assert.equal(out.status, 401);
  });

  test('pages cover executions only in SQLite (after a restart) and one only in the cache (running), with no duplicate or gap', async () => {
    const before = correlations(await all(''));
    await stopProcessor();
    const p = await startProcessor();
    // The new process's cache is empty: everything listed so far comes from SQLite alone.
    assert.equal(p.cache.newestFirst().length, 0);
    const afterRestart = await all('', 2);
    assert.deepEqual(correlations(afterRestart), before, 'the same executions, in the same order, from the store');

    await trigger('Echo', { note_text: 'after restart' }, 2096);
    // A REST call that takes a while keeps Add Note running; it is in the cache only.
    platform.emulator.setFaults({ latencyMs: 6000 });
    let slow: string;
    try {
      slow = await trigger('Add Note', { note_text: 'slow' }, 2096, false);
      const running = await eventually(() => p.cache.newestFirst().find((s) => s.correlation_id === slow && s.status === 'running'), 'the slow action to run');
      assert.equal(running.record, undefined);
      const pages: ExecutionSummary[][] = [];
      let cursor: string | null = null;
      do {
        const page = await list(`limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        pages.push(page.items);
        cursor = page.next_cursor;
      } while (cursor);
      const seen = pages.flat();
      assert.ok(pages.length >= 3, 'several pages');
      assert.equal(seen[0]!.correlation_id, slow, 'the running one is the newest');
      assert.equal(seen[0]!.status, 'running');
      assert.equal(seen[0]!.duration_ms, null);
      assert.deepEqual(correlations(seen).slice(2), before, 'then the rest, none twice, none missing');
      assert.equal(new Set(correlations(seen)).size, seen.length);
      const detail = await get(`/executions/${seen[0]!.execution_id}`, ADMIN, '/executions/{id}');
      assert.equal((detail.body as ExecutionDetail).status, 'running');
      assert.equal((detail.body as ExecutionDetail).record, undefined);
      assert.deepEqual(correlations((await list('status=running')).items), [slow]);
    } finally {
      platform.emulator.setFaults({});
    }
    const inv = platform.emulator.invocations().find((i) => i.correlation_id === slow);
    await platform.emulator.waitFor(inv!.id, { timeoutMs: 30_000, status: 'done' });
    await eventually(async () => (await list('status=running')).items.length === 0 || undefined, 'the slow action to finish');
  });

  test('health answers 200 when ready and 503 when not (a runtime not connected)', async () => {
    const ready = await get('/health', READ, '/health');
    assert.equal(ready.status, 200, ready.text);
    assert.equal((ready.body as { ready: boolean }).ready, true);
    const cache = new ExecutionCache({ maxExecutions: 100, bufferSize: 100 });
    const idle = createRuntime(config, await loadProcessors(EXAMPLES), { log });
    const api = await startApiServer({ config: config.api, home: dir, log, runtime: idle, activity: undefined, cache });
    try {
      const res = await fetch(`${api.url}/health`, { headers: { authorization: `Bearer ${READ}` } });
      const body = await res.json();
      answers.push({ route: '/health', status: res.status, body, contentType: res.headers.get('content-type') ?? '' });
      assert.equal(res.status, 503);
      assert.equal((body as { ready: boolean }).ready, false);
      // Without a SQL store the list is the cache's (empty here).
      const empty = await fetch(`${api.url}/executions`, { headers: { authorization: `Bearer ${READ}` } });
      assert.deepEqual(await empty.json(), { items: [], next_cursor: null });
    } finally {
      await api.close();
    }
  });

  test('the live feed takes the same token as a subprotocol and sends messages of the documented shape', async () => {
    const url = processor!.api.url.replace(/^http/, 'ws');
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${url}/executions/stream`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('opened without a token')));
      ws.on('error', () => {});
    });
    assert.equal(refused, 401);
    const ws = new WebSocket(`${url}/executions/stream?status=succeeded`, [`cafkit.bearer.${READ}`, 'cafkit.v1']);
    const messages: unknown[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      assert.equal(ws.protocol, 'cafkit.v1');
      await eventually(() => messages.some((m) => (m as { type: string }).type === 'ready') || undefined, 'the ready message', 10_000);
      await trigger('Echo', { note_text: 'streamed' });
      await eventually(() => messages.some((m) => (m as { type: string }).type === 'event') || undefined, 'an event', 10_000);
      for (const m of messages) answers.push({ route: 'stream', status: 101, body: m, contentType: 'application/json' });
    } finally {
      ws.terminate();
    }
  });

  test('the OpenAPI document describes every real answer: each body validates against the schema declared for its route and status', async () => {
    const answer = await get('/openapi.json', READ, '/openapi.json');
    assert.equal(answer.status, 200);
    const doc = answer.body as { openapi: string; paths: Record<string, { get: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }> };
    assert.equal(doc.openapi, '3.1.0');
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: 'https://cafkit.test/openapi.json' });
    const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
    const statuses = new Set<string>();
    let validated = 0;
    for (const a of answers) {
      const route = a.route === 'stream' ? '/executions/stream' : a.route;
      const declared = doc.paths[route]?.get.responses[String(a.status)];
      assert.ok(declared, `${route} declares status ${a.status}`);
      statuses.add(`${route} ${a.status}`);
      const media = Object.keys(declared.content ?? {})[0];
      if (!media || !a.contentType.startsWith('application/json')) continue;
      const id = `https://cafkit.test/openapi.json#/${pointer('paths', route, 'get', 'responses', String(a.status), 'content', media, 'schema')}`;
      const validate = ajv.getSchema(id);
      assert.ok(validate, `a schema at ${id}`);
      assert.ok(validate(a.body), `${route} ${a.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(a.body).slice(0, 500)}`);
      validated++;
    }
    assert.ok(validated >= 50, `${validated} bodies validated`);
    // What was checked: every documented status the tests could provoke.
    for (const expected of [
      '/executions 200', '/executions 400', '/executions 401', '/executions 405',
      '/executions/{id} 200', '/executions/{id} 404', '/executions/{id} 401',
      '/executions/stream 101', '/executions/stream 401', '/executions/stream 426',
      '/health 200', '/health 503', '/health 401', '/metrics 401', '/openapi.json 200', '/openapi.json 401',
      '/ 200', '/ 405', '/assets/{file} 200', '/assets/{file} 404',
    ]) assert.ok(statuses.has(expected), `checked ${expected}`);
    // And the schemas are strict: an undocumented field fails.
    const listSchema = ajv.getSchema(`https://cafkit.test/openapi.json#/${pointer('paths', '/executions', 'get', 'responses', '200', 'content', 'application/json', 'schema')}`)!;
    assert.equal(listSchema({ items: [], next_cursor: null, extra: 1 }), false);
  });
});

describe(`cafkit run serves the operator API [${transportLabel()}]`, () => {
  test('on the port and token from CAFKIT_API_PORT and CAFKIT_API_TOKEN, logging where it listens', async () => {
    const platform = await startPlatform();
    const token = 'env-token-0123456789abcdef';
    const child = spawnProcessor({ ...platform.env, CAFKIT_API_TOKEN: token, CAFKIT_ACTIVITY_STORES: 'none' });
    try {
      await child.waitForOutput(/operator API listening.*http:\/\/127\.0\.0\.1:\d+/);
      const url = /operator API listening.*?(http:\/\/127\.0\.0\.1:\d+)/.exec(child.output())![1]!;
      assert.doesNotMatch(child.output(), new RegExp(token), 'the token never reaches the log');
      const health = await eventually(async () => {
        const res = await fetch(`${url}/health`, { headers: { authorization: `Bearer ${token}` } });
        return res.status === 200 ? res : undefined;
      }, 'the processor to be ready');
      assert.equal(((await health.json()) as { ready: boolean }).ready, true);
      assert.equal((await fetch(`${url}/health`)).status, 401);
      const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: 'via cafkit run' } });
      await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
      // No store: the list is the cache's, and the env token reads sensitive data.
      const page = (await eventually(async () => {
        const body = (await (await fetch(`${url}/executions`, { headers: { authorization: `Bearer ${token}` } })).json()) as ExecutionList;
        return body.items.some((i) => i.status === 'succeeded') ? body : undefined;
      }, 'the execution to be listed')) as ExecutionList;
      assert.equal(page.items[0]!.correlation_id, inv.correlation_id);
      assert.equal(await child.stop(), 0);
    } finally {
      await child.stop();
      await platform.stop();
    }
  });
});
