import { open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ActivityRecordSchema, type ActivityRecord } from './record.js';
import { UnreadableRecord } from './verify.js';

/**
 * The files of a JSON Lines activity log, oldest first: rotated copies
 * (`activities.jsonl.3`, `.2`, `.1`: a higher suffix is older), then the
 * live file. Files that do not exist are left out.
 *
 * @example
 * await activityFiles('/var/log/cafkit/activities.jsonl');
 * // ['/var/log/cafkit/activities.jsonl.2', '/var/log/cafkit/activities.jsonl.1', '/var/log/cafkit/activities.jsonl']
 */
export async function activityFiles(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const rotated = names
    .filter((name) => name.startsWith(`${base}.`) && /^\d+$/.test(name.slice(base.length + 1)))
    .map((name) => ({ name, n: Number(name.slice(base.length + 1)) }))
    .sort((a, b) => b.n - a.n)
    .map(({ name }) => path.join(dir, name));
  return names.includes(base) ? [...rotated, file] : rotated;
}

/**
 * Reads the records of a JSON Lines activity log, its rotated copies
 * included, oldest first (see {@link activityFiles}).
 *
 * A line that is not JSON, or not an activity record, is yielded as an
 * {@link UnreadableRecord} naming `file:line` instead of ending the read:
 * `verifyRecords` reports it as `invalid` and checks the rest. A record is
 * yielded exactly as parsed, so its signature can be checked against what
 * was stored. Blank lines are skipped.
 *
 * Every file is opened before the first is read: if the writer rotates
 * meanwhile, the open files keep their content and nothing is read twice.
 *
 * @throws {Error} neither the file nor a rotated copy of it exists.
 * @example
 * for await (const item of readJsonl('activities.jsonl')) {
 *   if (item instanceof UnreadableRecord) console.warn(item.where, item.reason);
 * }
 */
export async function* readJsonl(file: string): AsyncIterable<ActivityRecord | UnreadableRecord> {
  const files = await activityFiles(file);
  if (files.length === 0) throw new Error(`no activity file at ${file} (nor rotated copies ${file}.1, ${file}.2, ...)`);
  const handles: Array<{ name: string; handle: FileHandle }> = [];
  try {
    for (const name of files) {
      try {
        handles.push({ name, handle: await open(name, 'r') });
      } catch (error) {
        // Rotated away between listing and opening: its content is in a file already open or listed.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    for (const { name, handle } of handles) {
      const where = path.basename(name);
      // start: 0 — a handle is read from its beginning whatever its position.
      const lines = createInterface({ input: handle.createReadStream({ autoClose: false, start: 0 }), crlfDelay: Infinity });
      let number = 0;
      try {
        for await (const line of lines) {
          number++;
          if (line.trim() === '') continue;
          yield parseLine(line, `${where}:${number}`);
        }
      } finally {
        lines.close();
      }
    }
  } finally {
    await Promise.all(handles.map(({ handle }) => handle.close()));
  }
}

function parseLine(line: string, where: string): ActivityRecord | UnreadableRecord {
  let value: unknown;
  try {
    // The file store's base64 mode: a line not starting with `{` is the base64 of the record's JSON.
    value = JSON.parse(line.trimStart().startsWith('{') ? line : Buffer.from(line.trim(), 'base64').toString('utf8'));
  } catch (error) {
    // The line text is not quoted: it may be long, and only the writer knows what it holds.
    return new UnreadableRecord(where, `not JSON (${(error as Error).message})`, salvageIdentity(line));
  }
  const parsed = ActivityRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? `${issue.path.map(String).join('.') || '(record)'}: ${issue.message}` : 'schema mismatch';
    return new UnreadableRecord(where, `not an activity record (${at})`, identityOf(value));
  }
  // The parsed JSON, not zod's copy: the signature covers what was stored.
  return value as ActivityRecord;
}

function identityOf(value: unknown): UnreadableRecord['seen'] {
  const o = (value !== null && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const seen: UnreadableRecord['seen'] = {};
  if (Number.isSafeInteger(o['seq'])) seen.seq = o['seq'] as number;
  if (typeof o['chain_id'] === 'string') seen.chain_id = o['chain_id'];
  if (typeof o['id'] === 'string') seen.id = o['id'];
  return seen;
}

/** Best-effort seq/chain_id/id of a damaged line, so the problem names it and the chain knows a record stood there. */
function salvageIdentity(line: string): UnreadableRecord['seen'] {
  const seen: UnreadableRecord['seen'] = {};
  const seq = /"seq":\s*(\d+)/.exec(line)?.[1];
  const chainId = /"chain_id":\s*"([^"\\]*)"/.exec(line)?.[1];
  const id = /"id":\s*"([^"\\]*)"/.exec(line)?.[1];
  if (seq !== undefined && Number.isSafeInteger(Number(seq))) seen.seq = Number(seq);
  if (chainId !== undefined) seen.chain_id = chainId;
  if (id !== undefined) seen.id = id;
  return seen;
}
