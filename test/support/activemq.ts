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
import { liveProcessArgs, readPid, runScript as runServerScript, SafetyNet, tailFile, type ScriptResult } from './server-process.js';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BrokerInstance {
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
  dir: string; // the instance folder
  /** All KEY=value pairs of the instance's broker.env. */
  env: Readonly<Record<string, string>>;
  /** Pid of the running broker JVM, undefined when it is not running. */
  pid(): number | undefined;
  /** scripts/activemq stop for this instance (data and folder are kept for start()). */
  stop(): Promise<void>;
  /** (Re)start the same instance: same ports, passwords and data. */
  start(): Promise<void>;
  /** Last lines of the broker log (activemq.log, else console.log). */
  logTail(lines?: number): string;
  /** stop() and remove the instance folder now (unless keepDir). */
  dispose(): Promise<void>;
}

export interface StartBrokerOptions {
  orgId?: number;
  /** Keep the temp instance folder after the process exits (for debugging). */
  keepDir?: boolean;
}

export const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const activemqScript = join(repoDir, 'scripts', 'activemq');

function runScript(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ScriptResult> {
  return runServerScript(activemqScript, args, env, timeoutMs);
}

/** Start can include apt-get install on a fresh machine, hence the long timeout. */
const START_TIMEOUT_MS = 240_000;
const STOP_TIMEOUT_MS = 60_000;


/** `count` distinct free loopback ports (all held open while choosing). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolvePromise, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolvePromise(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

/** True when pid is a live (non-zombie) ActiveMQ JVM, optionally of the given instance folder. */
export function isBrokerProcess(pid: number, dir?: string): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!args.some((a) => a.endsWith('activemq.jar'))) return false;
  return dir === undefined || args.includes(`-Dactivemq.base=${dir}`);
}

const safetyNet = new SafetyNet();

// ---- public API ---------------------------------------------------------------

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerInstance> {
  const orgId = opts.orgId ?? 201;
  const keepDir = opts.keepDir ?? process.env.CAFKIT_KEEP_BROKER_DIR === '1';
  // realpath: scripts/activemq resolves the folder too, and pid() matches it in the JVM's command line
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'cafkit-amq-')));
  const pidFile = join(dir, 'activemq.pid');
  safetyNet.track(dir, { keepDir, pidFile, isOurs: (pid) => isBrokerProcess(pid, dir) });

  let env: NodeJS.ProcessEnv = {};
  let lastError: unknown;
  // Another process may grab a port between choosing and binding: retry with new ports.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [sslPort, plainPort] = await freePorts(2);
    env = {
      ...process.env,
      CAFKIT_AMQ_DIR: dir,
      CAFKIT_AMQ_STOMP_SSL_PORT: String(sslPort),
      CAFKIT_AMQ_STOMP_PORT: String(plainPort),
      CAFKIT_ORG_ID: String(orgId),
    };
    try {
      await runScript(['start'], env, START_TIMEOUT_MS);
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !/already in use|Address already in use|BindException/.test(err.message)) break;
      await runScript(['stop'], env, STOP_TIMEOUT_MS).catch(() => undefined);
    }
  }
  if (lastError !== undefined) {
    safetyNet.untrack(dir);
    await runScript(['stop'], env, STOP_TIMEOUT_MS).catch(() => undefined);
    if (!keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    throw lastError;
  }

  const brokerEnv = parseEnvFile(readFileSync(join(dir, 'broker.env'), 'utf8'));
  const need = (key: string): string => {
    const v = brokerEnv[key];
    if (v === undefined || v === '') throw new Error(`${dir}/broker.env has no ${key}`);
    return v;
  };
  const url = need('CAFKIT_BROKER_URL');
  const plainUrl = need('CAFKIT_BROKER_PLAIN_URL');
  const sslUrl = new URL(url);
  const ca = need('CAFKIT_BROKER_CA');
  let disposed = false;

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
    env: Object.freeze({ ...brokerEnv }),
    pid(): number | undefined {
      const pid = readPid(pidFile);
      return pid !== undefined && isBrokerProcess(pid, dir) ? pid : undefined;
    },
    async stop(): Promise<void> {
      if (disposed) return;
      await runScript(['stop'], env, STOP_TIMEOUT_MS);
    },
    async start(): Promise<void> {
      if (disposed) throw new Error(`broker instance ${dir} was disposed`);
      await runScript(['start'], env, START_TIMEOUT_MS);
    },
    logTail(lines = 50): string {
      return (
        tailFile(join(dir, 'activemq.log'), lines) ??
        tailFile(join(dir, 'console.log'), lines) ??
        `(no log in ${dir})`
      );
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
