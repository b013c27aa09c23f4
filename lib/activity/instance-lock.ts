import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Another live process already uses this home folder. */
export class InstanceInUseError extends Error {
  override name = 'InstanceInUseError';
  constructor(
    readonly home: string,
    readonly pid: number,
  ) {
    super(`CAFKIT_HOME ${home} is in use by process ${pid}: give each processor instance its own CAFKIT_HOME (it holds the instance's identity for claims)`);
  }
}

/** This process's hold on an instance identity; see {@link lockInstance}. */
export interface InstanceLock {
  /** The instance id: the same across restarts with the same home folder. */
  readonly id: string;
  /** Gives the home folder up (idempotent); a killed process leaves a stale lock the next start takes over. */
  release(): void;
}

/**
 * Takes the processor instance identity kept in `<home>/instance-id`
 * (created on first use) and locks it to this process with
 * `<home>/instance.lock`.
 *
 * Why a stable identity: claims in a shared completed-reply store name the
 * instance running an invocation. A processor killed mid-action and
 * restarted with the same home is the same instance, so it takes its own
 * unfinished claims back at once, as re-runs, instead of waiting for their
 * leases to run out. The lock makes sure two live processes never share one
 * identity (they would both think they held the same claims).
 *
 * @throws {InstanceInUseError} another live process holds the lock.
 */
export function lockInstance(home: string): InstanceLock {
  mkdirSync(home, { recursive: true });
  const idFile = path.join(home, 'instance-id');
  const lockFile = path.join(home, 'instance.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = Number.parseInt(readOrEmpty(lockFile), 10);
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) throw new InstanceInUseError(home, holder);
      // Left by a process that died (kill -9, power loss): it is ours now.
      unlinkSync(lockFile);
    }
  }
  let id = readOrEmpty(idFile).trim();
  if (!id) {
    id = randomUUID();
    writeFileSync(idFile, `${id}\n`, { mode: 0o644 });
  }
  let held = true;
  return {
    id,
    release() {
      if (!held) return;
      held = false;
      if (readOrEmpty(lockFile).trim() === String(process.pid)) unlinkSync(lockFile);
    },
  };
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/**
 * A live process with that pid that could be a processor: this one (two
 * instances in one process would share the identity too), or a Node
 * process. After a reboot the pid may belong to something else; where
 * /proc exists, that is told apart by its command line.
 */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return /node|cafkit/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc: trust the pid
  }
}
