import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Log } from '../log/log.js';

/** Closed executions are forgotten this long after their case was closed. */
export const CLOSED_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** The file is compacted while running once this many lines (and four per execution) were appended. */
const COMPACT_AFTER_LINES = 10_000;

/**
 * One line of `cases.jsonl`: a change to one execution's mapping. Folding
 * the lines of an execution in order gives its {@link CaseState}; `tasks`
 * merge by key and `done` accumulates, every other field is overwritten.
 */
export const CaseLineSchema = z.strictObject({
  /** The execution id. */
  e: z.string().min(1),
  /** When the change was written (ISO). */
  at: z.string(),
  /** TheHive's id of the execution's case (`~41000`). */
  case: z.string().min(1).optional(),
  /** The case was created before its `started` event was seen: title and description are to be completed at close. */
  minimal: z.boolean().optional(),
  /** Task ids by task key (`step:<name>@<started_at>`, `outcome`, `replies`). */
  tasks: z.record(z.string(), z.string()).optional(),
  /** Calls done for an event, by marker (`log:<task key>`, `status:<task key>`, `reply:<key>`). */
  done: z.array(z.string()).optional(),
  /** When the case was closed (ISO): later events of the execution are ignored. */
  closed: z.string().optional(),
});
export type CaseLine = z.infer<typeof CaseLineSchema>;

/** What the sink knows about one execution's case. */
export interface CaseState {
  caseId?: string;
  minimal: boolean;
  tasks: Map<string, string>;
  done: Set<string>;
  closedAt?: string;
}

/** A change to record: the fields of a {@link CaseLine} without the execution and time. */
export type CaseChange = Omit<CaseLine, 'e' | 'at'>;

/**
 * The execution → TheHive case mapping of the TheHive sink, kept in
 * `<home>/thehive/cases.jsonl` so a restarted processor (replaying spilled
 * events, or redelivering ones it is unsure of) finds the case it already
 * opened instead of opening a second one.
 *
 * Every change is appended as one JSON line at once (so a crash loses at most
 * the call in flight) and `sync()` fsyncs them; the sink syncs before each
 * delivery returns. At open (and, while running, once many lines were
 * appended) the file is folded and compacted: executions closed more than
 * {@link CLOSED_RETENTION_MS} ago are dropped, closed ones keep only their
 * case id, and the rest is rewritten one line per execution.
 * A torn last line (crash mid-write) is skipped with a warning.
 *
 * @example
 * const cases = TheHiveCases.open(home, log);
 * cases.record(executionId, { case: '~41000' });
 * cases.get(executionId)?.caseId; // '~41000'
 * cases.sync();
 */
export class TheHiveCases {
  private fd: number | undefined;
  private unsynced = false;
  /** Lines appended since the last compaction. */
  private appended = 0;

  private constructor(
    readonly path: string,
    private readonly states: Map<string, CaseState>,
  ) {}

  /** Loads and compacts `<home>/thehive/cases.jsonl` (created if absent). */
  static open(home: string, log: Log, now = Date.now()): TheHiveCases {
    const dir = join(home, 'thehive');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'cases.jsonl');
    const states = new Map<string, CaseState>();
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let bad = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const parsed = parseLine(line);
      if (parsed) fold(states, parsed);
      else bad++;
    }
    if (bad > 0) log.warn('thehive: unreadable lines skipped in the case mapping', { path, lines: bad });
    const cases = new TheHiveCases(path, states);
    cases.compact(now);
    return cases;
  }

  /** The state of `executionId`'s case, if this sink has seen it. */
  get(executionId: string): CaseState | undefined {
    return this.states.get(executionId);
  }

  /** Executions currently known (open or recently closed). */
  get size(): number {
    return this.states.size;
  }

  /** Applies `change` in memory and appends it to the file (not yet fsynced: see {@link sync}). */
  record(executionId: string, change: CaseChange): CaseState {
    const line: CaseLine = { e: executionId, at: new Date().toISOString(), ...change };
    writeSync(this.handle(), `${JSON.stringify(line)}\n`);
    this.unsynced = true;
    this.appended++;
    return fold(this.states, line);
  }

  /** Flushes the appended lines to disk; compacts the file once it holds many more lines than executions. */
  sync(now = Date.now()): void {
    if (!this.unsynced || this.fd === undefined) return;
    fsyncSync(this.fd);
    this.unsynced = false;
    if (this.appended > Math.max(COMPACT_AFTER_LINES, 4 * this.states.size)) this.compact(now);
  }

  close(): void {
    if (this.fd === undefined) return;
    this.sync();
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Drops executions closed more than {@link CLOSED_RETENTION_MS} before `now` and rewrites the file, one line per execution. */
  private compact(now: number): void {
    for (const [execution, state] of this.states) {
      if (state.closedAt !== undefined && now - Date.parse(state.closedAt) > CLOSED_RETENTION_MS) this.states.delete(execution);
    }
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    this.rewrite(new Date(now).toISOString());
    this.appended = 0;
  }

  private handle(): number {
    this.fd ??= openSync(this.path, 'a', 0o600);
    return this.fd;
  }

  /** Writes the folded state, one line per execution, over the file (temp file, fsync, rename). */
  private rewrite(at: string): void {
    const lines: string[] = [];
    for (const [e, state] of this.states) {
      const line: CaseLine = { e, at };
      if (state.caseId !== undefined) line.case = state.caseId;
      if (state.closedAt !== undefined) {
        line.closed = state.closedAt;
      } else {
        if (state.minimal) line.minimal = true;
        if (state.tasks.size > 0) line.tasks = Object.fromEntries(state.tasks);
        if (state.done.size > 0) line.done = [...state.done];
      }
      lines.push(`${JSON.stringify(line)}\n`);
    }
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, lines.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    const dir = openSync(join(this.path, '..'), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

function parseLine(line: string): CaseLine | undefined {
  try {
    const parsed = CaseLineSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function fold(states: Map<string, CaseState>, line: CaseLine): CaseState {
  let state = states.get(line.e);
  if (!state) states.set(line.e, (state = { minimal: false, tasks: new Map(), done: new Set() }));
  if (line.case !== undefined) state.caseId = line.case;
  if (line.minimal !== undefined) state.minimal = line.minimal;
  for (const [key, id] of Object.entries(line.tasks ?? {})) state.tasks.set(key, id);
  for (const marker of line.done ?? []) state.done.add(marker);
  if (line.closed !== undefined) {
    state.closedAt = line.closed;
    // A closed case takes no more calls: its tasks and markers are not needed again.
    state.tasks.clear();
    state.done.clear();
  }
  return state;
}
