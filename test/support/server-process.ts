/**
 * What the harnesses that start real servers (ActiveMQ, MariaDB) share:
 * starting a private instance through its script on free ports, telling its
 * process apart from anything else by pid, reading pid files and log tails,
 * and a safety net that kills them when the test process exits.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The live (not zombie) process `pid`'s arguments, or `undefined` when it is
 * gone. Stopped servers can linger as zombies when the reaper is slow.
 */
export function liveProcessArgs(pid: number): string[] | undefined {
  let cmdline: string;
  let stat: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // state is the field after "(comm)"; a zombie has state Z and an empty cmdline
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return undefined;
  return cmdline.split('\0');
}

/** The last `lines` lines of a file, or `undefined` when it does not exist. */
export function tailFile(file: string, lines: number): string | undefined {
  if (!existsSync(file)) return undefined;
  const all = readFileSync(file, 'utf8').split('\n');
  if (all.at(-1) === '') all.pop();
  return all.slice(-lines).join('\n');
}

/** The pid in a pid file, or `undefined`. */
export function readPid(pidFile: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

interface Tracked {
  dir: string;
  keepDir: boolean;
  pidFile: string;
  isOurs: (pid: number) => boolean;
}

/**
 * Servers a test process started, killed (by their own pid, checked to be
 * theirs) and their folders removed when it exits or is signalled, even
 * when a test forgot to stop them.
 */
export class SafetyNet {
  private readonly tracked = new Map<string, Tracked>();
  private installed = false;

  track(dir: string, entry: Omit<Tracked, 'dir'>): void {
    this.install();
    this.tracked.set(dir, { dir, ...entry });
  }

  untrack(dir: string): void {
    this.tracked.delete(dir);
  }

  private killAllSync = (): void => {
    for (const t of this.tracked.values()) {
      const pid = readPid(t.pidFile);
      if (pid !== undefined && t.isOurs(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (!t.keepDir) {
        try {
          rmSync(t.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
        } catch {
          // best effort at exit
        }
      }
    }
    this.tracked.clear();
  };

  private install(): void {
    if (this.installed) return;
    this.installed = true;
    process.on('exit', this.killAllSync);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const handler = (): void => {
        this.killAllSync();
        process.removeListener(signal, handler);
        // Keep the default behaviour (die by that signal) unless someone else handles it.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      };
      process.on(signal, handler);
    }
  }
}

/** What a start/stop script printed. */
export interface ScriptResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs `bash <script> <args>`; rejects with everything the script printed
 * when it fails or runs past `timeoutMs` (then it is killed).
 */
export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ScriptResult> {
  const name = `scripts/${script.split('/').at(-1)}`;
  return new Promise((resolvePromise, reject) => {
    execFile('bash', [script, ...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const how = error.killed ? `timed out after ${timeoutMs} ms` : `failed (exit ${String(error.code ?? error.signal ?? '?')})`;
        reject(new Error(`${name} ${args.join(' ')} ${how}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`, { cause: error }));
        return;
      }
      resolvePromise({ stdout, stderr });
    });
  });
}

/** `count` distinct free loopback ports (all held open while choosing). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolvePromise, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolvePromise(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** `KEY=value` lines (the instance files the scripts write). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

/** How {@link startServerInstance} starts one kind of server through its script. */
export interface ServerSpec {
  /** For messages: `broker`, `MariaDB`. */
  kind: string;
  /** `scripts/<name>`, run as `bash <script> start|stop`. */
  script: string;
  /** Prefix of the temp instance folder. */
  dirPrefix: string;
  /** The pid file's name in the instance folder. */
  pidFile: string;
  /** The `KEY=value` file the script writes in the instance folder on start. */
  envFile: string;
  /** The live process `pid` is this instance's server (started from `dir`). */
  isOurs(pid: number, dir: string): boolean;
  /** How many loopback ports an instance listens on. */
  ports: number;
  /** The script's environment for an instance folder and its ports. */
  scriptEnv(dir: string, ports: number[]): Record<string, string>;
  /** An error meaning a chosen port was taken meanwhile: start again on new ones. */
  portTaken: RegExp;
  keepDir: boolean;
  startTimeoutMs: number;
  stopTimeoutMs: number;
}

/** What every started server instance offers a test. */
export interface ServerInstance {
  /** The instance folder. */
  dir: string;
  /** Everything in the instance's env file. */
  env: Readonly<Record<string, string>>;
  /** Pid of the running server, undefined when it is not running. */
  pid(): number | undefined;
  /** Stops the server (data and folder are kept for start()). */
  stop(): Promise<void>;
  /** (Re)starts the same instance: same ports, passwords and data. */
  start(): Promise<void>;
  /** stop() and remove the instance folder now (unless keepDir). */
  dispose(): Promise<void>;
  /** Last lines of the server's log. */
  logTail(lines?: number): string;
}

/** A started instance, before its kind adds its own fields. */
export interface ServerLifecycle extends Omit<ServerInstance, 'logTail'> {
  /** A value of the env file; throws naming the file when it is missing. */
  need(key: string): string;
}

const safetyNet = new SafetyNet();

/**
 * Starts a private instance of a server through its script, in its own temp
 * folder on free loopback ports (chosen again when one was taken meanwhile),
 * tracked by the safety net so it is killed by its own pid when the test
 * process exits.
 */
export async function startServerInstance(spec: ServerSpec): Promise<ServerLifecycle> {
  // realpath: the scripts resolve the folder too, and isOurs matches it in the server's command line.
  const dir = await realpath(await mkdtemp(join(tmpdir(), spec.dirPrefix)));
  const pidFile = join(dir, spec.pidFile);
  const isOurs = (pid: number) => spec.isOurs(pid, dir);
  safetyNet.track(dir, { keepDir: spec.keepDir, pidFile, isOurs });
  const run = (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) => runScript(spec.script, args, env, timeoutMs);

  let env: NodeJS.ProcessEnv = {};
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    env = { ...process.env, ...spec.scriptEnv(dir, await freePorts(spec.ports)) };
    try {
      await run(['start'], env, spec.startTimeoutMs);
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !spec.portTaken.test(err.message)) break;
      await run(['stop'], env, spec.stopTimeoutMs).catch(() => undefined);
    }
  }
  if (lastError !== undefined) {
    safetyNet.untrack(dir);
    await run(['stop'], env, spec.stopTimeoutMs).catch(() => undefined);
    if (!spec.keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    throw lastError;
  }

  const file = join(dir, spec.envFile);
  const values = parseEnvFile(readFileSync(file, 'utf8'));
  let disposed = false;
  const lifecycle: ServerLifecycle = {
    dir,
    env: Object.freeze({ ...values }),
    need(key) {
      const v = values[key];
      if (v === undefined || v === '') throw new Error(`${file} has no ${key}`);
      return v;
    },
    pid() {
      const pid = readPid(pidFile);
      return pid !== undefined && isOurs(pid) ? pid : undefined;
    },
    async stop() {
      if (disposed) return;
      await run(['stop'], env, spec.stopTimeoutMs);
    },
    async start() {
      if (disposed) throw new Error(`${spec.kind} instance ${dir} was disposed`);
      await run(['start'], env, spec.startTimeoutMs);
    },
    async dispose() {
      if (disposed) return;
      await lifecycle.stop();
      disposed = true;
      safetyNet.untrack(dir);
      if (!spec.keepDir) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
  return lifecycle;
}

/** Asserts that `pid` is no longer a server of its kind (an exited but not yet reaped zombie is acceptable). */
export function assertGone(pid: number, isServer: (pid: number) => boolean, logTail: () => string): void {
  assert.equal(isServer(pid), false, `pid ${pid} still alive:\n${logTail()}`);
  let exists = true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    exists = (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  if (!exists) return;
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // reaped in the meantime
  }
  if (stat) assert.match(stat.slice(stat.lastIndexOf(')') + 2), /^Z/, `pid ${pid} exists: ${stat}`);
}
