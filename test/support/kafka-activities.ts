// Signed activity records for the Kafka channel's tests: hand-built
// activities signed by a ChainSigner with a keyring in a temp folder, so
// the canonical JSON a test reads back is the one that was signed.
//
//   const activities = kafkaActivities();
//   after(() => activities.dispose());
//   const event = activities.final({ status: 'failed', note: 'x'.repeat(500) });
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openKeyring, type Keyring } from '../../lib/activity/keyring.js';
import type { ActivityEvent, ActivityRecord, UnsignedActivity } from '../../lib/activity/record.js';
import { ChainSigner } from '../../lib/activity/signer.js';

type FinalStatus = 'succeeded' | 'failed' | 'timed_out' | 'dead_lettered';
const FINAL_KIND: Record<FinalStatus, ActivityEvent['kind']> = { succeeded: 'completed', failed: 'failed', timed_out: 'timed_out', dead_lettered: 'dead_lettered' };

export interface KafkaActivities {
  keyring: Keyring;
  /** A signed record; `note` pads its memory (to vary its size). */
  record(options?: { status?: FinalStatus; note?: string }): ActivityRecord;
  /** The final event carrying a fresh signed record. */
  final(options?: { status?: FinalStatus; note?: string }): ActivityEvent;
  dispose(): void;
}

export function kafkaActivities(): KafkaActivities {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-kafka-'));
  const keyring = openKeyring(path.join(dir, 'keys'));
  const signer = new ChainSigner(keyring, { chainId: 'kafka-test-chain' });
  let n = 0;

  function record(options: { status?: FinalStatus; note?: string } = {}): ActivityRecord {
    n++;
    const status = options.status ?? 'succeeded';
    const at = new Date(Date.UTC(2025, 0, 1, 12, 0, 0, n)).toISOString();
    const unsigned: UnsignedActivity = {
      id: randomUUID(),
      execution_id: randomUUID(),
      correlation_id: `invid:${n}`,
      org_id: 201,
      destination: 'incident_ops',
      action_id: 12,
      action_name: 'Add Note',
      object_type: 'incident',
      object_ids: { incident: 2000 + n },
      user: { id: 3, email: 'analyst@example.com' },
      status,
      received_at: at,
      started_at: at,
      ended_at: at,
      steps: [{ name: 'write', status: status === 'succeeded' ? 'succeeded' : 'failed', started_at: at, ended_at: at }],
      replies: [{ at, message_type: 0, message: `done ${n} ✓`, complete: true }],
      error: status === 'succeeded' ? null : 'it went wrong',
      processor: { name: 'incident-ops', host: 'test-host', version: '0.0.0' },
      memory: options.note === undefined ? null : { note: options.note },
    };
    return signer.sign(unsigned);
  }

  return {
    keyring,
    record,
    final(options = {}) {
      const r = record(options);
      return { kind: FINAL_KIND[r.status as FinalStatus], at: r.ended_at!, execution_id: r.execution_id, correlation_id: r.correlation_id, record: r };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
