import winston from 'winston';
import { redact, scrub } from './redact.js';
import type { Log } from './log.js';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: 'error' | 'warn' | 'info' | 'debug';
  /** Rotating file, in addition to the console. */
  file?: string;
  maxSizeMb?: number;
  maxFiles?: number;
  format?: 'text' | 'json';
  /** Defaults to stderr so command output on stdout stays clean. */
  console?: boolean;
}

// Runs on every line, whatever the transport: secrets never leave the process.
const redactFormat = winston.format((info) => {
  info.message = scrub(String(info.message));
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    const value = (info as Record<string, unknown>)[key];
    (info as Record<string, unknown>)[key] = (redact({ [key]: value }) as Record<string, unknown>)[key];
  }
  return info;
});

const text = winston.format.printf((info) => {
  const { level, message, timestamp, ...meta } = info as Record<string, unknown>;
  const rest = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : '';
  return `${String(timestamp)} ${String(level).padEnd(5)} ${String(message)}${rest}`;
});

/**
 * A winston logger for the console (stderr) and, optionally, a file rotated
 * by size. Passwords, API secrets and context tokens are redacted.
 *
 * @example
 * const log = createLogger({ level: 'info', file: '/var/log/cafkit/cafkit.log' });
 * log.info('connected', { broker: url });
 */
export function createLogger(options: LoggerOptions = {}): Log & winston.Logger {
  const format = options.format === 'json' ? winston.format.json() : text;
  const transports: winston.transport[] = [];
  if (options.console !== false) {
    transports.push(new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }));
  }
  if (options.file) {
    transports.push(
      new winston.transports.File({
        filename: options.file,
        maxsize: (options.maxSizeMb ?? 10) * 1024 * 1024,
        maxFiles: options.maxFiles ?? 5,
        tailable: true,
        format: winston.format.json(),
      }),
    );
  }
  const logger = winston.createLogger({
    level: options.level ?? 'info',
    format: winston.format.combine(winston.format.timestamp(), redactFormat(), format),
    transports,
  });
  // winston runs the whole format pipeline before its transports drop a line
  // below their level; checking first keeps debug lines free on the hot path.
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const write = logger[level];
    logger[level] = function (this: winston.Logger, ...args: Parameters<winston.LeveledLogMethod>) {
      return this.isLevelEnabled(level) ? write.apply(this, args) : this;
    } as winston.LeveledLogMethod;
  }
  return logger;
}
