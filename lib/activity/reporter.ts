import { appendFileSync, closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { backoffDelay } from '../broker/backoff.js';
import { silentLog, type Log } from '../log/log.js';
import { ActivityEventSchema, type ActivityEvent } from './record.js';
import type { ActivitySink } from './sink.js';

/** What a sink's full queue does with one more event. */
export type OverflowPolicy = 'spill' | 'drop_oldest';

/** How a {@link Reporter} queues, retries and logs. */
export interface ReporterOptions {
  /** Events each sink holds in memory, besides the one being delivered. Default 10000. */
  queueSize?: number;
  /**
   * `spill` (default): overflow goes to `<spillDir>/<sink>.spill.jsonl` and is
   * replayed in order once the queue has room. `drop_oldest`: the oldest
   * queued event is dropped and counted.
   */
  overflow?: OverflowPolicy;
  /** Folder of the spill files; required with `overflow: 'spill'`. One reporter per folder. */
  spillDir?: string;
  /** Backoff between attempts at a failed delivery (ms). Default 500 to 30000. */
  retry?: { initialMs?: number; maxMs?: number };
  log?: Log;
  /** Least time between two warnings about one sink (ms); the ones in between are counted. Default 30000. */
  warnEveryMs?: number;
}

/** Most events handed to a batch-taking sink at once. */
const MAX_BATCH = 500;

/** Counters of one sink, as {@link Reporter.stats} returns them. */
export interface SinkStats {
  /** Events in memory waiting for the sink, the one being delivered included. */
  queued: number;
  /** Events in the spill file (or about to be written to it), not yet read back. */
  in_spill: number;
  delivered: number;
  /** Deliveries that threw; each is retried. */
  failed_attempts: number;
  /** Events lost: `drop_oldest` overflow, an unwritable spill file, a spill line that no longer parses, reports after `drain`. */
  dropped: number;
  /** Events written to the spill file since construction. */
  spilled: number;
  /** The last delivery error and when it happened (ISO); absent until one fails. */
  last_error?: string;
  last_error_at?: string;
}

/** What {@link Reporter.drain} could not deliver before its deadline. */
export interface DrainResult {
  /** Every event was delivered. */
  drained: boolean;
  /** Undelivered events per sink (with `spill`, they are kept in the spill file for the next start). */
  left: Record<string, number>;
}

/**
 * Fans activity events out to sinks without ever holding up the caller.
 * Each sink has its own bounded queue and one worker, so events reach a sink
 * in the order they were reported, and a slow or dead sink delays neither
 * the caller nor the other sinks. A delivery that throws is retried with
 * backoff, the same event again, until it succeeds or `drain`'s deadline
 * passes; failures are logged (at most one warning per sink per
 * `warnEveryMs`), never thrown.
 *
 * A full queue spills to `<spillDir>/<sink>.spill.jsonl` (one JSON event a
 * line) and reads it back in order as the queue empties; a spill file left by
 * a previous run is replayed before any new event. With `drop_oldest`, the
 * oldest queued event is dropped instead.
 *
 * Delivery is at least once: an event whose delivery was still pending when
 * `drain` gave up is kept for the next start and may reach the sink twice.
 * Events are held by reference: do not change one after reporting it.
 *
 * @example
 * const reporter = new Reporter([fileStore, syslog], { spillDir: '/var/lib/cafkit/spill', log });
 * reporter.report(event);                    // every sink that accepts it
 * reporter.reportTo(event, ['syslog']);      // channel selection made by the caller
 * const { drained, left } = await reporter.drain(10_000);
 */
export class Reporter {
  private readonly lanes = new Map<string, SinkLane>();
  private readonly log: Log;
  private readonly unknownSinks: Throttle;
  private closed = false;
  private drainResult: Promise<DrainResult> | undefined;

  /**
   * @throws {TypeError} two sinks share a name, a name is not usable as a
   * file name (letters, digits, `_`, `.`, `-`), or `spill` has no `spillDir`.
   */
  constructor(sinks: readonly ActivitySink[], options: ReporterOptions = {}) {
    const queueSize = options.queueSize ?? 10_000;
    const overflow = options.overflow ?? 'spill';
    if (!Number.isInteger(queueSize) || queueSize < 1) throw new TypeError(`queueSize must be a positive integer, not ${queueSize}`);
    if (overflow === 'spill' && !options.spillDir) throw new TypeError("overflow 'spill' needs a spillDir");
    this.log = options.log ?? silentLog;
    const warnEveryMs = options.warnEveryMs ?? 30_000;
    this.unknownSinks = new Throttle(this.log, warnEveryMs);
    if (overflow === 'spill' && options.spillDir) mkdirSync(options.spillDir, { recursive: true });
    for (const sink of sinks) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(sink.name)) throw new TypeError(`sink name ${JSON.stringify(sink.name)} must be letters, digits, '_', '.' or '-'`);
      if (this.lanes.has(sink.name)) throw new TypeError(`two sinks are named ${sink.name}`);
      const spill = overflow === 'spill' && options.spillDir ? new SpillFile(join(options.spillDir, `${sink.name}.spill.jsonl`)) : undefined;
      this.lanes.set(sink.name, new SinkLane(sink, {
        queueSize,
        spill,
        retry: { initialMs: options.retry?.initialMs ?? 500, maxMs: options.retry?.maxMs ?? 30_000 },
        log: this.log,
        warnEveryMs,
      }));
    }
  }

  /** The sinks' names, in the order they were given. */
  sinkNames(): string[] {
    return [...this.lanes.keys()];
  }

  /** Hands `event` to every sink that accepts it. Never throws, never waits. */
  report(event: ActivityEvent): void {
    this.reportTo(event, 'all');
  }

  /**
   * Hands `event` to the named sinks only (the caller has chosen the
   * channels, e.g. from a rule's alert settings). Unknown names are logged
   * and skipped. Never throws, never waits.
   */
  reportTo(event: ActivityEvent, sinkNames: 'all' | readonly string[]): void {
    try {
      if (sinkNames === 'all') {
        for (const lane of this.lanes.values()) lane.offer(event, this.closed);
        return;
      }
      for (const name of sinkNames) {
        const lane = this.lanes.get(name);
        if (lane) lane.offer(event, this.closed);
        else this.unknownSinks.warn('activity event for an unknown sink skipped', { sink: name, known: [...this.lanes.keys()] });
      }
    } catch (error) {
      // A caller must never fail because reporting did.
      this.unknownSinks.warn('reporting an activity event failed', { error: describe(error) });
    }
  }

  /** Counters per sink name. */
  stats(): Record<string, SinkStats> {
    const out: Record<string, SinkStats> = {};
    for (const [name, lane] of this.lanes) out[name] = lane.stats();
    return out;
  }

  /**
   * Per sink name, `at` of the oldest event it has not yet taken (in
   * delivery, queued or spilled), or `undefined` when nothing waits: the
   * sink's lag is now minus this. O(1) per sink. While a spill file is read
   * back it may be the last event read rather than the next one (a little
   * older than the truth, never newer).
   *
   * @example
   * const at = reporter.oldestQueuedAt()['syslog'];
   * const lagSeconds = at ? (Date.now() - Date.parse(at)) / 1000 : 0;
   */
  oldestQueuedAt(): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {};
    for (const [name, lane] of this.lanes) out[name] = lane.oldestQueuedAt();
    return out;
  }

  /**
   * Waits until every sink has every event, or `deadlineMs` has passed, then
   * stops: retries end, and reports made afterwards are dropped and counted.
   * With `spill`, events still undelivered (the one in delivery included)
   * are written to the front of the spill file, fsynced, for the next start.
   * Sinks are not closed: they belong to the caller.
   */
  drain(deadlineMs: number): Promise<DrainResult> {
    this.drainResult ??= this.drainOnce(deadlineMs);
    return this.drainResult;
  }

  private async drainOnce(deadlineMs: number): Promise<DrainResult> {
    const lanes = [...this.lanes.values()];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(lanes.map((lane) => lane.whenEmpty())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs)))),
    ]);
    clearTimeout(timer);
    this.closed = true;
    const left: Record<string, number> = {};
    for (const lane of lanes) left[lane.name] = await lane.stop();
    const drained = Object.values(left).every((n) => n === 0);
    if (!drained) this.log.warn('activity reporter stopped with undelivered events', { left, deadlineMs });
    return { drained, left };
  }
}

interface LaneOptions {
  queueSize: number;
  spill: SpillFile | undefined;
  retry: { initialMs: number; maxMs: number };
  log: Log;
  warnEveryMs: number;
}

/** One sink's queue, spill file and worker. */
class SinkLane {
  readonly name: string;
  private readonly queue: Ring<ActivityEvent>;
  private readonly spill: SpillFile | undefined;
  private readonly counters = { delivered: 0, failed_attempts: 0, dropped: 0, spilled: 0 };
  private lastError: { message: string; at: string } | undefined;
  private readonly failures: Throttle;
  private readonly losses: Throttle;
  /** Events handed to the sink and not yet confirmed: one, or a batch for a sink that takes batches. */
  private inFlight: ActivityEvent[] = [];
  private working = false;
  private stopped = false;
  private wakeFromPause: (() => void) | undefined;
  private refilling: Promise<void> | undefined;
  private emptyWaiters: (() => void)[] = [];

  constructor(
    private readonly sink: ActivitySink,
    private readonly options: LaneOptions,
  ) {
    this.name = sink.name;
    this.queue = new Ring(options.queueSize);
    this.spill = options.spill;
    this.failures = new Throttle(options.log, options.warnEveryMs);
    this.losses = new Throttle(options.log, options.warnEveryMs);
    if (this.spill) {
      this.spill.onLost = (count, reason) => this.lost(count, reason);
      if (this.spill.backlog > 0) {
        options.log.info('replaying activity events spilled by a previous run', { sink: this.name, events: this.spill.backlog });
        this.kick();
      }
    }
  }

  offer(event: ActivityEvent, closed: boolean): void {
    try {
      if (this.sink.accepts && !this.sink.accepts(event)) return;
    } catch (error) {
      this.lost(1, `accepts() threw: ${describe(error)}`);
      return;
    }
    if (closed || this.stopped) {
      this.lost(1, 'reported after drain');
      return;
    }
    // Once anything is in the spill file, newer events queue behind it there.
    if (this.spill && (this.spill.backlog > 0 || this.queue.full)) {
      this.spill.append(event);
      this.counters.spilled++;
    } else {
      if (this.queue.full) {
        this.queue.shift();
        this.lost(1, 'queue full (drop_oldest)');
      }
      this.queue.push(event);
    }
    this.kick();
  }

  stats(): SinkStats {
    const last = this.lastError ? { last_error: this.lastError.message, last_error_at: this.lastError.at } : {};
    return { queued: this.queue.length + this.inFlight.length, in_spill: this.spill?.backlog ?? 0, ...this.counters, ...last };
  }

  oldestQueuedAt(): string | undefined {
    // Delivery order is in-flight batch, then queue, then spill: the first one holding anything has the oldest event.
    return this.inFlight[0]?.at ?? this.queue.peek()?.at ?? (this.spill && this.spill.backlog > 0 ? this.spill.headAt : undefined);
  }

  /** Resolves when nothing is left to deliver. */
  whenEmpty(): Promise<void> {
    if (this.isEmpty()) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Ends the worker; with a spill file, keeps what is left there. Resolves to the undelivered count. */
  async stop(): Promise<number> {
    this.stopped = true;
    this.wakeFromPause?.();
    if (!this.spill) return this.stats().queued;
    // Events being read back are in neither the file nor the queue until the read ends.
    await this.refilling;
    const left = this.queue.takeAll();
    left.unshift(...this.inFlight);
    this.inFlight = [];
    if (left.length > 0) {
      await this.spill.persistFront(left);
      this.options.log.info('undelivered activity events kept in the spill file for the next start', { sink: this.name, events: left.length });
    }
    await this.spill.close();
    return this.spill.backlog;
  }

  private isEmpty(): boolean {
    return this.queue.length === 0 && this.inFlight.length === 0 && (this.spill?.backlog ?? 0) === 0;
  }

  private kick(): void {
    if (this.working || this.stopped) return;
    this.working = true;
    void this.work();
  }

  private async work(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.spill && this.spill.backlog > 0 && this.queue.length <= this.options.queueSize / 2) {
          this.refilling = this.refill(this.spill);
          await this.refilling;
          this.refilling = undefined;
        }
        if (this.queue.length === 0) break;
        const maxBatch = this.sink.deliverBatch ? Math.max(1, this.sink.maxBatch ?? MAX_BATCH) : 1;
        // A sink that gathers (a digest mail) waits for more before taking the batch.
        if (maxBatch > 1 && (this.sink.batchWindowMs ?? 0) > 0 && this.queue.length < maxBatch) {
          await this.pause(this.sink.batchWindowMs!);
          if (this.stopped) break;
        }
        const batch: ActivityEvent[] = [];
        // A sink that takes batches gets everything queued: one fsync or transaction for all of it.
        for (let next = this.queue.shift(); next !== undefined; next = batch.length < maxBatch ? this.queue.shift() : undefined) batch.push(next);
        this.inFlight = batch;
        const delivered = await this.deliver(batch);
        // When stopped mid-retry, stop() has already taken the events over.
        if (delivered) this.inFlight = [];
      }
    } catch (error) {
      this.options.log.error('activity sink worker failed', { sink: this.name, error: describe(error) });
    } finally {
      // No await separates the last check of the queue from here, so no
      // event can have been offered in between without a worker to take it.
      this.working = false;
    }
    if (this.isEmpty()) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Moves spilled events back into the queue, as many as it has room for. */
  private async refill(spill: SpillFile): Promise<void> {
    const events = await spill.read(this.options.queueSize - this.queue.length);
    for (const event of events) this.queue.push(event);
  }

  /** Delivers `events` (one, or a batch), retrying with backoff; false when stopped before they got through. */
  private async deliver(events: ActivityEvent[]): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (events.length === 1 || !this.sink.deliverBatch) await this.sink.deliver(events[0]!);
        else await this.sink.deliverBatch(events);
        this.counters.delivered += events.length;
        if (attempt > 1) this.options.log.info('activity sink delivers again', { sink: this.name, failedAttempts: attempt - 1 });
        return true;
      } catch (error) {
        this.counters.failed_attempts++;
        this.lastError = { message: describe(error), at: new Date().toISOString() };
        const event = events[0]!;
        this.failures.warn('activity sink delivery failed; retrying the same events', {
          sink: this.name, attempt, events: events.length, kind: event.kind, execution_id: event.execution_id, error: describe(error),
        });
        if (this.stopped) return false;
        await this.pause(backoffDelay(attempt, this.options.retry));
        if (this.stopped) return false;
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      // Retrying alone must not keep a process alive; drain() holds it open.
      timer.unref();
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeFromPause = undefined;
        resolve();
      }
      this.wakeFromPause = done;
    });
  }

  private lost(count: number, reason: string): void {
    this.counters.dropped += count;
    this.losses.warn('activity events dropped', { sink: this.name, events: count, reason, dropped: this.counters.dropped });
  }
}

/** A fixed-capacity FIFO with O(1) push and shift. */
class Ring<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  length = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  push(item: T): void {
    this.items[(this.head + this.length) % this.capacity] = item;
    this.length++;
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.length--;
    return item;
  }

  takeAll(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }
}

const READ_CHUNK = 256 * 1024;
const NEWLINE = 0x0a;

/**
 * A sink's overflow on disk: JSON events appended one a line, read back from
 * a moving offset, removed once everything in it has been read. Every file
 * operation runs in one chain, so appends, reads and rewrites never overlap.
 */
class SpillFile {
  /** Events in the file or waiting to be written there, not yet read back. */
  backlog = 0;
  /**
   * `at` of the oldest event not read back (while `backlog > 0`). After a
   * read it is the last event read, which the next unread one is no older than.
   */
  headAt: string | undefined;
  onLost: (count: number, reason: string) => void = () => {};
  private pending: ActivityEvent[] = [];
  private flushQueued = false;
  private handle: FileHandle | undefined;
  private size = 0;
  private readOffset = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {
    // Synchronous on purpose: the constructor must know the backlog, so that
    // events reported right after it queue behind the old ones.
    let size: number;
    try {
      size = statSync(path).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (size === 0) return;
    const fd = openSync(path, 'r');
    try {
      const buffer = Buffer.alloc(READ_CHUNK);
      let lastByte = NEWLINE;
      for (let position = 0; position < size;) {
        const n = readSync(fd, buffer, 0, Math.min(READ_CHUNK, size - position), position);
        if (n === 0) break;
        if (position === 0) this.headAt = firstAt(buffer.subarray(0, n));
        for (let i = 0; i < n; i++) if (buffer[i] === NEWLINE) this.backlog++;
        lastByte = buffer[n - 1] ?? NEWLINE;
        position += n;
      }
      // A crash can leave half a line; end it, so it stays one bad line
      // instead of corrupting the next event appended.
      if (lastByte !== NEWLINE) {
        appendFileSync(path, '\n');
        this.backlog++;
        size++;
      }
    } finally {
      closeSync(fd);
    }
    this.size = size;
  }

  append(event: ActivityEvent): void {
    if (this.backlog === 0) this.headAt = event.at;
    this.pending.push(event);
    this.backlog++;
    if (this.flushQueued) return;
    this.flushQueued = true;
    void this.serial(() => this.writePending());
  }

  /** Reads back up to `max` events, oldest first (writing pending ones first if the file has nothing unread). */
  read(max: number): Promise<ActivityEvent[]> {
    return this.serial(async () => {
      if (this.readOffset >= this.size) await this.writePending();
      const events: ActivityEvent[] = [];
      let position = this.readOffset;
      let carry = Buffer.alloc(0);
      while (events.length < max && position < this.size) {
        const handle = await this.open();
        const chunk = Buffer.alloc(Math.min(READ_CHUNK, this.size - position));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        let start = 0;
        for (let end = data.indexOf(NEWLINE); end !== -1 && events.length < max; end = data.indexOf(NEWLINE, start)) {
          const line = data.toString('utf8', start, end);
          start = end + 1;
          this.backlog--;
          const event = parseLine(line);
          if (event) events.push(event);
          else if (line.trim()) this.onLost(1, 'spill line is not an activity event');
        }
        carry = Buffer.from(data.subarray(start));
      }
      // Lines read but not parsed (past `max`) are read again next time.
      this.readOffset = position - carry.length;
      this.headAt = this.backlog > 0 ? (events.at(-1)?.at ?? this.headAt) : undefined;
      if (this.readOffset >= this.size && this.pending.length === 0) await this.remove();
      return events;
    });
  }

  /** Puts `events` before everything unread, fsynced: what a stopping reporter could not deliver. */
  persistFront(events: ActivityEvent[]): Promise<void> {
    return this.serial(async () => {
      await this.writePending();
      const lines = encodeLines(events);
      if (lines.lost > 0) this.onLost(lines.lost, 'event has no JSON form');
      const temporary = `${this.path}.tmp`;
      const out = await open(temporary, 'w');
      try {
        await out.writeFile(lines.data);
        if (this.size > this.readOffset) {
          const source = await this.open();
          const chunk = Buffer.alloc(READ_CHUNK);
          for (let position = this.readOffset; position < this.size;) {
            const { bytesRead } = await source.read(chunk, 0, Math.min(READ_CHUNK, this.size - position), position);
            if (bytesRead === 0) break;
            await out.writeFile(chunk.subarray(0, bytesRead));
            position += bytesRead;
          }
        }
        await out.sync();
      } finally {
        await out.close();
      }
      await this.handle?.close();
      this.handle = undefined;
      await rename(temporary, this.path);
      this.size = lines.data.length + (this.size - this.readOffset);
      this.readOffset = 0;
      this.backlog += lines.count;
      if (lines.count > 0) this.headAt = events[0]!.at;
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      await this.writePending();
      await this.handle?.close();
      this.handle = undefined;
    });
  }

  private async writePending(): Promise<void> {
    this.flushQueued = false;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    const lines = encodeLines(events);
    this.backlog -= lines.lost;
    if (lines.lost > 0) this.onLost(lines.lost, 'event has no JSON form');
    if (lines.count === 0) return;
    try {
      const handle = await this.open();
      await handle.writeFile(lines.data);
      this.size += lines.data.length;
    } catch (error) {
      this.backlog -= lines.count;
      this.onLost(lines.count, `spill file ${this.path} not writable: ${describe(error)}`);
      // A partial write would leave half a line; start the file afresh from what was read.
      await this.handle?.truncate(this.size).catch(() => {});
    }
  }

  private async open(): Promise<FileHandle> {
    // 'a+': every write appends, reads take an explicit position.
    this.handle ??= await open(this.path, 'a+');
    return this.handle;
  }

  private async remove(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    await unlink(this.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    this.size = 0;
    this.readOffset = 0;
  }

  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.chain.then(operation);
    this.chain = next.catch(() => {});
    return next;
  }
}

function encodeLines(events: readonly ActivityEvent[]): { data: Buffer; count: number; lost: number } {
  const lines: string[] = [];
  let lost = 0;
  for (const event of events) {
    try {
      lines.push(`${JSON.stringify(event)}\n`);
    } catch {
      lost++;
    }
  }
  return { data: Buffer.from(lines.join(''), 'utf8'), count: lines.length, lost };
}

/** `at` of the first line of a spill file's first chunk, if it reads as an event. */
function firstAt(chunk: Buffer): string | undefined {
  const end = chunk.indexOf(NEWLINE);
  return parseLine(chunk.toString('utf8', 0, end === -1 ? chunk.length : end))?.at;
}

function parseLine(line: string): ActivityEvent | undefined {
  if (!line.trim()) return undefined;
  try {
    const parsed = ActivityEventSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Logs a warning at most once per interval, counting the ones it held back. */
class Throttle {
  private last = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly log: Log,
    private readonly everyMs: number,
  ) {}

  warn(message: string, meta: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.last < this.everyMs) {
      this.suppressed++;
      return;
    }
    this.last = now;
    this.log.warn(message, this.suppressed > 0 ? { ...meta, suppressed: this.suppressed } : meta);
    this.suppressed = 0;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
