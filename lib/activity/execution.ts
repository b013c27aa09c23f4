import { uuidv7 } from './time-ordered-id.js';
import type { ActionData } from '../wire/action-data.js';
import type { Acknowledgement } from '../wire/acknowledgement.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus, ExecutionSummary, ReplyRecord, StepRecord, UnsignedActivity } from './record.js';

/** Who runs the executions, for the records. */
export interface ProcessorIdentity {
  host: string;
  version: string;
}

const OBJECTS = ['incident', 'task', 'artifact', 'note', 'milestone', 'attachment'] as const;

/**
 * The record of one message being handled, built as it happens: each
 * transition is timestamped when it is observed here, not when a sink gets it.
 * `emit` receives every event; `finish` returns the unsigned record.
 */
export class Execution {
  readonly executionId = uuidv7();
  private startedAt: string | null = null;
  private status: ActivityStatus = 'received';
  private readonly steps: StepRecord[] = [];
  private readonly replies: ReplyRecord[] = [];
  private actionId: number | null = null;
  private actionName: string | null = null;
  private processorName: string | null = null;
  private message: ActionData | undefined;
  private isRerun = false;

  constructor(
    private readonly destination: string,
    private readonly correlationId: string | null,
    private readonly orgId: number,
    private readonly identity: ProcessorIdentity,
    private readonly emit: (event: ActivityEvent) => void,
    /** When the message arrived (ISO), which may be before the execution was opened. */
    private readonly receivedAt: string = new Date().toISOString(),
  ) {
    this.event('received', { about: this.summary() }, receivedAt);
  }

  /** The processor that handles it, once known. */
  get processor(): string | null {
    return this.processorName;
  }

  /** The action's name, once resolved. */
  get action(): string | null {
    return this.actionName;
  }

  /** The parsed message (absent for one that could not be parsed). */
  parsed(message: ActionData): void {
    this.message = message;
    this.actionId = message.action_id;
  }

  /** An earlier run of this invocation started and never finished. */
  rerun(): void {
    this.isRerun = true;
  }

  /** The handler is about to run; `declared` steps show as pending until they run. */
  started(action: string, processor: string | null, declared: readonly string[] = []): void {
    this.actionName = action;
    this.processorName = processor;
    this.startedAt = new Date().toISOString();
    this.status = 'running';
    for (const name of declared) this.steps.push({ name, status: 'pending' });
    this.event('started', { about: this.summary(), ...(declared.length ? { steps: this.steps.map((s) => ({ ...s })) } : {}) });
  }

  /** A step began. */
  stepStarted(name: string): StepRecord {
    let step = this.steps.find((s) => s.name === name && s.status === 'pending');
    if (!step) {
      step = { name, status: 'pending' };
      this.steps.push(step);
    }
    step.status = 'running';
    step.started_at = new Date().toISOString();
    this.event('step_started', { step: { ...step } });
    return step;
  }

  /** A step ended, with its output variables or its error. */
  stepEnded(step: StepRecord, outcome: { output?: Record<string, unknown>; error?: string }): void {
    step.ended_at = new Date().toISOString();
    step.status = outcome.error === undefined ? 'succeeded' : 'failed';
    if (outcome.output !== undefined) step.output = outcome.output;
    if (outcome.error !== undefined) step.error = outcome.error;
    this.event('step_ended', { step: { ...step } });
  }

  /** A reply went to the platform. */
  replied(reply: Acknowledgement): void {
    const record: ReplyRecord = { at: new Date().toISOString(), message_type: reply.message_type, message: reply.message, complete: reply.complete };
    this.replies.push(record);
    this.event('reply', { reply: record });
  }

  /** The end: the unsigned record, ready for the signer. */
  finish(status: Exclude<ActivityStatus, 'received' | 'running'>, error: string | null, memory: UnsignedActivity['memory'] = null): UnsignedActivity {
    this.status = status;
    const { object_type, object_ids, user } = this.summary();
    return {
      id: uuidv7(),
      execution_id: this.executionId,
      correlation_id: this.correlationId,
      org_id: this.orgId,
      destination: this.destination,
      action_id: this.actionId,
      action_name: this.actionName,
      object_type,
      object_ids,
      user,
      status,
      received_at: this.receivedAt,
      started_at: this.startedAt,
      ended_at: new Date().toISOString(),
      steps: this.steps.map((s) => ({ ...s })),
      replies: this.replies.slice(),
      error,
      processor: { name: this.processorName, host: this.identity.host, version: this.identity.version },
      memory,
      ...(this.isRerun ? { rerun: true } : {}),
    };
  }

  private summary(): ExecutionSummary {
    const message = this.message;
    const objectIds: Record<string, number> = {};
    let objectType: string | null = null;
    for (const kind of OBJECTS) {
      const id = message?.[kind]?.id;
      if (typeof id === 'number') {
        objectIds[kind] = id;
        objectType = kind; // the most specific object present wins: incident comes first
      }
    }
    return {
      org_id: this.orgId,
      destination: this.destination,
      action_id: this.actionId,
      action_name: this.actionName,
      processor: this.processorName,
      object_type: objectType,
      object_ids: objectIds,
      user: message?.user ? { id: message.user.id ?? null, email: message.user.email ?? null } : null,
      received_at: this.receivedAt,
      ...(this.isRerun ? { rerun: true as const } : {}),
    };
  }

  private event(kind: ActivityEvent['kind'], extra: Partial<ActivityEvent> = {}, at = new Date().toISOString()): void {
    this.emit({ kind, at, execution_id: this.executionId, correlation_id: this.correlationId, ...extra });
  }
}

/**
 * What the dispatcher needs from the activity system: open an execution for
 * a message, and close it (sign, store, report). Absent when activities are off.
 */
export interface ActivityHooks {
  open(destination: string, correlationId: string | null, receivedAt: string): Execution;
  close(execution: Execution, status: Exclude<ActivityStatus, 'received' | 'running'>, error: string | null, memory?: Record<string, unknown>): void;
  /**
   * Closes a run whose final reply is recorded but not yet stored or sent:
   * signs and reports its record at once, so every sink gets the records in
   * chain order. Returns the record when the durable completed-reply store
   * keeps it, to be stored with the reply before the message is
   * acknowledged (its sink is skipped here); otherwise `undefined` (also
   * when it could not be signed, which is logged).
   */
  seal(execution: Execution, status: Exclude<ActivityStatus, 'received' | 'running'>, error: string | null, memory?: Record<string, unknown>): ActivityRecord | undefined;
}
