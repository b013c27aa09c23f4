import { randomUUID } from 'node:crypto';
import type { ActivitySink } from '../activity/sink.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus, ExecutionSummary, ReplyRecord, StepRecord } from '../activity/record.js';

/**
 * An execution as the operator API shows it: what it is about, where it
 * stands, its steps and replies so far, and (once finished) its signed record.
 */
export interface ExecutionState {
  execution_id: string;
  correlation_id: string | null;
  status: ActivityStatus;
  org_id: number | null;
  destination: string | null;
  action_name: string | null;
  processor: string | null;
  object_type: string | null;
  object_ids: Record<string, number>;
  user: { id: number | null; email: string | null } | null;
  received_at: string;
  started_at: string | null;
  ended_at: string | null;
  steps: StepRecord[];
  replies: ReplyRecord[];
  error: string | null;
  rerun?: true;
  /** The signed record, once the execution has finished. */
  record?: ActivityRecord;
}

/** One event of the live feed, numbered. */
export interface FeedEntry {
  /** `<boot>:<n>`: increasing within one process; a cursor of another process (a restart) is a gap. */
  cursor: string;
  event: ActivityEvent;
  /** The execution after this event. */
  execution: ExecutionState;
}

/** What {@link ExecutionCache.since} returns. */
export interface FeedSince {
  entries: FeedEntry[];
  /** Events after the cursor were dropped from the buffer (or the cursor is from an earlier process): refetch through the list. */
  gap: boolean;
}

/** Options of {@link ExecutionCache}. */
export interface ExecutionCacheOptions {
  /** Executions kept; the oldest finished ones go first. */
  maxExecutions: number;
  /** Feed entries kept for resuming. */
  bufferSize: number;
}

const FINAL: ReadonlySet<ActivityEvent['kind']> = new Set(['completed', 'failed', 'timed_out', 'dead_lettered']);

/**
 * SOARCA's "cache reporter" for cafkit: a sink that follows every execution
 * from its events, so the API can show running executions (which no store
 * has yet) and the live feed can number events and replay them to a client
 * that reconnects with its cursor. Bounded: the oldest finished executions
 * and the oldest feed entries are dropped first.
 *
 * @example
 * const cache = new ExecutionCache({ maxExecutions: 10_000, bufferSize: 10_000 });
 * createActivitySystem(config, log, env, [...alertSinks, cache]);
 * const off = cache.subscribe((entry) => ws.send(JSON.stringify(entry)));
 */
export class ExecutionCache implements ActivitySink {
  readonly name = 'api';
  private readonly boot = randomUUID().slice(0, 8);
  private seq = 0;
  /** Insertion-ordered: the first key is the oldest execution. */
  private readonly executions = new Map<string, ExecutionState>();
  private readonly feed: FeedEntry[] = [];
  private feedStart = 0;
  private readonly listeners = new Set<(entry: FeedEntry) => void>();

  constructor(private readonly options: ExecutionCacheOptions) {}

  async deliver(event: ActivityEvent): Promise<void> {
    this.apply(event);
  }

  async deliverBatch(events: readonly ActivityEvent[]): Promise<void> {
    for (const event of events) this.apply(event);
  }

  /** The cursor of the latest event (`<boot>:0` before any). */
  get cursor(): string {
    return `${this.boot}:${this.seq}`;
  }

  /** The execution, if it is still cached. */
  get(executionId: string): ExecutionState | undefined {
    return this.executions.get(executionId);
  }

  /** Every cached execution, newest first. */
  newestFirst(): ExecutionState[] {
    return [...this.executions.values()].reverse();
  }

  /** Feed entries after `cursor`, oldest first. */
  since(cursor: string): FeedSince {
    const [boot, n] = cursor.split(':');
    const after = Number(n);
    if (boot !== this.boot || !Number.isInteger(after) || after < 0 || after > this.seq) return { entries: this.feed.slice(), gap: true };
    const gap = after < this.feedStart;
    return { entries: this.feed.slice(Math.max(0, after - this.feedStart)), gap };
  }

  /** Calls `listener` with each new entry; returns the unsubscribe function. A listener that throws is removed. */
  subscribe(listener: (entry: FeedEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(event: ActivityEvent): void {
    const execution = this.update(event);
    this.seq++;
    const entry: FeedEntry = { cursor: `${this.boot}:${this.seq}`, event, execution };
    this.feed.push(entry);
    if (this.feed.length > this.options.bufferSize) {
      this.feed.shift();
      this.feedStart++;
    }
    for (const listener of this.listeners) {
      try {
        listener(entry);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }

  private update(event: ActivityEvent): ExecutionState {
    let state = this.executions.get(event.execution_id);
    if (!state) {
      state = blank(event);
      this.executions.set(event.execution_id, state);
      this.evict();
    }
    if (event.about) about(state, event.about);
    switch (event.kind) {
      case 'started':
        state.status = 'running';
        state.started_at = event.at;
        // Declared steps, pending until they run (events may come in any order: a step already seen is kept).
        for (const step of event.steps ?? []) if (!state.steps.some((s) => s.name === step.name)) state.steps.push({ ...step });
        break;
      case 'step_started':
      case 'step_ended':
        if (event.step) {
          const index = state.steps.findIndex((s) => s.name === event.step!.name && (s.status === 'pending' || s.status === 'running'));
          if (index === -1) state.steps.push({ ...event.step });
          else state.steps[index] = { ...event.step };
        }
        break;
      case 'reply':
        if (event.reply) state.replies.push(event.reply);
        break;
      default:
        if (FINAL.has(event.kind) && event.record) fromRecord(state, event.record);
    }
    return { ...state, steps: state.steps.slice(), replies: state.replies.slice() };
  }

  /** Drops the oldest finished executions beyond the limit (running ones only when nothing else is left). */
  private evict(): void {
    if (this.executions.size <= this.options.maxExecutions) return;
    for (const [id, state] of this.executions) {
      if (this.executions.size <= this.options.maxExecutions) return;
      if (state.record) this.executions.delete(id);
    }
    for (const id of this.executions.keys()) {
      if (this.executions.size <= this.options.maxExecutions) return;
      this.executions.delete(id);
    }
  }
}

function blank(event: ActivityEvent): ExecutionState {
  return {
    execution_id: event.execution_id,
    correlation_id: event.correlation_id,
    status: 'received',
    org_id: null,
    destination: null,
    action_name: null,
    processor: null,
    object_type: null,
    object_ids: {},
    user: null,
    received_at: event.at,
    started_at: null,
    ended_at: null,
    steps: [],
    replies: [],
    error: null,
  };
}

function about(state: ExecutionState, summary: ExecutionSummary): void {
  state.org_id = summary.org_id;
  state.destination = summary.destination;
  state.action_name = summary.action_name ?? state.action_name;
  state.processor = summary.processor ?? state.processor;
  state.object_type = summary.object_type;
  state.object_ids = summary.object_ids;
  state.user = summary.user;
  state.received_at = summary.received_at;
  if (summary.rerun) state.rerun = true;
}

function fromRecord(state: ExecutionState, record: ActivityRecord): void {
  Object.assign(state, stateFromRecord(record), { steps: record.steps.map((s) => ({ ...s })), replies: record.replies.slice() });
}

/**
 * An execution known only from its stored record (finished, no longer in
 * the cache), in the shape the cache keeps.
 *
 * @example
 * const state = stateFromRecord(await findExecutionRecord(db, id));
 */
export function stateFromRecord(record: ActivityRecord): ExecutionState {
  return {
    execution_id: record.execution_id,
    correlation_id: record.correlation_id,
    status: record.status,
    org_id: record.org_id,
    destination: record.destination,
    action_name: record.action_name,
    processor: record.processor.name,
    object_type: record.object_type,
    object_ids: record.object_ids,
    user: record.user,
    received_at: record.received_at,
    started_at: record.started_at,
    ended_at: record.ended_at,
    steps: record.steps,
    replies: record.replies,
    error: record.error,
    ...(record.rerun ? { rerun: true as const } : {}),
    record,
  };
}
