import { spawn, type ChildProcess } from 'node:child_process';
import type { Log } from '../log/log.js';
import { escapeSdParam, type SyslogFormat } from './syslog-format.js';

/** What {@link loggerArgs} needs to know. */
export interface LoggerSettings {
  /** The host's syslog socket (a unix datagram socket, `/dev/log`). */
  socket: string;
  format: SyslogFormat;
  tag: string;
  /** PROCID / the `[pid]` of the TAG: the cafkit process, not logger's. */
  procId: number;
  /** RFC 5424 `origin` SD-ELEMENT parameters. */
  software: string;
  swVersion: string;
  /** Longest MSG (a longer line would be split by logger into several messages). */
  maxMessageBytes: number;
}

/**
 * The arguments of the long-lived util-linux `logger` that writes to the
 * local socket: one message per stdin line, each line's own `<PRI>` prefix
 * (`--prio-prefix`), every sent message echoed on stderr (`-s`, which is how
 * {@link LocalSyslog} knows it went out), and an exit on a socket error
 * (`--socket-errors=on`) instead of a silent loss.
 *
 * @example
 * spawn('logger', loggerArgs({ socket: '/dev/log', format: 'rfc5424', tag: 'cafkit', procId: process.pid, software: 'cafkit', swVersion: '0.1.0', maxMessageBytes: 8192 }))
 */
export function loggerArgs(s: LoggerSettings): string[] {
  const common = ['--socket-errors=on', '--socket', s.socket, '--prio-prefix', '--stderr', '--tag', s.tag, `--id=${s.procId}`, '--size', String(s.maxMessageBytes)];
  if (s.format === 'rfc3164') return [...common, '--rfc3164'];
  return [
    ...common,
    // notq: no timeQuality element, only ours.
    '--rfc5424=notq',
    '--msgid', 'activity',
    '--sd-id', 'origin',
    '--sd-param', `software="${escapeSdParam(s.software)}"`,
    '--sd-param', `swVersion="${escapeSdParam(s.swVersion)}"`,
  ];
}

/**
 * A stdin line for `logger --prio-prefix`: `<PRI>MSG`. A newline would end
 * the message early, so any is replaced by a space (an activity's text has
 * none: canonical JSON or base64).
 */
export function loggerLine(pri: number, msg: string): string {
  return `<${pri}>${msg.replace(/[\r\n]/g, ' ')}\n`;
}

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Messages to the host's syslog socket through one long-lived `logger`
 * child process (util-linux, package bsdutils, on every Debian system):
 * the socket is a unix datagram socket, which Node cannot open without a
 * native addon. `send` resolves once logger has echoed each line on stderr,
 * which it does only after the datagram was sent; it throws when logger is
 * not running, exits (e.g. the socket is missing: logger then exits with
 * `--socket-errors=on`) or has not echoed within the timeout, and the next
 * `send` starts a new logger.
 *
 * @example
 * const local = new LocalSyslog(loggerArgs(settings), { socket: '/dev/log', timeoutMs: 10_000, log });
 * await local.send([loggerLine(14, text)]);
 * await local.close();
 */
export class LocalSyslog {
  private child: ChildProcess | undefined;
  private pending: Pending[] = [];
  private stderrRest = '';
  private lastError = '';
  private closed = false;

  constructor(
    private readonly args: readonly string[],
    private readonly options: { socket: string; timeoutMs: number; log: Log; command?: string },
  ) {}

  /** The running logger's pid, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Writes the lines (each ending in a newline) and waits until logger has sent every one. */
  async send(lines: readonly string[]): Promise<void> {
    if (this.closed) throw new Error(`syslog local ${this.options.socket}: the sink is closed`);
    if (lines.length === 0) return;
    const child = this.running();
    const stdin = child.stdin;
    if (!stdin || !stdin.writable || child.exitCode !== null) {
      this.forget(child);
      throw new Error(`syslog local ${this.options.socket}: logger is not running${this.lastErrorText()}`);
    }
    const sent = lines.map(() => new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject })));
    for (const line of lines) stdin.write(line);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all(sent),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`syslog local ${this.options.socket}: logger did not send within ${this.options.timeoutMs} ms${this.lastErrorText()}`)), this.options.timeoutMs);
        }),
      ]);
    } catch (error) {
      // A stuck logger: its acknowledgements can no longer be matched to lines, start afresh.
      this.stop(child);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends logger's stdin and waits (a few seconds at most) for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 3_000);
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
    });
    this.forget(child);
  }

  private running(): ChildProcess {
    if (this.child) return this.child;
    this.lastError = '';
    this.stderrRest = '';
    const child = spawn(this.options.command ?? 'logger', this.args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    // EPIPE: logger is exiting. Its 'close' follows with the reason it printed
    // on stderr ("No such file or directory"), which an immediate failure
    // would miss; the timer only covers a logger that closed stdin and lives on.
    child.stdin!.on('error', (error) => setTimeout(() => this.failAll(child, `logger's stdin: ${error.message}`), 2000).unref());
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.onStderr(chunk));
    child.on('error', (error) => this.failAll(child, `cannot run logger: ${error.message}`));
    // 'close', not 'exit': stderr (the last echoes, the error message) has been read by then.
    child.on('close', (code, signal) => this.failAll(child, `logger exited (${signal ?? `code ${String(code)}`})`));
    this.options.log.debug('syslog: logger started', { pid: child.pid, socket: this.options.socket });
    return child;
  }

  /** Each echoed message (a line starting with `<PRI>`) acknowledges the oldest line written. */
  private onStderr(chunk: string): void {
    const text = this.stderrRest + chunk;
    const lines = text.split('\n');
    this.stderrRest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('<')) this.pending.shift()?.resolve();
      else if (line.trim() !== '') {
        this.lastError = line.trim();
        this.options.log.warn('syslog: logger reports an error', { socket: this.options.socket, error: this.lastError });
      }
    }
  }

  private failAll(child: ChildProcess, reason: string): void {
    if (this.child !== child) return;
    this.forget(child);
    const error = new Error(`syslog local ${this.options.socket}: ${reason}${this.lastErrorText()}`);
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(error);
  }

  private stop(child: ChildProcess): void {
    this.failAll(child, 'logger stopped');
    child.kill('SIGKILL');
  }

  private forget(child: ChildProcess): void {
    if (this.child === child) this.child = undefined;
  }

  private lastErrorText(): string {
    return this.lastError ? `: ${this.lastError}` : '';
  }
}
