/**
 * What the harnesses that start real servers (ActiveMQ, MariaDB) share:
 * telling their process apart from anything else by pid, reading pid files
 * and log tails, and a safety net that kills them when the test process exits.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

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
