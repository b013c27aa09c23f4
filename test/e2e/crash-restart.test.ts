import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, startPlatform, spawnProcessor, type Platform, type ProcessorProcess } from '../support/stack.js';
import { openActivityStore } from '../../lib/activity/sql-store.js';
import { FileActivityStore } from '../../lib/activity/file-store.js';
import type { ActivityRecord } from '../../lib/activity/record.js';
import type { Invocation } from '../../lib/emulator/index.js';
import { runCafkit } from '../support/cli.js';
import { transportLabel } from '../support/test-broker.js';


describe(`kill -9 of the processor mid-load, then a restart on the same CAFKIT_HOME [${transportLabel()}]`, () => {
  let platform: Platform;
  const home = mkdtempSync(path.join(tmpdir(), 'cafkit-crash-'));
  const processes: ProcessorProcess[] = [];

  before(async () => {
    platform = await startPlatform();
  });
  after(async () => {
    for (const p of processes) await p.stop('SIGKILL');
    await platform?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  test('every action ran exactly once (one note POST each, counted by the emulator) and every record is stored and verifies', async (t) => {
    const db = path.join(home, 'activities.db');
    const env = {
      ...platform.env,
      CAFKIT_HOME: home,
      CAFKIT_CONCURRENCY: '10',
      CAFKIT_ACTIVITY_STORES: `sqlite:${db},file:${path.join(home, 'activities.jsonl')}`,
    };
    // Each REST call takes 15 ms, so at any moment several actions are between their start and their reply.
    platform.emulator.setFaults({ latencyMs: 15 });
    const first = spawnProcessor(env);
    processes.push(first);
    await first.waitForOutput(/processing/);

    const count = 120;
    const invocations: Invocation[] = await Promise.all(
      Array.from({ length: count }, (_, i) => platform.emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: `crash-${i}` } })),
    );
    const finished = () => {
      const done = new Set(platform.emulator.invocations().filter((inv) => inv.status === 'completed').map((inv) => inv.id));
      return invocations.filter((inv) => done.has(inv.id)).length;
    };
    await eventually(() => finished() >= 20 || undefined, '20 actions to finish before the kill', 60_000);
    assert.equal(await first.stop('SIGKILL'), null, 'killed, not exited');
    const beforeKill = finished();
    assert.ok(beforeKill < count, `the kill came mid-load (${beforeKill} of ${count} done)`);

    const second = spawnProcessor(env);
    processes.push(second);
    await second.waitForOutput(/processing/);
    for (const inv of invocations) {
      const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 60_000, status: 'done' });
      assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    }

    // Exactly once, by what reached the platform: one POST and one note per action.
    const posts = platform.emulator.requests().filter((r) => r.method === 'POST' && r.path === '/rest/orgs/201/incidents/2095/comments');
    const notes = platform.emulator.store.notes(2095);
    for (let i = 0; i < count; i++) {
      const text = `crash-${i}`;
      assert.equal(posts.filter((r) => (r.body as { text?: string } | undefined)?.text === text).length, 1, `${text}: one POST`);
      assert.equal(notes.filter((n) => n.text === text).length, 1, `${text}: one note`);
    }
    assert.equal(await second.stop('SIGTERM'), 0);

    // Every action has one succeeded record; the ones whose first run was cut short say so.
    const store = await openActivityStore(`sqlite:${db}`);
    const records: ActivityRecord[] = [];
    try {
      for await (const record of store.read()) records.push(record);
    } finally {
      await store.close();
    }
    for (const inv of invocations) {
      const mine = records.filter((r) => r.correlation_id === inv.correlation_id);
      assert.equal(mine.length, 1, `${inv.correlation_id}: one record (${JSON.stringify(mine.map((r) => r.status))})`);
      assert.equal(mine[0]!.status, 'succeeded');
    }
    assert.equal(new Set(records.map((r) => r.chain_id)).size, 2, 'one chain per process');
    // The JSON Lines file is fed from memory, so the kill cut its tail; the restart copied it back from SQLite.
    const file = await FileActivityStore.open({ path: path.join(home, 'activities.jsonl') });
    const inFile: string[] = [];
    for await (const record of file.read()) inFile.push(`${record.chain_id}/${record.seq}/${record.id}`);
    assert.deepEqual(inFile.sort(), records.map((r) => `${r.chain_id}/${r.seq}/${r.id}`).sort(), 'the file has every record SQLite has, once each');
    const fileVerified = await runCafkit(['verify', `file:${path.join(home, 'activities.jsonl')}`, '--keys', path.join(home, 'keys')]);
    assert.equal(fileVerified.code, 0, fileVerified.out);
    const verified = await runCafkit(['verify', `sqlite:${db}`, '--keys', path.join(home, 'keys')]);
    assert.equal(verified.code, 0, verified.out);
    // The second process logged the re-runs it made (when the kill hit an action mid-run).
    const reruns = records.filter((r) => r.rerun === true).length;
    assert.ok(reruns > 0, 'the kill cut some actions short, and they were re-run');
    assert.equal((second.output().match(/re-running an invocation/g) ?? []).length, reruns);
    t.diagnostic(`${beforeKill} of ${count} done at the kill; after the restart ${reruns} re-run(s) of cut-short actions, ${records.length} records in 2 chains`);
  });
});
