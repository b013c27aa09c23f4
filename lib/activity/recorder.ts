import { Execution, type ActivityHooks, type ProcessorIdentity } from './execution.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus, UnsignedActivity } from './record.js';
import type { Reporter } from './reporter.js';
import type { ChainSigner } from './signer.js';
import { silentLog, type Log } from '../log/log.js';
import type { AlertSelector } from './alert-selection.js';

/** Options of {@link ActivityRecorder}. */
export interface RecorderOptions {
  orgId: number;
  identity: ProcessorIdentity;
  signer: ChainSigner;
  reporter: Reporter;
  /** Sinks that get every execution's events: the stores (which keep only records) and any other non-alert sink. */
  always: readonly string[];
  /** The alert channels for an execution, by processor and action (Lope's `alert_all` and per-rule flags). */
  alerts?: AlertSelector;
  /** Add the handler's context variables to each record; base64 them with `encodeB64Memory`. */
  reportMemory: boolean;
  encodeB64Memory: boolean;
  /** The sink of the store that keeps records with their completed replies (see {@link ActivityRecorder.seal}). */
  replyStore?: string;
  log?: Log;
}

const FINAL_EVENT: Record<Exclude<ActivityStatus, 'received' | 'running'>, ActivityEvent['kind']> = {
  succeeded: 'completed',
  failed: 'failed',
  timed_out: 'timed_out',
  dead_lettered: 'dead_lettered',
};

/**
 * The activity system as the dispatcher sees it: opens an execution per
 * message, and at the end signs its record and hands it, like every event
 * before it, to the reporter: for the stores, and for the alert channels
 * the processor's rule selects.
 * Nothing here may fail an action: a signing error is logged and the
 * execution is reported unsigned as an error event.
 */
export class ActivityRecorder implements ActivityHooks {
  private readonly log: Log;
  private readonly joined = new WeakMap<readonly string[], readonly string[]>();

  constructor(private readonly options: RecorderOptions) {
    this.log = options.log ?? silentLog;
  }

  open(destination: string, correlationId: string | null, receivedAt: string): Execution {
    // Until the action is resolved its processor is unknown: early events reach only `alert_all` channels.
    let execution: Execution | undefined;
    execution = new Execution(destination, correlationId, this.options.orgId, this.options.identity, (event) => this.options.reporter.reportTo(event, this.channelsFor(execution)), receivedAt);
    return execution;
  }

  close(execution: Execution, status: Exclude<ActivityStatus, 'received' | 'running'>, error: string | null, memory?: Record<string, unknown>): void {
    const record = this.sign(execution, status, error, memory);
    if (record) this.options.reporter.reportTo(finalEvent(record), this.channelsFor(execution));
  }

  seal(execution: Execution, status: Exclude<ActivityStatus, 'received' | 'running'>, error: string | null, memory?: Record<string, unknown>): ActivityRecord | undefined {
    const record = this.sign(execution, status, error, memory);
    if (!record) return undefined;
    // Reported in the same step as signed: sinks that append (a file) get the chain in order.
    const channels = this.channelsFor(execution);
    const { replyStore } = this.options;
    const withReply = replyStore !== undefined && channels.includes(replyStore);
    this.options.reporter.reportTo(finalEvent(record), withReply ? channels.filter((n) => n !== replyStore) : channels);
    return withReply ? record : undefined;
  }

  /** The signed record, or `undefined` (logged) when it cannot be signed: an action never fails because of its record. */
  private sign(execution: Execution, status: Exclude<ActivityStatus, 'received' | 'running'>, error: string | null, memory?: Record<string, unknown>): ActivityRecord | undefined {
    let snapshot: UnsignedActivity['memory'] = null;
    if (this.options.reportMemory && memory) {
      snapshot = this.options.encodeB64Memory ? Buffer.from(JSON.stringify(memory)).toString('base64') : memory;
    }
    try {
      return this.options.signer.sign(execution.finish(status, error, snapshot));
    } catch (cause) {
      this.log.error('activity record could not be signed; the action itself is not affected', { executionId: execution.executionId, error: (cause as Error).message });
      return undefined;
    }
  }

  private channelsFor(execution: Execution | undefined): readonly string[] {
    const { always, alerts } = this.options;
    const selected = alerts?.(execution?.processor ?? null, execution?.action ?? null) ?? [];
    if (selected.length === 0) return always;
    // One array per (processor, action): the selector caches its answers.
    let joined = this.joined.get(selected);
    if (!joined) this.joined.set(selected, (joined = [...always, ...selected]));
    return joined;
  }
}

/** The event that carries a signed record to the sinks. */
function finalEvent(record: ActivityRecord): ActivityEvent {
  return { kind: FINAL_EVENT[record.status as keyof typeof FINAL_EVENT], at: record.ended_at ?? new Date().toISOString(), execution_id: record.execution_id, correlation_id: record.correlation_id, record };
}
