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
import { liveProcessArgs, startServerInstance, tailFile, type ServerInstance } from './server-process.js';
import { join } from 'node:path';
import { repoDir } from './activemq.js';

/** A private MariaDB instance; `logTail` reads error.log. */
export interface MariaDbInstance extends ServerInstance {
  url: string; // mysql://cafkit:<password>@127.0.0.1:<port>/cafkit
  host: string; // 127.0.0.1
  port: number;
  database: string;
  user: string;
  password: string;
  socket: string; // the instance's Unix socket (admin access: unix_socket auth as the OS user)
}

export interface StartMariaDbOptions {
  /** Keep the temp instance folder after the process exits (for debugging). */
  keepDir?: boolean;
}

/** Start can include apt-get install on a fresh machine, hence the long timeout. */
const START_TIMEOUT_MS = 300_000;
/** The script waits up to 30 s for SIGTERM, then SIGKILLs. */
const STOP_TIMEOUT_MS = 60_000;


/** True when pid is a live (non-zombie) mariadbd, optionally of the given instance folder. */
export function isMariaDbProcess(pid: number, dir?: string): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!/(^|\/)(mariadbd|mysqld)$/.test(args[0] ?? '')) return false;
  return dir === undefined || args.includes(`--datadir=${join(dir, 'data')}`);
}

// ---- public API ---------------------------------------------------------------

export async function startMariaDb(opts: StartMariaDbOptions = {}): Promise<MariaDbInstance> {
  const keepDir = opts.keepDir ?? process.env.CAFKIT_KEEP_DB_DIR === '1';
  const server = await startServerInstance({
    kind: 'MariaDB',
    script: join(repoDir, 'scripts', 'mariadb'),
    // A short tmp path keeps the socket path well under the 107-byte limit.
    dirPrefix: 'cafkit-db-',
    pidFile: 'mariadbd.pid',
    envFile: 'db.env',
    isOurs: (pid, dir) => isMariaDbProcess(pid, dir),
    ports: 1,
    scriptEnv: (dir, [port]) => ({ CAFKIT_DB_DIR: dir, CAFKIT_DB_PORT: String(port) }),
    portTaken: /already in use|Address already in use|Can't start server: Bind/,
    keepDir,
    startTimeoutMs: START_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  const { dir, need } = server;
  const url = need('CAFKIT_DB_URL');
  const parsed = new URL(url);

  const instance: MariaDbInstance = {
    url,
    host: parsed.hostname,
    port: Number(parsed.port),
    database: parsed.pathname.replace(/^\//, ''),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    socket: need('CAFKIT_DB_SOCKET'),
    dir,
    env: server.env,
    pid: server.pid,
    stop: server.stop,
    start: server.start,
    dispose: server.dispose,
    logTail(lines = 50): string {
      return tailFile(join(dir, 'error.log'), lines) ?? `(no log in ${dir})`;
    },
  };
  return instance;
}
