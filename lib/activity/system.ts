import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { silentLog, type Log } from '../log/log.js';
import type { CompletedReplies } from '../runtime/completed-replies.js';
import { backfillFromReplyStore } from './backfill.js';
import { FileActivityStore } from './file-store.js';
import { lockInstance, type InstanceLock } from './instance-lock.js';
import { defaultKeyringDir, openKeyring } from './keyring.js';
import { ActivityRecorder } from './recorder.js';
import { alertSelector } from './alert-selection.js';
import { ALERT_CHANNELS } from '../config/alerting.js';
import { Reporter } from './reporter.js';
import { ChainSigner } from './signer.js';
import { SqlCompletedReplies } from './sql-completed-replies.js';
import { openActivityStore, SqlActivityStore } from './sql-store.js';
import type { ActivitySink } from './sink.js';
import type { ActivityStore } from './store.js';

/** Everything the activity feature runs on, built from the config. */
export interface ActivitySystem {
  recorder: ActivityRecorder;
  reporter: Reporter;
  stores: Array<ActivityStore & ActivitySink>;
  /** Durable completed-reply memory in the first SQL store (when `durable_replies`). */
  completed: CompletedReplies | undefined;
  /** With durable replies: this instance's id for claims, the same after a restart with the same CAFKIT_HOME (see `lockInstance`). */
  instanceId: string | undefined;
  /** Delivers what is queued (up to the deadline), then closes the stores. */
  close(deadlineMs: number): Promise<void>;
}

/** `<CAFKIT_HOME>` (default `./.cafkit` of the working folder). */
export function cafkitHomeDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['CAFKIT_HOME'] ?? '.cafkit');
}

/** cafkit's version, from its package.json (`unknown` if unreadable). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const SQL_URL = /^(sqlite:|mysql:\/\/|mariadb:\/\/)/;

/** The store a URL names: `file:<path>`, `sqlite:<file>`, `mysql://…`, `mariadb://…`. */
export async function openStore(url: string, config: Config['activity'], log: Log, name?: string): Promise<ActivityStore & ActivitySink> {
  if (url.startsWith('file:')) {
    const file = path.resolve(url.slice('file:'.length));
    mkdirSync(path.dirname(file), { recursive: true });
    return FileActivityStore.open({ path: file, base64: config.file_base64, maxBytes: config.file_max_size_mb * 1024 * 1024, keep: config.file_max_files, name, log });
  }
  if (url.startsWith('sqlite:')) mkdirSync(path.dirname(path.resolve(url.slice('sqlite:'.length))), { recursive: true });
  if (SQL_URL.test(url)) return openActivityStore(url, { name });
  throw new Error(`activity.stores: "${url}" is not a store URL (file:<path>, sqlite:<file>, mysql://… or mariadb://…)`);
}

/**
 * Builds the activity system, or returns `undefined` when `activity.stores`
 * is empty. The signing key is created on first run and never silently
 * replaced; each process signs its own chain.
 */
export async function createActivitySystem(
  config: Config,
  log: Log = silentLog,
  env: NodeJS.ProcessEnv = process.env,
  /** More sinks beside the stores, each with its own queue: the alert channels (by their channel names), or others that get every event. */
  extraSinks: readonly ActivitySink[] = [],
): Promise<ActivitySystem | undefined> {
  const a = config.activity;
  const home = cafkitHomeDir(env);
  const urls = a.stores ?? [`sqlite:${path.join(home, 'activities.db')}`];
  if (urls.length === 0 && extraSinks.length === 0) return undefined;
  const keyring = openKeyring(a.keys_dir ? path.resolve(a.keys_dir) : defaultKeyringDir(env));
  // Taken first: a second process on the same home is refused before it opens anything.
  const instance: InstanceLock | undefined = a.durable_replies && urls.some((u) => SQL_URL.test(u)) ? lockInstance(home) : undefined;
  const stores: Array<ActivityStore & ActivitySink> = [];
  const counts = new Map<string, number>();
  try {
    for (const url of urls) {
      const kind = url.startsWith('file:') ? 'file' : url.startsWith('sqlite:') ? 'sqlite' : 'mysql';
      const n = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, n);
      stores.push(await openStore(url, a, log, n === 1 ? kind : `${kind}${n}`));
    }
  } catch (error) {
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    instance?.release();
    throw error;
  }
  const sql = stores.find((s): s is SqlActivityStore => s instanceof SqlActivityStore);
  const completed = a.durable_replies && sql ? new SqlCompletedReplies(sql.connection, { records: sql }) : undefined;
  // Before the reporter exists, so its spill replay comes after (the file skips what it already has).
  if (completed && sql) {
    try {
      await backfillFromReplyStore(sql, stores, log);
    } catch (error) {
      log.error('could not backfill the activity files from the reply store; continuing without', { error: (error as Error).message });
    }
  }
  const spillDir = path.resolve(a.spill_dir ?? path.join(home, 'spill'));
  mkdirSync(spillDir, { recursive: true });
  const reporter = new Reporter([...stores, ...extraSinks], { queueSize: a.queue_size, overflow: a.overflow, spillDir, log });
  const signer = new ChainSigner(keyring, { chainId: `${os.hostname()}-${randomUUID()}` });
  const recorder = new ActivityRecorder({
    orgId: config.org_id,
    identity: { host: os.hostname(), version: packageVersion() },
    signer,
    reporter,
    // Stores, and sinks that are not alert channels, get everything; alert channels what the rules select.
    always: reporter.sinkNames().filter((n) => !(ALERT_CHANNELS as readonly string[]).includes(n)),
    alerts: alertSelector(config.alerting, extraSinks.map((s) => s.name)),
    reportMemory: a.report_memory,
    encodeB64Memory: a.encode_b64_memory,
    replyStore: completed ? sql?.name : undefined,
    log,
  });
  return {
    recorder,
    reporter,
    stores,
    completed,
    instanceId: instance?.id,
    async close(deadlineMs) {
      const result = await reporter.drain(deadlineMs);
      if (!result.drained) log.warn('activity reporter: deadline passed with events still queued (spilled ones are replayed at next start)', { left: result.left });
      await Promise.all([...stores, ...extraSinks].map((s) => s.close?.().catch((error: unknown) => log.warn('closing an activity sink failed', { sink: s.name, error: (error as Error).message }))));
      instance?.release();
    },
  };
}
