/**
 * The logging surface the framework's parts write to. A winston logger fits
 * it, and so does a test's recorder.
 */
export interface Log {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  child?(meta: Record<string, unknown>): Log;
  /** Whether lines at `level` are written, so callers can skip building them. */
  isLevelEnabled?(level: string): boolean;
}

/** A log that drops everything. */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** A child of `log` carrying `meta` on every line, where the log supports it. */
export function childLog(log: Log, meta: Record<string, unknown>): Log {
  return log.child ? log.child(meta) : log;
}
