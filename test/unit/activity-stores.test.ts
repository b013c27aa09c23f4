import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Log } from '../../lib/log/log.js';
import { canonicalJson } from '../../lib/activity/canonical-json.js';
import { ActivityRecordSchema, type ActivityEvent, type ActivityRecord } from '../../lib/activity/record.js';
import { FileActivityStore } from '../../lib/activity/file-store.js';
import { migrate, MIGRATIONS_TABLE } from '../../lib/activity/migrations.js';
import { openSqlConnection, parseDatabaseUrl } from '../../lib/activity/sql-dialect.js';
import { DuplicateRecordError, openActivityStore, SqlActivityStore } from '../../lib/activity/sql-store.js';
import { SqlCompletedReplies } from '../../lib/activity/sql-completed-replies.js';
import type { StoredReply } from '../../lib/runtime/completed-replies.js';

/** A record that fits the schema; the signature is not a real one (nothing here verifies). */
function record(seq: number, chain = 'chain-a', overrides: Partial<ActivityRecord> = {}): ActivityRecord {
  const at = new Date(1_700_000_000_000 + seq * 1000).toISOString();
  return ActivityRecordSchema.parse({
    id: `${chain}-rec-${seq}`,
    execution_id: `${chain}-exec-${seq}`,
    correlation_id: `invid:${seq}`,
    org_id: 201,
    destination: 'incident_ops',
    action_id: 12,
    action_name: 'Add Note',
    object_type: 'incident',
    object_ids: { incident: 2095 },
    user: { id: 7, email: 'ops@example.com' },
    status: 'succeeded',
    received_at: at,
    started_at: at,
    ended_at: at,
    steps: [{ name: 'lookup', status: 'succeeded', output: { score: 4.5, note: 'é "quoted"\nline' } }],
    replies: [{ at, message_type: 0, message: 'Completed processing', complete: true }],
    error: null,
    processor: { name: 'notes', host: 'host-1', version: '0.1.0' },
    memory: null,
    seq,
    chain_id: chain,
    prev_hash: seq === 1 ? null : 'ab'.repeat(32),
    key_id: 'cd'.repeat(32),
    signature: 'c2lnbmF0dXJl',
    ...overrides,
  });
}

function final(r: ActivityRecord): ActivityEvent {
  return { kind: 'completed', at: r.ended_at ?? r.received_at, execution_id: r.execution_id, correlation_id: r.correlation_id, record: r };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function recordingLog() {
  const warnings: string[] = [];
  const log: Log = { debug() {}, info() {}, warn: (message) => warnings.push(message), error: (message) => warnings.push(message) };
  return { log, warnings };
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'cafkit-store-'));
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

// ---- JSON Lines file -----------------------------------------------------------

test('file store: one valid JSON object a line, the canonical JSON of the record, read back in order', async () => {
  const path = join(tempDir(), 'activities.jsonl');
  const store = await FileActivityStore.open({ path });
  const records = Array.from({ length: 20 }, (_, i) => record(i + 1));
  // Concurrent appends share fsyncs but keep their order.
  await Promise.all(records.slice(0, 10).map((r) => store.append(r)));
  for (const r of records.slice(10)) await store.append(r);

  const written = lines(path);
  assert.equal(written.length, 20);
  written.forEach((line, i) => {
    assert.equal(line, canonicalJson(records[i]));
    assert.deepEqual(JSON.parse(line), records[i]);
  });
  assert.deepEqual(await collect(store.read()), records);
  await store.close();
  await assert.rejects(store.append(record(21)), /closed/);
});

test('file store: base64 mode writes each line as the base64 of the JSON, and reads it back', async () => {
  const path = join(tempDir(), 'activities.jsonl');
  const store = await FileActivityStore.open({ path, base64: true });
  const records = [record(1), record(2)];
  for (const r of records) await store.append(r);
  const written = lines(path);
  for (const [i, line] of written.entries()) {
    assert.match(line, /^[A-Za-z0-9+/]+=*$/);
    assert.equal(Buffer.from(line, 'base64').toString('utf8'), canonicalJson(records[i]));
  }
  assert.deepEqual(await collect(store.read()), records);
  await store.close();
});

test('file store: rotates by size, keeps N files, and reads oldest first across them', async () => {
  const dir = tempDir();
  const path = join(dir, 'activities.jsonl');
  // Two records a file (seq 1 is shorter: no prev_hash; the others differ by a byte or two).
  const lineBytes = Buffer.byteLength(canonicalJson(record(2))) + 1;
  const store = await FileActivityStore.open({ path, maxBytes: lineBytes * 2 + 10, keep: 2 });
  for (let seq = 1; seq <= 9; seq++) await store.append(record(seq));

  assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`));
  assert.equal(existsSync(`${path}.3`), false, 'older files deleted');
  for (const file of [path, `${path}.1`, `${path}.2`]) assert.ok(statSync(file).size <= lineBytes * 2 + 10);
  assert.deepEqual(lines(path).map((l) => (JSON.parse(l) as ActivityRecord).seq), [9]);
  assert.deepEqual(lines(`${path}.1`).map((l) => (JSON.parse(l) as ActivityRecord).seq), [7, 8]);
  assert.deepEqual((await collect(store.read())).map((r) => r.seq), [5, 6, 7, 8, 9]);
  assert.equal((await store.lastRecord('chain-a'))?.seq, 9);
  await store.close();
});

test('file store: a torn last line is ignored by readers and cut off, logged, before the next append', async () => {
  const path = join(tempDir(), 'activities.jsonl');
  writeFileSync(path, `${canonicalJson(record(1))}\n`);
  appendFileSync(path, canonicalJson(record(2)).slice(0, 40));
  const size = statSync(path).size;

  const reader = await FileActivityStore.open({ path });
  assert.deepEqual((await collect(reader.read())).map((r) => r.seq), [1]);
  assert.equal(statSync(path).size, size, 'reading changes nothing');

  const { log, warnings } = recordingLog();
  const writer = await FileActivityStore.open({ path, log });
  await writer.append(record(2));
  assert.deepEqual(lines(path).map((l) => (JSON.parse(l) as ActivityRecord).seq), [1, 2]);
  assert.equal(warnings.length, 1);
  await writer.close();
});

test('file store: a line that is not a record stops read() with the file and line', async () => {
  const path = join(tempDir(), 'activities.jsonl');
  writeFileSync(path, `${canonicalJson(record(1))}\n{"id":"x"}\n${canonicalJson(record(3))}\n`);
  const store = await FileActivityStore.open({ path });
  await assert.rejects(collect(store.read()), new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not a valid activity record`));
});

test('file store as a sink: takes only final events, and appends their record', async () => {
  const path = join(tempDir(), 'activities.jsonl');
  const store = await FileActivityStore.open({ path });
  const r = record(1);
  assert.equal(store.accepts({ kind: 'started', at: r.received_at, execution_id: r.execution_id, correlation_id: null }), false);
  assert.equal(store.accepts(final(r)), true);
  await store.deliver(final(r));
  assert.deepEqual(await collect(store.read()), [r]);
  await store.close();
});

// ---- SQL (SQLite here; the same code runs on MariaDB/MySQL) ---------------------

test('database URLs: sqlite paths and mysql/mariadb with percent-encoded credentials', () => {
  assert.deepEqual(parseDatabaseUrl('sqlite:/var/lib/cafkit/a.db'), { kind: 'sqlite', path: '/var/lib/cafkit/a.db' });
  assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/cafkit/a.db'), { kind: 'sqlite', path: '/var/lib/cafkit/a.db' });
  assert.deepEqual(parseDatabaseUrl('mariadb://cafkit:p%40ss%2Fw@db.example:3307/activities?ssl=true'), {
    kind: 'mysql', host: 'db.example', port: 3307, user: 'cafkit', password: 'p@ss/w', database: 'activities', ssl: {},
  });
  assert.equal((parseDatabaseUrl('mysql://u:p@h/db') as { port: number }).port, 3306);
  assert.throws(() => parseDatabaseUrl('postgres://u@h/db'), /unsupported/);
  assert.throws(() => parseDatabaseUrl('mysql://u@h'), /no database/);
});

test('sqlite: migrations apply once, from any number of connections', async () => {
  const url = `sqlite:${join(tempDir(), 'cafkit.db')}`;
  const one = await openSqlConnection(url);
  const two = await openSqlConnection(url);
  assert.deepEqual(await migrate(one), [1, 2]);
  assert.deepEqual(await migrate(one), []);
  assert.deepEqual(await migrate(two), []);
  assert.deepEqual((await one.all<{ version: number }>(`SELECT version FROM ${MIGRATIONS_TABLE} ORDER BY version`)).map((r) => r.version), [1, 2]);
  const journal = await one.all<{ journal_mode: string }>('PRAGMA journal_mode');
  assert.equal(journal[0]?.journal_mode, 'wal');
  await one.close();
  await two.close();
});

test('sqlite store: append, then read in (chain_id, seq) order, the record column holding the canonical JSON', async () => {
  const store = await openActivityStore(`sqlite:${join(tempDir(), 'cafkit.db')}`);
  assert.equal(store.name, 'sqlite');
  const b = Array.from({ length: 3 }, (_, i) => record(i + 1, 'chain-b'));
  // More than a page (500) in one chain, interleaved with another chain.
  const a = Array.from({ length: 1201 }, (_, i) => record(i + 1, 'chain-a'));
  for (const [i, r] of a.entries()) {
    await store.append(r);
    if (b[i]) await store.append(b[i]);
  }
  const read = await collect(store.read());
  assert.deepEqual(read, [...a, ...b]);
  const [row] = await store.connection.all<Record<string, unknown>>('SELECT * FROM activities WHERE id = ?', ['chain-b-rec-2']);
  assert.equal(row?.['record'], canonicalJson(b[1]));
  assert.equal(row?.['chain_id'], 'chain-b');
  assert.equal(row?.['seq'], 2);
  assert.equal(row?.['correlation_id'], 'invid:2');
  assert.equal(row?.['status'], 'succeeded');
  assert.equal((await store.lastRecord('chain-a'))?.seq, 1201);
  assert.equal(await store.lastRecord('chain-z'), undefined);
  await store.close();
});

test('sqlite store: a different record for a taken (chain_id, seq) is refused; the same record again is stored once', async () => {
  const store = await openActivityStore(`sqlite:${join(tempDir(), 'cafkit.db')}`);
  await store.append(record(1));
  await assert.rejects(store.append(record(1, 'chain-a', { id: 'another-id', status: 'failed' })), DuplicateRecordError);
  await assert.rejects(store.append(record(2, 'chain-a', { id: 'chain-a-rec-1' })), DuplicateRecordError);
  await store.append(record(1));
  await store.deliver(final(record(1)));
  assert.deepEqual((await collect(store.read())).map((r) => r.id), ['chain-a-rec-1']);
  await store.close();
});

test('sqlite store as a sink: takes only final events', async () => {
  const connection = await openSqlConnection(`sqlite:${join(tempDir(), 'cafkit.db')}`);
  await migrate(connection);
  const store = new SqlActivityStore(connection, { name: 'db' });
  const r = record(1);
  assert.equal(store.name, 'db');
  assert.equal(store.accepts({ kind: 'reply', at: r.received_at, execution_id: r.execution_id, correlation_id: null }), false);
  await store.deliver(final(r));
  assert.deepEqual(await collect(store.read()), [r]);
  await store.close();
  // The connection was passed in: it stays open.
  assert.equal((await connection.all('SELECT id FROM activities')).length, 1);
  await connection.close();
});

// ---- completed replies and claims -------------------------------------------------

const stored = (correlationId: string): StoredReply => ({
  replyTo: '/queue/acks.201.incident_ops',
  correlationId,
  reply: { message_type: 0, message: 'Completed processing', complete: true, results: { note_id: 5 } },
  completedAt: 1_700_000_000_000,
});

test('completed replies: claim, busy, renewal by the owner, takeover after lease expiry, completion', async () => {
  let now = 1_000_000;
  const replies = await SqlCompletedReplies.open(`sqlite:${join(tempDir(), 'cafkit.db')}`, { now: () => now });
  const key = 'incident_ops|invid:80';

  const first = { claimed: { rerun: false, firstStartedAt: 1_000_000 } };
  const rerun = { claimed: { rerun: true, firstStartedAt: 1_000_000 } };
  assert.deepEqual(await replies.claim(key, 'A', 100), first);
  assert.equal(await replies.claim(key, 'B', 100), 'busy');
  assert.deepEqual(await replies.claim(key, 'A', 100), rerun, 'the owner claiming again (restarted after dying mid-run) takes it back at once, as a re-run');
  assert.equal(await replies.get(key), undefined, 'a claim is not a completed reply');

  now += 99;
  assert.equal(await replies.claim(key, 'B', 100), 'busy', 'lease still valid');
  now += 2;
  assert.deepEqual(await replies.claim(key, 'B', 100), rerun, 'lease ran out: taken over, as a re-run that still knows when the first run began');
  assert.equal(await replies.claim(key, 'A', 100), 'busy', 'the former owner has lost it');
  assert.equal(await replies.renew(key, 'A', 100), false);
  assert.equal(await replies.renew(key, 'B', 1000), true);
  now += 500;
  assert.equal(await replies.claim(key, 'C', 100), 'busy', 'renewed lease holds');

  await replies.put(key, stored('invid:80'));
  assert.deepEqual(await replies.get(key), stored('invid:80'));
  assert.deepEqual(await replies.claim(key, 'C', 100), { completed: stored('invid:80') });
  assert.equal(await replies.release(key, 'B'), false, 'a completed reply is not released');
  await replies.close();
});

test('completed replies: put without a claim, release, prune', async () => {
  const replies = await SqlCompletedReplies.open(`sqlite:${join(tempDir(), 'cafkit.db')}`);
  await replies.put('d|1', stored('1'));
  await replies.put('d|1', { ...stored('1'), completedAt: 1_700_000_000_500 });
  assert.equal((await replies.get('d|1'))?.completedAt, 1_700_000_000_500);

  assert.equal((await replies.claim('d|2', 'A', 60_000) as { claimed: { rerun: boolean } }).claimed.rerun, false);
  assert.equal(await replies.release('d|2', 'B'), false);
  assert.equal(await replies.release('d|2', 'A'), true);
  assert.equal((await replies.claim('d|2', 'B', 60_000) as { claimed: { rerun: boolean } }).claimed.rerun, false, 'released: free to claim at once, and not a re-run');

  assert.equal(await replies.prune(1_700_000_000_600), 1);
  assert.equal(await replies.get('d|1'), undefined);
  await replies.close();
});

test('completed replies: of many owners racing on separate connections to one database, exactly one claims', async () => {
  const url = `sqlite:${join(tempDir(), 'cafkit.db')}`;
  const stores = await Promise.all([1, 2, 3].map(async () => {
    const connection = await openSqlConnection(url);
    await migrate(connection);
    return new SqlCompletedReplies(connection, { ownsConnection: true });
  }));
  for (let round = 0; round < 20; round++) {
    const key = `incident_ops|invid:${round}`;
    const results = await Promise.all(Array.from({ length: 9 }, (_, i) => stores[i % 3]!.claim(key, `owner-${i}`, 60_000)));
    assert.equal(results.filter((r) => typeof r === 'object' && 'claimed' in r).length, 1, `round ${round}: ${JSON.stringify(results)}`);
    assert.equal(results.filter((r) => r === 'busy').length, 8);
  }
  for (const s of stores) await s.close();
});
