import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signedActivities } from '../support/signed-activities.js';
import { uuidv7 } from '../../lib/activity/time-ordered-id.js';
import type { ActivityEvent, ActivityRecord, UnsignedActivity } from '../../lib/activity/record.js';
import { migrate, MIGRATIONS } from '../../lib/activity/migrations.js';
import { openSqlConnection } from '../../lib/activity/sql-dialect.js';
import { openActivityStore, SqlActivityStore } from '../../lib/activity/sql-store.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { findExecutionRecord, queryExecutionRecords } from '../../lib/activity/sql-query.js';
import { ExecutionCache } from '../../lib/api/execution-cache.js';
import { findExecution, listExecutions, mergeNewestFirst, type ExecutionSources } from '../../lib/api/executions.js';
import { parseListQuery } from '../../lib/api/execution-query.js';
import { forCaller, stateFromRecord, toDetail, toSummary } from '../../lib/api/execution-view.js';
import { ExecutionDetailSchema, ExecutionSummarySchema } from '../../lib/api/schemas.js';
import { registerSecret } from '../../lib/log/redact.js';

const activities = signedActivities();
const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-api-unit-'));
after(() => {
  activities.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const BASE = Date.UTC(2025, 0, 1, 12, 0, 0);
/** A signed record of an execution that arrived `second` seconds after BASE (its execution id is time-ordered the same way). */
function recordAt(second: number, overrides: Partial<UnsignedActivity> = {}): ActivityRecord {
  const at = new Date(BASE + second * 1000).toISOString();
  return activities.record({
    id: uuidv7(BASE + second * 1000 + 500),
    execution_id: uuidv7(BASE + second * 1000),
    received_at: at,
    started_at: at,
    ended_at: new Date(BASE + second * 1000 + 250).toISOString(),
    ...overrides,
  });
}
const finalEvent = (record: ActivityRecord): ActivityEvent => ({
  kind: record.status === 'succeeded' ? 'completed' : 'failed',
  at: record.ended_at!,
  execution_id: record.execution_id,
  correlation_id: record.correlation_id,
  record,
});
/** The events of an execution that has started and not finished. */
const runningIds = new Map<number, string>();
function runningEvents(second: number, action = 'Echo', incident = 2095): ActivityEvent[] {
  const executionId = runningIds.get(second) ?? uuidv7(BASE + second * 1000);
  runningIds.set(second, executionId);
  const at = new Date(BASE + second * 1000).toISOString();
  const about = {
    org_id: 201, destination: 'incident_ops', action_id: 1, action_name: action, processor: 'incident-ops',
    object_type: 'incident', object_ids: { incident }, user: null, received_at: at,
  };
  return [
    { kind: 'received', at, execution_id: executionId, correlation_id: `run-${second}`, about: { ...about, action_name: null, processor: null } },
    { kind: 'started', at, execution_id: executionId, correlation_id: `run-${second}`, about },
  ];
}
const cacheOf = () => new ExecutionCache({ maxExecutions: 1000, bufferSize: 1000 });
let dbs = 0;
const newStore = () => openActivityStore(`sqlite:${path.join(dir, `a${++dbs}.db`)}`);

test('views: the summary has incident_id and duration_ms; the detail adds steps, replies, error, memory and the record', () => {
  const record = recordAt(1, { object_ids: { incident: 2096, artifact: 7 }, status: 'failed', error: 'conflict', memory: { a: 1 } });
  const state = stateFromRecord(record);
  const summary = toSummary(state);
  assert.equal(summary.incident_id, 2096);
  assert.equal(summary.duration_ms, 250);
  assert.equal(summary.processor, 'incident-ops');
  ExecutionSummarySchema.parse(summary);
  const detail = toDetail(state);
  assert.deepEqual(detail.memory, { a: 1 });
  assert.equal(detail.error, 'conflict');
  assert.equal(detail.record, record);
  ExecutionDetailSchema.parse(detail);
  const cache = cacheOf();
  for (const event of runningEvents(2)) void cache.deliver(event);
  const running = toDetail(cache.newestFirst()[0]!);
  assert.equal(running.status, 'running');
  assert.equal(running.duration_ms, null);
  assert.equal(running.memory, null);
  assert.equal(running.record, undefined);
  ExecutionDetailSchema.parse(running);
  assert.equal(toSummary(stateFromRecord(recordAt(3, { object_ids: {}, object_type: null }))).incident_id, null);
});

test('redaction: read gets memory "[redacted]" (in the record too), secret keys and known secrets replaced; read:sensitive gets it all', () => {
  registerSecret('hunter2-the-secret');
  const record = recordAt(4, {
    memory: { note: 'private' },
    error: 'login failed with hunter2-the-secret',
    steps: [{ name: 'call', status: 'failed', output: { api_token: 'abc', password: 'p', count: 3 } }],
  });
  const detail = toDetail(stateFromRecord(record));
  const read = forCaller({ name: 'ops', scopes: ['read'] }, detail);
  assert.equal(read.memory, '[redacted]');
  assert.equal(read.record?.memory, '[redacted]');
  assert.equal(read.error, 'login failed with [redacted]');
  assert.equal(read.record?.error, 'login failed with [redacted]');
  assert.deepEqual(read.steps[0]!.output, { api_token: '[redacted]', password: '[redacted]', count: 3 });
  // Shared objects (the record's replies are the detail's) are not mistaken for cycles.
  assert.deepEqual(read.record?.replies, record.replies);
  ExecutionDetailSchema.parse(read);
  assert.deepEqual(detail.memory, { note: 'private' }, 'the original is not changed');
  const full = forCaller({ name: 'admin', scopes: ['read', 'read:sensitive'] }, detail);
  assert.deepEqual(full.memory, { note: 'private' });
  assert.equal(full.error, 'login failed with hunter2-the-secret');
  assert.equal(canonicalRecordText(full.record!), canonicalRecordText(record), 'the record unchanged, signature and all');
  const nullMemory = forCaller({ name: 'ops', scopes: ['read'] }, toDetail(stateFromRecord(recordAt(5, { memory: null }))));
  assert.equal(nullMemory.memory, null, 'null stays null: nothing was recorded');
});

test('migration 2 adds incident_id and processor to an existing database, filled from the stored records', async () => {
  const url = `sqlite:${path.join(dir, 'v1.db')}`;
  const connection = await openSqlConnection(url);
  assert.deepEqual(await migrate(connection, MIGRATIONS.filter((m) => m.version === 1)), [1]);
  const withIncident = recordAt(6, { object_ids: { incident: 2095 } });
  const without = recordAt(7, { object_ids: {}, processor: { name: null, host: 'h', version: '1' } });
  for (const r of [withIncident, without]) {
    await connection.run(
      'INSERT INTO activities (id, execution_id, chain_id, seq, correlation_id, org_id, destination, action_name, status, received_at, ended_at, key_id, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [r.id, r.execution_id, r.chain_id, r.seq, r.correlation_id, r.org_id, r.destination, r.action_name, r.status, r.received_at, r.ended_at, r.key_id, canonicalRecordText(r)],
    );
  }
  assert.deepEqual(await migrate(connection), [2]);
  const rows = await connection.all<{ id: string; incident_id: number | null; processor: string | null }>('SELECT id, incident_id, processor FROM activities ORDER BY id');
  assert.deepEqual(rows, [
    { id: withIncident.id, incident_id: 2095, processor: 'incident-ops' },
    { id: without.id, incident_id: null, processor: null },
  ]);
  const indexes = await connection.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activities'");
  assert.ok(indexes.some((i) => i.name === 'activities_incident_id'));
  // And a new insert sets them.
  const store = new SqlActivityStore(connection);
  const added = recordAt(8, { object_ids: { incident: 42 } });
  await store.append(added);
  assert.deepEqual(await connection.all('SELECT incident_id, processor FROM activities WHERE id = ?', [added.id]), [{ incident_id: 42, processor: 'incident-ops' }]);
  await connection.close();
});

test('sql query: every filter in SQL, newest first, below a bound, and only the newest record of a re-run execution counts', async () => {
  const store = await newStore();
  const a = recordAt(10, { status: 'succeeded', action_name: 'Echo', object_ids: { incident: 2095 } });
  const b = recordAt(11, { status: 'failed', action_name: 'Add Note', object_ids: { incident: 2096 } });
  const c = recordAt(12, { status: 'succeeded', action_name: 'Open Ticket', destination: 'helpdesk', processor: { name: 'helpdesk', host: 'h', version: '1' }, object_ids: {} });
  // `a` ran again (after a crash) and failed: its newer record has a greater id.
  const aAgain = { ...a, id: uuidv7(BASE + 60_000) };
  const rerun = activities.record({ ...aAgain, status: 'failed', error: 'second run failed' } as UnsignedActivity);
  for (const r of [a, b, c, rerun]) await store.append(r);
  const ids = async (text: string, before?: string, limit = 50) =>
    (await queryExecutionRecords(store.connection, parseListQuery(new URLSearchParams(text)).filter, before, limit)).map((r) => r.execution_id);
  assert.deepEqual(await ids(''), [c.execution_id, b.execution_id, a.execution_id]);
  assert.deepEqual(await ids('status=failed'), [b.execution_id, a.execution_id], 'a counts as failed now');
  assert.deepEqual(await ids('status=succeeded'), [c.execution_id], 'its older succeeded record is not listed');
  assert.deepEqual(await ids('incident=2095'), [a.execution_id]);
  assert.deepEqual(await ids('action=Add+Note'), [b.execution_id]);
  assert.deepEqual(await ids('destination=helpdesk'), [c.execution_id]);
  assert.deepEqual(await ids('processor=helpdesk'), [c.execution_id]);
  assert.deepEqual(await ids('processor=incident-ops&status=failed&incident=2096'), [b.execution_id]);
  assert.deepEqual(await ids(`since=${b.received_at}`), [c.execution_id, b.execution_id]);
  assert.deepEqual(await ids(`until=${b.received_at}`), [a.execution_id], 'until is exclusive');
  assert.deepEqual(await ids(`since=${a.received_at}&until=${c.received_at}`), [b.execution_id, a.execution_id]);
  assert.deepEqual(await ids('', c.execution_id, 1), [b.execution_id]);
  assert.equal((await findExecutionRecord(store.connection, a.execution_id))?.error, 'second run failed');
  assert.equal(await findExecutionRecord(store.connection, 'nope'), undefined);
  await store.close();
});

test('merge: newest first, each execution once, the preferred list winning', () => {
  const older = stateFromRecord(recordAt(20));
  const newer = stateFromRecord(recordAt(21));
  const newerAgain = { ...newer, status: 'running' as const };
  const merged = mergeNewestFirst([newerAgain], [older, newer]);
  assert.deepEqual(merged.map((s) => s.execution_id), [newer.execution_id, older.execution_id]);
  assert.equal(merged[0]!.status, 'running');
});

test('list: cache and store merged, paged with no duplicate and no gap; the cache wins unless the store is newer', async () => {
  const store = await newStore();
  const cache = cacheOf();
  const sources: ExecutionSources = { cache, store };
  // 30..34 only in the store; 35..37 in both (finished); 38..39 running, only in the cache.
  const storedOnly = [30, 31, 32, 33, 34].map((s) => recordAt(s, { action_name: s % 2 ? 'Echo' : 'Add Note' }));
  const both = [35, 36, 37].map((s) => recordAt(s, { action_name: 'Echo' }));
  for (const r of [...storedOnly, ...both]) await store.append(r);
  for (const r of both) await cache.deliver(finalEvent(r));
  for (const s of [38, 39]) for (const e of runningEvents(s, 'Echo')) await cache.deliver(e);
  const expected = [...storedOnly, ...both].map((r) => r.execution_id).concat([38, 39].map((s) => runningIds.get(s)!)).reverse();

  const pageThrough = async (text: string, limit: number) => {
    const seen: string[] = [];
    let before: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const query = { ...parseListQuery(new URLSearchParams(text)), limit, before };
      const page = await listExecutions(sources, query);
      assert.ok(page.items.length <= limit);
      seen.push(...page.items.map((s) => s.execution_id));
      if (!page.more) return seen;
      before = page.items.at(-1)!.execution_id;
    }
    assert.fail('paging did not end');
  };
  for (const limit of [1, 2, 3, 4, 10]) assert.deepEqual(await pageThrough('', limit), expected, `limit ${limit}`);
  // Only `running` from the cache, only `Add Note` from the store.
  assert.deepEqual(await pageThrough('status=running', 1), expected.slice(0, 2));
  assert.deepEqual(await pageThrough('action=Add+Note', 1), [34, 32, 30].map((s) => storedOnly[s - 30]!.execution_id));

  // The store has a newer record of 35 than the cache (another instance re-ran it): the stored one shows.
  const rerun = activities.record({ ...both[0]!, id: uuidv7(BASE + 3_600_000), status: 'failed', error: 'rerun elsewhere' } as UnsignedActivity);
  await store.append(rerun);
  const failed = await listExecutions(sources, parseListQuery(new URLSearchParams('status=failed')));
  assert.deepEqual(failed.items.map((s) => [s.execution_id, s.error]), [[both[0]!.execution_id, 'rerun elsewhere']]);
  assert.equal((await findExecution(sources, both[0]!.execution_id))?.status, 'failed');
  // The cache's view wins where it is newer: a running execution the store knows an older record of.
  const restarted = storedOnly[4]!;
  await cache.deliver({ kind: 'started', at: new Date().toISOString(), execution_id: restarted.execution_id, correlation_id: restarted.correlation_id });
  assert.equal((await findExecution(sources, restarted.execution_id))?.status, 'running');
  const all = await listExecutions(sources, parseListQuery(new URLSearchParams('limit=500')));
  assert.equal(all.items.find((s) => s.execution_id === restarted.execution_id)?.status, 'running');
  assert.equal(new Set(all.items.map((s) => s.execution_id)).size, all.items.length);
  assert.equal(await findExecution(sources, 'missing'), undefined);
  await store.close();
});

test('list without a SQL store: the cache alone', async () => {
  const cache = cacheOf();
  for (const s of [50, 51, 52]) for (const e of runningEvents(s)) await cache.deliver(e);
  const page = await listExecutions({ cache, store: undefined }, { filter: {}, limit: 2, before: undefined });
  assert.deepEqual(page.items.map((s) => s.correlation_id), ['run-52', 'run-51']);
  assert.equal(page.more, true);
});
