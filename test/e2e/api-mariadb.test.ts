import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMariaDb, type MariaDbInstance } from '../support/mariadb.js';
import { signedActivities } from '../support/signed-activities.js';
import { migrate, MIGRATIONS } from '../../lib/activity/migrations.js';
import { openSqlConnection } from '../../lib/activity/sql-dialect.js';
import { SqlActivityStore } from '../../lib/activity/sql-store.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { findExecutionRecord, queryExecutionRecords } from '../../lib/activity/sql-query.js';
import { uuidv7 } from '../../lib/activity/time-ordered-id.js';
import type { UnsignedActivity } from '../../lib/activity/record.js';

let db: MariaDbInstance;
const activities = signedActivities();
before(async () => {
  db = await startMariaDb();
});
after(async () => {
  await db?.dispose();
  activities.dispose();
});

test('MariaDB: migration 2 fills incident_id and processor from existing records, and the API query filters and pages on them', async () => {
  const connection = await openSqlConnection(db.url);
  try {
    assert.deepEqual(await migrate(connection, MIGRATIONS.filter((m) => m.version === 1)), [1]);
    const base = Date.UTC(2025, 0, 1);
    const at = (s: number) => ({ execution_id: uuidv7(base + s * 1000), id: uuidv7(base + s * 1000 + 1), received_at: new Date(base + s * 1000).toISOString() });
    const old = activities.record({ ...at(1), object_ids: { incident: 2095 } });
    const nameless = activities.record({ ...at(2), object_ids: {}, processor: { name: null, host: 'h', version: '1' }, status: 'dead_lettered' });
    for (const r of [old, nameless]) {
      await connection.run(
        'INSERT INTO activities (id, execution_id, chain_id, seq, correlation_id, org_id, destination, action_name, status, received_at, ended_at, key_id, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [r.id, r.execution_id, r.chain_id, r.seq, r.correlation_id, r.org_id, r.destination, r.action_name, r.status, r.received_at, r.ended_at, r.key_id, canonicalRecordText(r)],
      );
    }
    assert.deepEqual(await migrate(connection), [2]);
    const rows = await connection.all<{ id: string; incident_id: number | null; processor: string | null }>('SELECT id, incident_id, processor FROM activities ORDER BY id');
    assert.deepEqual(rows.map((r) => ({ ...r, incident_id: r.incident_id === null ? null : Number(r.incident_id) })), [
      { id: old.id, incident_id: 2095, processor: 'incident-ops' },
      { id: nameless.id, incident_id: null, processor: null },
    ]);
    const store = new SqlActivityStore(connection);
    const fresh = activities.record({ ...at(3), object_ids: { incident: 2096 }, status: 'failed' });
    await store.append(fresh);
    // A re-run of `old` that failed: its newest record decides.
    const rerun = activities.record({ ...old, id: uuidv7(base + 60_000), status: 'failed' } as UnsignedActivity);
    await store.append(rerun);
    const ids = async (filter: Parameters<typeof queryExecutionRecords>[1], before?: string, limit = 50) =>
      (await queryExecutionRecords(connection, filter, before, limit)).map((r) => r.execution_id);
    assert.deepEqual(await ids({}), [fresh.execution_id, nameless.execution_id, old.execution_id]);
    assert.deepEqual(await ids({ incident: 2096 }), [fresh.execution_id]);
    assert.deepEqual(await ids({ processor: 'incident-ops', statuses: ['failed'] }), [fresh.execution_id, old.execution_id]);
    assert.deepEqual(await ids({ statuses: ['succeeded'] }), [], 'old is failed now');
    assert.deepEqual(await ids({ since: nameless.received_at, until: fresh.received_at }), [nameless.execution_id]);
    assert.deepEqual(await ids({}, fresh.execution_id, 1), [nameless.execution_id]);
    assert.equal((await findExecutionRecord(connection, old.execution_id))?.id, rerun.id);
  } finally {
    await connection.close();
  }
});
