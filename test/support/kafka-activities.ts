// Signed activity records for the Kafka channel's tests (see
// signed-activities.ts): a status, and a memory `note` to vary the size.
//
//   const activities = kafkaActivities();
//   after(() => activities.dispose());
//   const event = activities.final({ status: 'failed', note: 'x'.repeat(500) });
import type { ActivityEvent, ActivityRecord, UnsignedActivity } from '../../lib/activity/record.js';
import type { Keyring } from '../../lib/activity/keyring.js';
import { signedActivities } from './signed-activities.js';

type FinalStatus = 'succeeded' | 'failed' | 'timed_out' | 'dead_lettered';
type Options = { status?: FinalStatus; note?: string };

export interface KafkaActivities {
  keyring: Keyring;
  record(options?: Options): ActivityRecord;
  /** The final event carrying a fresh signed record. */
  final(options?: Options): ActivityEvent;
  dispose(): void;
}

export function kafkaActivities(): KafkaActivities {
  const base = signedActivities();
  const overrides = ({ status = 'succeeded', note }: Options = {}): Partial<UnsignedActivity> => ({
    status,
    error: status === 'succeeded' ? null : 'it went wrong',
    memory: note === undefined ? null : { note },
  });
  return {
    keyring: base.keyring,
    record: (options) => base.record(overrides(options)),
    final: (options) => base.event(overrides(options)),
    dispose: base.dispose,
  };
}
