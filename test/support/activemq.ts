// Test/bench harness: start a PRIVATE ActiveMQ broker instance (own temp
// folder, own free loopback ports, own data) through scripts/activemq, and
// always stop it by its own pid, never by name.
//
//   const broker = await startBroker();
//   after(() => broker.stop());
//
// The certificates in <repo>/.cafkit/certs (or $CAFKIT_HOME/certs) are shared
// by all instances. The temp folder is removed when the process exits (or by
// dispose()), unless keepDir is set or CAFKIT_KEEP_BROKER_DIR=1.
import { liveProcessArgs, startServerInstance, tailFile, type ServerInstance } from './server-process.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A private ActiveMQ instance; `logTail` reads activemq.log, else console.log. */
export interface BrokerInstance extends ServerInstance {
  url: string; // stomp+ssl://localhost:<port>
  plainUrl: string; // stomp://127.0.0.1:<port>
  host: string;
  sslPort: number;
  plainPort: number;
  ca: string; // path to dev CA pem
  certsDir: string; // path to the certs folder (wronghost.pem, rogue.pem, ... live here)
  orgId: number;
  processor: { user: string; password: string };
  platform: { user: string; password: string };
  admin: { user: string; password: string };
}

export interface StartBrokerOptions {
  orgId?: number;
  /** Keep the temp instance folder after the process exits (for debugging). */
  keepDir?: boolean;
}

export const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Start can include apt-get install on a fresh machine, hence the long timeout. */
const START_TIMEOUT_MS = 240_000;
const STOP_TIMEOUT_MS = 60_000;

/** True when pid is a live (non-zombie) ActiveMQ JVM, optionally of the given instance folder. */
export function isBrokerProcess(pid: number, dir?: string): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!args.some((a) => a.endsWith('activemq.jar'))) return false;
  return dir === undefined || args.includes(`-Dactivemq.base=${dir}`);
}

// ---- public API ---------------------------------------------------------------

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerInstance> {
  const orgId = opts.orgId ?? 201;
  const keepDir = opts.keepDir ?? process.env.CAFKIT_KEEP_BROKER_DIR === '1';
  const server = await startServerInstance({
    kind: 'broker',
    script: join(repoDir, 'scripts', 'activemq'),
    dirPrefix: 'cafkit-amq-',
    pidFile: 'activemq.pid',
    envFile: 'broker.env',
    isOurs: (pid, dir) => isBrokerProcess(pid, dir),
    ports: 2,
    scriptEnv: (dir, [sslPort, plainPort]) => ({
      CAFKIT_AMQ_DIR: dir,
      CAFKIT_AMQ_STOMP_SSL_PORT: String(sslPort),
      CAFKIT_AMQ_STOMP_PORT: String(plainPort),
      CAFKIT_ORG_ID: String(orgId),
    }),
    portTaken: /already in use|Address already in use|BindException/,
    keepDir,
    startTimeoutMs: START_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  const { dir, need } = server;
  const url = need('CAFKIT_BROKER_URL');
  const plainUrl = need('CAFKIT_BROKER_PLAIN_URL');
  const sslUrl = new URL(url);
  const ca = need('CAFKIT_BROKER_CA');

  const instance: BrokerInstance = {
    url,
    plainUrl,
    host: sslUrl.hostname,
    sslPort: Number(sslUrl.port),
    plainPort: Number(new URL(plainUrl).port),
    ca,
    certsDir: dirname(ca),
    orgId: Number(need('CAFKIT_ORG_ID')),
    processor: { user: need('CAFKIT_BROKER_USER'), password: need('CAFKIT_BROKER_PASSWORD') },
    platform: { user: need('CAFKIT_PLATFORM_BROKER_USER'), password: need('CAFKIT_PLATFORM_BROKER_PASSWORD') },
    admin: { user: need('CAFKIT_BROKER_ADMIN_USER'), password: need('CAFKIT_BROKER_ADMIN_PASSWORD') },
    dir,
    env: server.env,
    pid: server.pid,
    stop: server.stop,
    start: server.start,
    dispose: server.dispose,
    logTail(lines = 50): string {
      return (
        tailFile(join(dir, 'activemq.log'), lines) ??
        tailFile(join(dir, 'console.log'), lines) ??
        `(no log in ${dir})`
      );
    },
  };
  return instance;
}
