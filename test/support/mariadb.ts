// Test/bench harness: start a PRIVATE MariaDB server instance (own temp
// folder, own free loopback port, own socket, own data) through
// scripts/mariadb, and always stop it by its own pid, never by name. Debian's
// system service (if any) is never touched.
//
//   const db = await startMariaDb();
//   after(() => db.dispose());
//
// The temp folder is removed when the process exits (or by dispose()), unless
// keepDir is set or CAFKIT_KEEP_DB_DIR=1.
import { liveProcessArgs, readPid, runScript as runServerScript, SafetyNet, tailFile, type ScriptResult } from './server-process.js';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnvFile, repoDir } from './activemq.js';

export interface MariaDbInstance {
  url: string; // mysql://cafkit:<password>@127.0.0.1:<port>/cafkit
  host: string; // 127.0.0.1
  port: number;
  database: string;
  user: string;
  password: string;
  socket: string; // the instance's Unix socket (admin access: unix_socket auth as the OS user)
  dir: string; // the instance folder
  /** All KEY=value pairs of the instance's db.env. */
  env: Readonly<Record<string, string>>;
  /** Pid of the running mariadbd, undefined when it is not running. */
  pid(): number | undefined;
  /** scripts/mariadb stop for this instance (data and folder are kept for start()). */
  stop(): Promise<void>;
  /** (Re)start the same instance: same port, password and data. */
  start(): Promise<void>;
  /** Last lines of the server log (error.log). */
  logTail(lines?: number): string;
  /** stop() and remove the instance folder now (unless keepDir). */
  dispose(): Promise<void>;
}

export interface StartMariaDbOptions {
  /** Keep the temp instance folder after the process exits (for debugging). */
  keepDir?: boolean;
}

const mariadbScript = join(repoDir, 'scripts', 'mariadb');

function runScript(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ScriptResult> {
  return runServerScript(mariadbScript, args, env, timeoutMs);
}

/** Start can include apt-get install on a fresh machine, hence the long timeout. */
const START_TIMEOUT_MS = 300_000;
/** The script waits up to 30 s for SIGTERM, then SIGKILLs. */
const STOP_TIMEOUT_MS = 60_000;


/** A free loopback port (the listener is closed before it is returned). */
function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePromise(port));
    });
  });
}

/** True when pid is a live (non-zombie) mariadbd, optionally of the given instance folder. */
export function isMariaDbProcess(pid: number, dir?: string): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!/(^|\/)(mariadbd|mysqld)$/.test(args[0] ?? '')) return false;
  return dir === undefined || args.includes(`--datadir=${join(dir, 'data')}`);
}

const safetyNet = new SafetyNet();

// ---- public API ---------------------------------------------------------------

export async function startMariaDb(opts: StartMariaDbOptions = {}): Promise<MariaDbInstance> {
  const keepDir = opts.keepDir ?? process.env.CAFKIT_KEEP_DB_DIR === '1';
  // realpath: scripts/mariadb resolves the folder too, and pid() matches it in
  // mariadbd's command line. A short tmp path also keeps the socket path well
  // under the 107-byte limit.
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'cafkit-db-')));
  const pidFile = join(dir, 'mariadbd.pid');
  safetyNet.track(dir, { keepDir, pidFile, isOurs: (pid) => isMariaDbProcess(pid, dir) });

  let env: NodeJS.ProcessEnv = {};
  let lastError: unknown;
  // Another process may grab the port between choosing and binding: retry with a new one.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    env = { ...process.env, CAFKIT_DB_DIR: dir, CAFKIT_DB_PORT: String(port) };
    try {
      await runScript(['start'], env, START_TIMEOUT_MS);
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !/already in use|Address already in use|Can't start server: Bind/.test(err.message)) {
        break;
      }
      await runScript(['stop'], env, STOP_TIMEOUT_MS).catch(() => undefined);
    }
  }
  if (lastError !== undefined) {
    safetyNet.untrack(dir);
    await runScript(['stop'], env, STOP_TIMEOUT_MS).catch(() => undefined);
    if (!keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    throw lastError;
  }

  const dbEnv = parseEnvFile(readFileSync(join(dir, 'db.env'), 'utf8'));
  const need = (key: string): string => {
    const v = dbEnv[key];
    if (v === undefined || v === '') throw new Error(`${dir}/db.env has no ${key}`);
    return v;
  };
  const url = need('CAFKIT_DB_URL');
  const parsed = new URL(url);
  let disposed = false;

  const instance: MariaDbInstance = {
    url,
    host: parsed.hostname,
    port: Number(parsed.port),
    database: parsed.pathname.replace(/^\//, ''),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    socket: need('CAFKIT_DB_SOCKET'),
    dir,
    env: Object.freeze({ ...dbEnv }),
    pid(): number | undefined {
      const pid = readPid(pidFile);
      return pid !== undefined && isMariaDbProcess(pid, dir) ? pid : undefined;
    },
    async stop(): Promise<void> {
      if (disposed) return;
      await runScript(['stop'], env, STOP_TIMEOUT_MS);
    },
    async start(): Promise<void> {
      if (disposed) throw new Error(`MariaDB instance ${dir} was disposed`);
      await runScript(['start'], env, START_TIMEOUT_MS);
    },
    logTail(lines = 50): string {
      return tailFile(join(dir, 'error.log'), lines) ?? `(no log in ${dir})`;
    },
    async dispose(): Promise<void> {
      if (disposed) return;
      await instance.stop();
      disposed = true;
      safetyNet.untrack(dir);
      if (!keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
  return instance;
}
