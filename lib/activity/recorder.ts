import { Execution, type ActivityHooks, type ProcessorIdentity } from './execution.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus, UnsignedActivity } from './record.js';
import type { Reporter } from './reporter.js';
import type { ChainSigner } from './signer.js';
import { silentLog, type Log } from '../log/log.js';

/** Which channels (sink names) get an execution's events. */
export type Channels = 'all' | readonly string[];

/** Options of {@link ActivityRecorder}. */
export interface RecorderOptions {
  orgId: number;
  identity: ProcessorIdentity;
  signer: ChainSigner;
  reporter: Reporter;
  /** Channels for every activity, unless a route says otherwise (Lope's `all` flag or a list). */
  channels: Channels;
  /** By processor name, or `processor/action`: which channels get its activities. */
  routes: Record<string, Channels>;
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
 * before it, to the reporter for the channels the processor's route names.
 * Nothing here may fail an action: a signing error is logged and the
 * execution is reported unsigned as an error event.
 */
export class ActivityRecorder implements ActivityHooks {
  private readonly log: Log;

  constructor(private readonly options: RecorderOptions) {
    this.log = options.log ?? silentLog;
  }

  open(destination: string, correlationId: string | null, receivedAt: string): Execution {
    // Until the action is resolved its processor is unknown, so early events take the default channels.
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
    const withReply = replyStore !== undefined && (channels === 'all' || channels.includes(replyStore));
    this.options.reporter.reportTo(finalEvent(record), !withReply ? channels : channels === 'all' ? this.options.reporter.sinkNames().filter((n) => n !== replyStore) : channels.filter((n) => n !== replyStore));
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

  private channelsFor(execution: Execution | undefined): Channels {
    const { routes, channels } = this.options;
    const processor = execution?.processor;
    if (!processor) return channels;
    return routes[`${processor}/${execution.action}`] ?? routes[processor] ?? channels;
  }
}

/** The event that carries a signed record to the sinks. */
function finalEvent(record: ActivityRecord): ActivityEvent {
  return { kind: FINAL_EVENT[record.status as keyof typeof FINAL_EVENT], at: record.ended_at ?? new Date().toISOString(), execution_id: record.execution_id, correlation_id: record.correlation_id, record };
}
