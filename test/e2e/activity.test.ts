import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, startPlatform, processorConfig, EXAMPLES, type Platform } from '../support/stack.js';
import { startMariaDb, type MariaDbInstance } from '../support/mariadb.js';
import { createActivitySystem } from '../../lib/activity/system.js';
import { openActivityStore } from '../../lib/activity/sql-store.js';
import type { ActivityRecord } from '../../lib/activity/record.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { loadProcessors } from '../../lib/runtime/load-processors.js';
import { brokerLink, transportLabel } from '../support/test-broker.js';
import { createLogger } from '../../lib/log/logger.js';
import { runCafkit } from '../support/cli.js';


describe(`every execution leaves a signed, verifiable record in file, SQLite and MariaDB [${transportLabel()}]`, () => {
  let platform: Platform;
  let db: MariaDbInstance;
  let runtime: Runtime | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-activity-'));
  const jsonl = path.join(dir, 'activities.jsonl');
  const sqlite = `sqlite:${path.join(dir, 'activities.db')}`;
  const keys = path.join(dir, 'keys');

  before(async () => {
    [platform, db] = await Promise.all([startPlatform(), startMariaDb()]);
    const config = processorConfig(platform, (c) => {
      c.activity.stores = [`file:${jsonl}`, sqlite, db.url];
      c.activity.keys_dir = keys;
    });
    const activity = await createActivitySystem(config, createLogger({ level: 'error' }), { ...process.env, CAFKIT_HOME: dir });
    runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log: createLogger({ level: 'error' }), activity });
    await runtime.start(AbortSignal.timeout(30_000));
  });
  after(async () => {
    await runtime?.stop(5000);
    await platform?.stop();
    await db?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the example actions and a bad message are recorded with status, steps, replies and signature', async () => {
    const invocations = [
      await platform.emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: 'x' } }),
      await platform.emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: 'recorded' } }),
      await platform.emulator.trigger({ destination: 'incident_ops', action: 'Set Severity', incident: 2096, properties: { severity: 'High' } }),
    ];
    for (const inv of invocations) await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    const b = platform.broker;
    const link = brokerLink(b);
    await link.connect();
    await link.send('/queue/actions.201.incident_ops', '{broken', { headers: { 'reply-to': '/queue/acks.201.activity', 'correlation-id': 'bad-activity' } });
    await link.close();
    // The runtime stops (draining the reporter) so every store has every record.
    await eventually(() => (runtime!.dispatcher.stats.deadLettered === 1 && runtime!.dispatcher.inFlight === 0) || undefined, 'the bad message to be dead-lettered');
    await runtime!.stop(5000);
    runtime = undefined;

    const fromFile = readFileSync(jsonl, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as ActivityRecord);
    const byCorrelation = new Map(fromFile.map((r) => [r.correlation_id, r]));
    for (const inv of invocations) {
      const record = byCorrelation.get(inv.correlation_id);
      assert.ok(record, `a record for ${inv.correlation_id}`);
      assert.equal(record.status, 'succeeded');
      assert.equal(record.action_name, inv.action_name);
      assert.equal(record.object_ids['incident'], inv.incident_id);
      assert.ok(record.started_at && record.ended_at && record.received_at <= record.started_at && record.started_at <= record.ended_at);
      assert.equal(record.replies.at(-1)?.complete, true);
      assert.match(record.signature, /^[A-Za-z0-9+/]+=*$/);
    }
    assert.deepEqual(byCorrelation.get(invocations[2]!.correlation_id)!.replies.map((r) => r.complete), [false, true], 'the progress reply is recorded too');
    const bad = byCorrelation.get('bad-activity');
    assert.equal(bad?.status, 'dead_lettered');
    assert.match(bad?.error ?? '', /not valid JSON/);
    for (const url of [sqlite, db.url]) {
      const store = await openActivityStore(url);
      const rows: ActivityRecord[] = [];
      for await (const r of store.read()) rows.push(r);
      await store.close();
      assert.deepEqual(rows.map((r) => r.id).sort(), fromFile.map((r) => r.id).sort(), `${url.split(':')[0]} holds the same records`);
    }
  });

  test('cafkit verify accepts the file, SQLite and MariaDB stores', async () => {
    for (const target of [jsonl, sqlite, db.url]) {
      const { code, out } = await runCafkit(['verify', target, '--keys', keys]);
      assert.equal(code, 0, out);
      assert.match(out, /4 records in 1 chain\(s\); all verified/);
    }
  });

  test('cafkit verify catches one altered byte, a deleted record and an unknown key', async () => {
    const lines = readFileSync(jsonl, 'utf8').trim().split('\n');
    const tampered = path.join(dir, 'tampered.jsonl');
    // Every record carries the destination, so the byte changed is in whichever record is second.
    writeFileSync(tampered, [lines[0], lines[1]!.replace('"destination":"incident_ops"', '"destination":"incident_opz"'), ...lines.slice(2)].join('\n') + '\n');
    const altered = await runCafkit(['verify', tampered, '--keys', keys]);
    assert.equal(altered.code, 1, altered.out);
    assert.match(altered.out, /ALTERED .* seq 2/);
    assert.doesNotMatch(altered.out, /all verified/);

    const removed = path.join(dir, 'removed.jsonl');
    writeFileSync(removed, [lines[0], ...lines.slice(2)].join('\n') + '\n');
    const missing = await runCafkit(['verify', removed, '--keys', keys]);
    assert.equal(missing.code, 1, missing.out);
    assert.match(missing.out, /MISSING_BEFORE .* seq 3/);

    const otherKeys = path.join(dir, 'other-keys');
    const { openKeyring } = await import('../../lib/activity/keyring.js');
    openKeyring(otherKeys, { create: true });
    const unknown = await runCafkit(['verify', jsonl, '--keys', otherKeys]);
    assert.equal(unknown.code, 1, unknown.out);
    assert.match(unknown.out, /UNKNOWN_KEY/);
  });
});

describe(`cafkit keys [${transportLabel()}]`, () => {
  test('rotate makes the first key, then a new one, keeping old public keys for verifying', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-keys-'));
    try {
      const first = await runCafkit(['keys', 'rotate', '--keys', dir]);
      assert.equal(first.code, 0, first.out);
      assert.match(first.out, /\(1 public key\(s\) kept/);
      const second = await runCafkit(['keys', 'rotate', '--keys', dir]);
      assert.match(second.out, /\(2 public key\(s\) kept/);
      const list = await runCafkit(['keys', 'list', '--keys', dir]);
      assert.equal(list.out.trim().split('\n').filter((l) => l.startsWith('*')).length, 1);
      assert.equal(list.out.trim().split('\n').length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`a sink that hangs [${transportLabel()}]`, () => {
  test('does not hold up the actions or the other sinks; its events wait in its own queue', async (t) => {
    const platform = await startPlatform();
    const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-hang-'));
    let runtime: Runtime | undefined;
    const config = processorConfig(platform, (c) => {
      c.activity.stores = [`file:${path.join(dir, 'a.jsonl')}`];
      c.activity.keys_dir = path.join(dir, 'keys');
      c.activity.overflow = 'drop_oldest';
      c.activity.drain_timeout_ms = 200;
    });
    /** Runs 20 Echo actions one after another; resolves to their trigger-to-completion times (ms), sorted. */
    const twentyEchoes = async (): Promise<number[]> => {
      const invocations = [];
      for (let i = 0; i < 20; i++) invocations.push(await platform.emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: String(i) } }));
      const done = [];
      for (const inv of invocations) done.push(await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' }));
      for (const inv of done) assert.equal(inv.status, 'completed');
      return done.map((inv) => inv.completed_at! - inv.created_at).sort((a, b) => a - b);
    };
    try {
      // The same actions without the hanging sink first: the measurement's baseline.
      const plain = (await createActivitySystem(config, createLogger({ level: 'error' }), { ...process.env, CAFKIT_HOME: dir }))!;
      runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log: createLogger({ level: 'error' }), activity: plain });
      await runtime.start(AbortSignal.timeout(30_000));
      const baseline = await twentyEchoes();
      await runtime.stop(5000);

      let calls = 0;
      const hanging = { name: 'hanging', deliver: () => (calls++, new Promise<void>(() => {})) };
      const activity = (await createActivitySystem(config, createLogger({ level: 'error' }), { ...process.env, CAFKIT_HOME: dir }, [hanging]))!;
      runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log: createLogger({ level: 'error' }), activity });
      await runtime.start(AbortSignal.timeout(30_000));
      const withHanging = await twentyEchoes();
      const stats = activity.reporter.stats();
      assert.equal(calls, 1, 'the hanging sink got its first event and never answered');
      assert.equal(stats['hanging']!.delivered, 0);
      assert.ok(stats['hanging']!.queued >= 20 * 4, `its events wait in its own queue (${stats['hanging']!.queued})`);
      await eventually(() => (activity.reporter.stats()['file']!.delivered === 20 ? true : undefined), 'the file store to get all 20 records', 10_000);
      const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
      // A measurement, not an assertion: timing belongs to bench/, and this machine is noisy.
      t.diagnostic(`trigger-to-completion of 20 Echo actions: median ${median(baseline)} ms, max ${baseline.at(-1)} ms without the hanging sink; median ${median(withHanging)} ms, max ${withHanging.at(-1)} ms with it`);
    } finally {
      await runtime?.stop(5000);
      await platform.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
