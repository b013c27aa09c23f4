// Signed activity records and their final events for the syslog channel's
// tests (see signed-activities.ts), with a reply text that has syslog's
// special characters in it.
import type { Keyring } from '../../lib/activity/keyring.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus } from '../../lib/activity/record.js';
import { signedActivities, type SignedActivities } from './signed-activities.js';

type Options = { status?: ActivityStatus; memory?: Record<string, unknown> | null; error?: string | null };

/** Signs records in a chain of its own; `dispose()` removes the keyring folder. */
export class RecordFactory {
  private readonly base: SignedActivities = signedActivities();
  readonly keyring: Keyring = this.base.keyring;

  /** A signed record; `memory` makes it as large as needed. */
  record(options: Options = {}): ActivityRecord {
    return this.base.record(RecordFactory.overrides(options));
  }

  /** The final event carrying a freshly signed record. */
  event(options: Options = {}): ActivityEvent {
    return this.base.event(RecordFactory.overrides(options));
  }

  dispose(): void {
    this.base.dispose();
  }

  private static overrides({ status = 'succeeded', memory = null, error }: Options) {
    const at = new Date().toISOString();
    return {
      status,
      received_at: at,
      started_at: at,
      ended_at: at,
      replies: [{ at, message_type: 0, message: 'done "quoted" ] \\ ünïcode ✓', complete: true }],
      error: error ?? (status === 'succeeded' ? null : `ended ${status}`),
      memory,
    };
  }
}
