// Test support for the webhook and Slack channels: real signed activity
// records and their final events (a ChainSigner over a keyring in a temp
// folder), the dev certificates, and a deadline-bounded wait.
//
//   const activities = signedActivities();          // after(() => activities.dispose())
//   const event = activities.event({ status: 'failed', error: 'boom' });
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openKeyring, type Keyring } from '../../lib/activity/keyring.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus, UnsignedActivity } from '../../lib/activity/record.js';

export { cert, certsDir } from './certs.js';

const FINAL_KIND: Record<string, ActivityEvent['kind']> = { succeeded: 'completed', failed: 'failed', timed_out: 'timed_out', dead_lettered: 'dead_lettered' };

export interface SignedActivities {
  keyring: Keyring;
  /** A signed record; `overrides` change the unsigned fields before signing. */
  record(overrides?: Partial<UnsignedActivity>): ActivityRecord;
  /** The final event carrying a fresh signed record. */
  event(overrides?: Partial<UnsignedActivity>): ActivityEvent;
  dispose(): void;
}

export function signedActivities(): SignedActivities {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-alert-records-'));
  const keyring = openKeyring(path.join(dir, 'keys'));
  const signer = new ChainSigner(keyring, { chainId: `test-${randomUUID()}` });
  let n = 0;
  const record = (overrides: Partial<UnsignedActivity> = {}) => {
    n++;
    const at = new Date(Date.UTC(2025, 0, 1, 12, 0, n % 60, n)).toISOString();
    const later = new Date(Date.parse(at) + 120).toISOString();
    const unsigned: UnsignedActivity = {
      id: randomUUID(),
      execution_id: randomUUID(),
      correlation_id: `invid:${n}`,
      org_id: 201,
      destination: 'incident_ops',
      action_id: 12,
      action_name: 'Add Note',
      object_type: 'incident',
      object_ids: { incident: 2095 },
      user: { id: 3, email: 'analyst@example.com' },
      status: 'succeeded',
      received_at: at,
      started_at: at,
      ended_at: later,
      steps: [{ name: 'write', status: 'succeeded', started_at: at, ended_at: later, output: { note: `N-${n}` } }],
      replies: [{ at: later, message_type: 0, message: 'Note added <b>&</b> done', complete: true }],
      error: null,
      processor: { name: 'incident-ops', host: 'worker-1', version: '0.1.0' },
      memory: { text: 'Ünïcode ✓ 😀 & <tags> "quotes" +plus =eq', n },
      ...overrides,
    };
    return signer.sign(unsigned);
  };
  return {
    keyring,
    record,
    event(overrides = {}) {
      const signed = record(overrides);
      return { kind: FINAL_KIND[signed.status] ?? 'completed', at: signed.ended_at ?? signed.received_at, execution_id: signed.execution_id, correlation_id: signed.correlation_id, record: signed };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Every final status, with the event kind that carries it. */
export const FINAL_STATUSES: ActivityStatus[] = ['succeeded', 'failed', 'timed_out', 'dead_lettered'];

/** Polls `read` until it returns a value (not undefined/false), or throws after `timeoutMs`. */
export async function eventually<T>(read: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
