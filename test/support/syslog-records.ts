// Signed activity records and their final events for the syslog channel's
// tests: a real ChainSigner with a keyring in a temp folder, so the text a
// sink sends is the canonical JSON that verifies.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKeyring, type Keyring } from '../../lib/activity/keyring.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus } from '../../lib/activity/record.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import { uuidv7 } from '../../lib/activity/time-ordered-id.js';

/** The event kind that carries a record of each final status. */
const FINAL_KIND: Record<ActivityStatus, ActivityEvent['kind']> = {
  succeeded: 'completed',
  failed: 'failed',
  timed_out: 'timed_out',
  dead_lettered: 'dead_lettered',
  received: 'completed',
  running: 'completed',
};

/** Signs records in a chain of its own; `dispose()` removes the keyring folder. */
export class RecordFactory {
  readonly keyring: Keyring;
  private readonly dir: string;
  private readonly signer: ChainSigner;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'cafkit-syslog-keys-'));
    this.keyring = openKeyring(join(this.dir, 'keys'));
    this.signer = new ChainSigner(this.keyring, { chainId: `syslog-test-${randomUUID()}` });
  }

  /** A signed record; `memory` makes it as large as needed. */
  record(options: { status?: ActivityStatus; memory?: Record<string, unknown> | null; error?: string | null } = {}): ActivityRecord {
    const at = new Date().toISOString();
    const status = options.status ?? 'succeeded';
    return this.signer.sign({
      id: uuidv7(),
      execution_id: uuidv7(),
      correlation_id: `invid:${randomUUID()}`,
      org_id: 201,
      destination: 'incident_ops',
      action_id: 7,
      action_name: 'Add Note',
      object_type: 'incident',
      object_ids: { incident: 2095 },
      user: { id: 3, email: 'analyst@example.com' },
      status,
      received_at: at,
      started_at: at,
      ended_at: at,
      steps: [{ name: 'write', status: status === 'succeeded' ? 'succeeded' : 'failed', started_at: at, ended_at: at }],
      replies: [{ at, message_type: 0, message: 'done "quoted" ] \\ ünïcode ✓', complete: true }],
      error: options.error ?? (status === 'succeeded' ? null : `ended ${status}`),
      processor: { name: 'incident-ops', host: 'worker-1', version: '0.1.0' },
      memory: options.memory ?? null,
    });
  }

  /** The final event carrying a freshly signed record. */
  event(options: Parameters<RecordFactory['record']>[0] = {}): ActivityEvent {
    const record = this.record(options);
    return { kind: FINAL_KIND[record.status], at: record.ended_at ?? record.received_at, execution_id: record.execution_id, correlation_id: record.correlation_id, record };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
