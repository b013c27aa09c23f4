import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signedActivities } from '../support/signed-activities.js';
import { FileActivityStore } from '../../lib/activity/file-store.js';
import { openActivityStore } from '../../lib/activity/sql-store.js';
import { backfillFromReplyStore } from '../../lib/activity/backfill.js';
import { silentLog } from '../../lib/log/log.js';
import type { ActivityRecord } from '../../lib/activity/record.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-backfill-'));
const activities = signedActivities();
after(() => {
  activities.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function seqs(store: FileActivityStore): Promise<number[]> {
  const out: number[] = [];
  for await (const r of store.read()) out.push(r.seq);
  return out;
}

test('the file gets the records of its last chain that the reply store has after its last line, in order, once', async () => {
  const records: ActivityRecord[] = Array.from({ length: 6 }, () => activities.record());
  const sql = await openActivityStore(`sqlite:${path.join(dir, 'a.db')}`);
  const file = await FileActivityStore.open({ path: path.join(dir, 'a.jsonl') });
  try {
    for (const r of records) await sql.append(r);
    for (const r of records.slice(0, 3)) await file.append(r);
    await file.close();
    const reopened = await FileActivityStore.open({ path: path.join(dir, 'a.jsonl') });
    assert.equal(await backfillFromReplyStore(sql, [reopened], silentLog), 3);
    // The reporter's spill replay may bring some of them again: skipped.
    await reopened.append(records[4]!);
    assert.deepEqual(await seqs(reopened), [1, 2, 3, 4, 5, 6]);
    assert.equal(await backfillFromReplyStore(sql, [reopened], silentLog), 0, 'nothing more to copy');
    await reopened.close();
  } finally {
    await sql.close();
  }
});

test('tailRecord reads the last whole line of any size, and an empty or missing file has none', async () => {
  const file = await FileActivityStore.open({ path: path.join(dir, 'b.jsonl') });
  assert.equal(await file.tailRecord(), undefined);
  await file.append(activities.record());
  // Longer than the 64 KiB the tail is read by.
  const big = activities.record({ memory: { blob: 'x'.repeat(200_000) } });
  await file.append(big);
  await file.close();
  // A torn last line (a write cut short) is not a record.
  writeFileSync(path.join(dir, 'b.jsonl'), `${readFileSync(path.join(dir, 'b.jsonl'), 'utf8')}{"id":"torn`);
  const reopened = await FileActivityStore.open({ path: path.join(dir, 'b.jsonl') });
  assert.equal((await reopened.tailRecord())?.id, big.id);
  await reopened.close();
});

test('records appended the normal way are never skipped, even out of order', async () => {
  const file = await FileActivityStore.open({ path: path.join(dir, 'c.jsonl') });
  const first = activities.record();
  const second = activities.record();
  await file.append(second);
  await file.append(first);
  assert.deepEqual((await seqs(file)).length, 2);
  await file.close();
});
