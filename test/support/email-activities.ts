// Signed activity records for the email channel's tests, produced the way
// the runtime produces them: an Execution driven through its transitions,
// finished, and signed by a ChainSigner with a keyring in a temp folder.
//
//   const activities = activityFactory();
//   after(() => activities.dispose());
//   const event = activities.final({ status: 'failed', stepError: '<script>x</script>' });
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Execution } from '../../lib/activity/execution.js';
import { openKeyring, type Keyring } from '../../lib/activity/keyring.js';
import type { ActivityEvent, ActivityRecord } from '../../lib/activity/record.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import { build } from '../../lib/testing/index.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';

type FinalStatus = 'succeeded' | 'failed' | 'timed_out' | 'dead_lettered';

const FINAL_KIND: Record<FinalStatus, ActivityEvent['kind']> = { succeeded: 'completed', failed: 'failed', timed_out: 'timed_out', dead_lettered: 'dead_lettered' };

export interface ActivityOptions {
  status?: FinalStatus;
  action?: string;
  incident?: number;
  /** Error of the `write` step (the step then fails). */
  stepError?: string;
  reply?: string;
}

export interface ActivityFactory {
  keyring: Keyring;
  /** A signed record, next in this factory's chain. */
  record(options?: ActivityOptions): ActivityRecord;
  /** The final event carrying a fresh signed record, as the recorder reports it. */
  final(options?: ActivityOptions): ActivityEvent;
  dispose(): void;
}

export function activityFactory(): ActivityFactory {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-email-'));
  const keyring = openKeyring(path.join(dir, 'keys'));
  const signer = new ChainSigner(keyring, { chainId: 'email-test-chain' });
  let n = 0;

  function record(options: ActivityOptions = {}): ActivityRecord {
    n++;
    const status = options.status ?? 'succeeded';
    const execution = new Execution('incident_ops', `invid:${n}`, 201, { host: 'test-host', version: '0.0.0' }, () => {});
    execution.parsed(ActionDataSchema.parse(build.message({ incident: build.incident({ id: options.incident ?? 2000 + n }), properties: { note_text: 'hi' } })));
    execution.started(options.action ?? 'Add Note', 'incident-ops', ['validate', 'write']);
    const validate = execution.stepStarted('validate');
    execution.stepEnded(validate, { output: { ok: true } });
    const write = execution.stepStarted('write');
    execution.stepEnded(write, options.stepError === undefined ? { output: { note: n } } : { error: options.stepError });
    execution.replied({ message_type: status === 'succeeded' ? 0 : 2, message: options.reply ?? `done ${n}`, complete: true });
    return signer.sign(execution.finish(status, status === 'succeeded' ? null : (options.stepError ?? 'it went wrong')));
  }

  return {
    keyring,
    record,
    final(options) {
      const r = record(options);
      return { kind: FINAL_KIND[r.status as FinalStatus], at: r.ended_at!, execution_id: r.execution_id, correlation_id: r.correlation_id, record: r };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
