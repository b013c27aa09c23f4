import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { silentLog, type Log } from '../log/log.js';
import { canonicalRecordText } from './signer.js';
import { ActivityRecordSchema, type ActivityEvent, type ActivityRecord } from './record.js';
import type { ActivitySink } from './sink.js';
import type { ActivityStore } from './store.js';

/** Where and how a {@link FileActivityStore} writes. */
export interface FileActivityStoreOptions {
  /** The live file, e.g. `/var/lib/cafkit/activities.jsonl`; rotated files are `<path>.1` (newest) to `<path>.<keep>`. */
  path: string;
  /**
   * Write each line as the base64 of the record's JSON (for transports and
   * tools that must not see JSON). Reading accepts both forms, line by line.
   */
  base64?: boolean;
  /** Rotate before a write would take the live file past this size (bytes). 0: never. Default 64 MiB. */
  maxBytes?: number;
  /** Rotated files kept; older ones are deleted. Default 5. */
  keep?: number;
  /**
   * Least time between two fsyncs (ms). 0 (default): appends waiting while
   * an fsync runs share the next one. Higher values gather more appends per
   * fsync at the cost of latency; `append` still resolves only after its
   * fsync.
   */
  fsyncIntervalMs?: number;
  /** The sink's name, for the reporter. Default `file`. */
  name?: string;
  log?: Log;
}

interface PendingLine {
  data: Buffer;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Signed activity records as JSON Lines: one record a line, each line a
 * valid JSON object (the record's RFC 8785 canonical JSON, so the bytes on
 * disk are the bytes that were hashed), or its base64 with `base64: true`.
 * Appends use O_APPEND and resolve once the line is fsynced; concurrent
 * appends share an fsync. The file rotates by size (`activities.jsonl` →
 * `.1` → `.2` …, `keep` of them), and `read()` yields records oldest first
 * across the rotated files.
 *
 * Also an {@link ActivitySink} taking only final events (the ones carrying
 * the signed record).
 *
 * @example
 * const store = await FileActivityStore.open({ path: '/var/lib/cafkit/activities.jsonl', keep: 10 });
 * await store.append(signer.sign(unsigned));
 * for await (const record of store.read()) console.log(record.seq);
 */
export class FileActivityStore implements ActivityStore, ActivitySink {
  readonly name: string;
  readonly path: string;
  private readonly base64: boolean;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly fsyncIntervalMs: number;
  private readonly log: Log;
  private handle: FileHandle | undefined;
  /** Bytes of whole lines in the live file (known once the file is open for writing). */
  private size = 0;
  private pending: PendingLine[] = [];
  private writing: Promise<void> | undefined;
  private lastSync = 0;
  private closed = false;
  private lock: Promise<unknown> = Promise.resolve();
  /**
   * Per chain, the `seq` up to which the file is known to be complete: the
   * last line read by `tailRecord`, then what the start-up backfill copied
   * (`markComplete`). A record at or below it is a repeat (the reporter's
   * spill replaying what the backfill already wrote) and is skipped. Records
   * appended in the normal way never move it, so nothing else is skipped.
   */
  private readonly complete = new Map<string, number>();

  private constructor(options: FileActivityStoreOptions) {
    this.name = options.name ?? 'file';
    this.path = options.path;
    this.base64 = options.base64 ?? false;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.keep = options.keep ?? 5;
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? 0;
    this.log = options.log ?? silentLog;
  }

  /**
   * Prepares a store on `options.path`, creating its folder. The file itself
   * is opened at the first append, so a store opened only to read never
   * changes it.
   */
  static async open(options: FileActivityStoreOptions): Promise<FileActivityStore> {
    await mkdir(dirname(options.path), { recursive: true });
    return new FileActivityStore(options);
  }

  /** Final events only: the ones with a signed record. */
  accepts(event: ActivityEvent): boolean {
    return event.record !== undefined;
  }

  /** Appends the event's record; events without one are ignored. */
  async deliver(event: ActivityEvent): Promise<void> {
    if (event.record) await this.append(event.record);
  }

  /** Appends the records of `events` in order; issued together, they share one commit. */
  async deliverBatch(events: readonly ActivityEvent[]): Promise<void> {
    await Promise.all(events.flatMap((event) => (event.record ? [this.append(event.record)] : [])));
  }

  /** Appends `record` as one line; resolves once it is fsynced. */
  append(record: ActivityRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`activity file ${this.path} is closed`));
    if (record.seq <= (this.complete.get(record.chain_id) ?? -1)) {
      this.log.debug('activity record already in the file; skipped', { file: this.path, chain: record.chain_id, seq: record.seq });
      return Promise.resolve();
    }
    let data: Buffer;
    try {
      const json = canonicalRecordText(record);
      data = Buffer.from(`${this.base64 ? Buffer.from(json, 'utf8').toString('base64') : json}\n`, 'utf8');
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ data, resolve, reject });
      this.writing ??= this.writeLoop();
    });
  }

  /** The file holds every record of `chainId` up to `seq` (see `complete`). */
  markComplete(chainId: string, seq: number): void {
    if (seq > (this.complete.get(chainId) ?? -1)) this.complete.set(chainId, seq);
  }

  /**
   * Every record, oldest first: rotated files from the highest number down,
   * then the live file. The live file is read up to what had been appended
   * when reading began.
   *
   * @throws {Error} a line that is not a valid record, naming file and line.
   */
  async *read(): AsyncIterable<ActivityRecord> {
    // Open every file before reading any, under the write lock: a rotation
    // renames files, and an open handle keeps reading the same one.
    const files = await this.exclusive(() => this.openForReading());
    try {
      for (const file of files) yield* this.readFile(file);
    } finally {
      for (const file of files) await file.handle.close().catch(() => {});
    }
  }

  /** The record with the highest `seq` of `chainId`, to resume signing after a restart. Reads the whole store. */
  async lastRecord(chainId: string): Promise<ActivityRecord | undefined> {
    let last: ActivityRecord | undefined;
    for await (const record of this.read()) {
      if (record.chain_id === chainId && (!last || record.seq > last.seq)) last = record;
    }
    return last;
  }

  /**
   * The last whole record written: the live file's last line, else the
   * newest rotated file's. Reads from the end, so it costs the same for any
   * file size.
   */
  async tailRecord(): Promise<ActivityRecord | undefined> {
    const candidates = [this.path, ...(await this.rotatedFiles()).reverse().map((r) => r.file)];
    for (const file of candidates) {
      let handle: FileHandle;
      try {
        handle = await open(file, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      try {
        const end = await wholeLinesEnd(handle, (await handle.stat()).size);
        if (end === 0) continue;
        const start = await lastLineStart(handle, end);
        const line = Buffer.alloc(end - 1 - start);
        await handle.read(line, 0, line.length, start);
        const record = parseRecordLine(line.toString('utf8'), `${file} (last line)`);
        this.markComplete(record.chain_id, record.seq);
        return record;
      } finally {
        await handle.close();
      }
    }
    return undefined;
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    await this.exclusive(async () => {
      await this.handle?.close();
      this.handle = undefined;
    });
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const wait = this.lastSync + this.fsyncIntervalMs - Date.now();
        if (this.fsyncIntervalMs > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const batch = this.pending;
        this.pending = [];
        try {
          await this.exclusive(() => this.writeBatch(batch));
          this.lastSync = Date.now();
          for (const line of batch) line.resolve();
        } catch (error) {
          const failure = error instanceof Error ? error : new Error(String(error));
          for (const line of batch) line.reject(failure);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async writeBatch(batch: readonly PendingLine[]): Promise<void> {
    let handle = await this.openForWriting();
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (const line of batch) {
      if (this.maxBytes > 0 && this.size + chunkBytes > 0 && this.size + chunkBytes + line.data.length > this.maxBytes) {
        await this.write(handle, chunk, chunkBytes);
        chunk = [];
        chunkBytes = 0;
        handle = await this.rotate();
      }
      chunk.push(line.data);
      chunkBytes += line.data.length;
    }
    await this.write(handle, chunk, chunkBytes);
  }

  private async write(handle: FileHandle, chunk: Buffer[], bytes: number): Promise<void> {
    if (bytes === 0) return;
    const data = Buffer.concat(chunk, bytes);
    try {
      for (let offset = 0; offset < data.length;) {
        const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
        offset += bytesWritten;
      }
      // fdatasync: the data and the new file size, which is all an append changes.
      await handle.datasync();
    } catch (error) {
      // Leave no half line for the next append to run into.
      await handle.truncate(this.size).catch(() => {});
      throw error;
    }
    this.size += data.length;
  }

  private async openForWriting(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    const handle = await open(this.path, 'a+');
    try {
      const { size } = await handle.stat();
      this.size = await this.dropTornTail(handle, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.handle = handle;
    return handle;
  }

  /**
   * A crash mid-write can leave a last line without its newline. That line
   * was never acknowledged (append resolves after the fsync), so it is cut
   * off, and logged, rather than glued to the next record.
   */
  private async dropTornTail(handle: FileHandle, size: number): Promise<number> {
    const whole = await wholeLinesEnd(handle, size);
    if (whole === size) return size;
    const tail = Buffer.alloc(Math.min(size - whole, 4096));
    await handle.read(tail, 0, tail.length, whole);
    this.log.warn('activity file ended in a partial line (an append interrupted before it was acknowledged); removed', {
      file: this.path, bytes: size - whole, start: tail.toString('utf8'),
    });
    await handle.truncate(whole);
    await handle.datasync();
    return whole;
  }

  /** `<path>` → `<path>.1` → … → `<path>.<keep>`; anything older is deleted. */
  private async rotate(): Promise<FileHandle> {
    await this.handle?.close();
    this.handle = undefined;
    const rotated = await this.rotatedFiles();
    for (const { index, file } of rotated) {
      if (index >= this.keep) await unlink(file);
    }
    for (const { index, file } of rotated) {
      if (index < this.keep) await rename(file, `${this.path}.${index + 1}`);
    }
    if (this.keep > 0) await rename(this.path, `${this.path}.1`);
    else await unlink(this.path);
    await syncDirectory(dirname(this.path));
    this.handle = await open(this.path, 'a+');
    this.size = 0;
    this.log.info('activity file rotated', { file: this.path, keep: this.keep });
    return this.handle;
  }

  /** Rotated files, highest number (oldest) first. */
  private async rotatedFiles(): Promise<{ index: number; file: string }[]> {
    const base = basename(this.path);
    const folder = dirname(this.path);
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const out: { index: number; file: string }[] = [];
    for (const name of names) {
      if (!name.startsWith(`${base}.`)) continue;
      const suffix = name.slice(base.length + 1);
      if (/^[1-9][0-9]*$/.test(suffix)) out.push({ index: Number(suffix), file: join(folder, name) });
    }
    return out.sort((a, b) => b.index - a.index);
  }

  private async openForReading(): Promise<{ file: string; handle: FileHandle; end: number }[]> {
    const files: { file: string; handle: FileHandle; end: number }[] = [];
    try {
      for (const { file } of await this.rotatedFiles()) {
        const handle = await open(file, 'r');
        files.push({ file, handle, end: (await handle.stat()).size });
      }
      try {
        const handle = await open(this.path, 'r');
        // Only whole lines count: a line still being written (by this store
        // or another process) is not a record yet.
        const end = this.handle ? this.size : await wholeLinesEnd(handle, (await handle.stat()).size);
        files.push({ file: this.path, handle, end });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    } catch (error) {
      for (const { handle } of files) await handle.close();
      throw error;
    }
    return files;
  }

  private async *readFile(file: { file: string; handle: FileHandle; end: number }): AsyncIterable<ActivityRecord> {
    if (file.end === 0) return;
    const stream = file.handle.createReadStream({ start: 0, end: file.end - 1, autoClose: false, encoding: 'utf8' });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let lineNumber = 0;
    try {
      for await (const line of lines) {
        lineNumber++;
        if (line === '') continue;
        yield parseRecordLine(line, `${file.file}:${lineNumber}`);
      }
    } finally {
      lines.close();
      stream.destroy();
    }
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.lock.then(operation);
    this.lock = next.catch(() => {});
    return next;
  }
}

/**
 * Reads one line of an activity file: a JSON object, or the base64 of one
 * (a line starting with `{` is JSON; base64 never starts with `{`).
 *
 * @throws {Error} the line is neither, or not a valid record; `where` names it.
 */
export function parseRecordLine(line: string, where = 'line'): ActivityRecord {
  let value: unknown;
  try {
    const json = line.trimStart().startsWith('{') ? line : Buffer.from(line.trim(), 'base64').toString('utf8');
    value = JSON.parse(json);
  } catch (error) {
    throw new Error(`${where}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = ActivityRecordSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${where}: not a valid activity record: ${parsed.error.message}`);
  // The parsed JSON itself, not the schema's copy: verification checks what was stored.
  return value as ActivityRecord;
}

/** The size of `handle`'s content up to and including its last newline. */
async function wholeLinesEnd(handle: FileHandle, size: number): Promise<number> {
  return (await lastNewlineBefore(handle, size)) + 1;
}

/** Where the line that ends at `end` (just after its newline) starts. */
async function lastLineStart(handle: FileHandle, end: number): Promise<number> {
  // end - 1 is the line's own newline: the one before it ends the previous line.
  return (await lastNewlineBefore(handle, end - 1)) + 1;
}

/** The offset of the last newline before `stop`, read backwards 64 KiB at a time; -1 if there is none. */
async function lastNewlineBefore(handle: FileHandle, stop: number): Promise<number> {
  const window = Buffer.alloc(Math.min(stop, 64 * 1024));
  for (let end = stop; end > 0;) {
    const length = Math.min(window.length, end);
    await handle.read(window, 0, length, end - length);
    const newline = window.subarray(0, length).lastIndexOf(0x0a);
    if (newline !== -1) return end - length + newline;
    end -= length;
  }
  return -1;
}

/** Makes renames in `folder` survive a crash (Linux and macOS; a no-op where folders cannot be fsynced). */
async function syncDirectory(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open or fsync a directory; renames there are journaled by NTFS.
  } finally {
    await handle?.close();
  }
}
