/** How a recorded request authenticated. */
export type RequestAuth = 'session' | 'apikey' | 'none';

/**
 * One `/rest` request as the emulator saw it. Tests use these to check that a
 * processor sent `X-Co3ContextToken` on every callback (the CAF guide's
 * infinite-loop guard) and what it changed.
 */
export interface RecordedRequest {
  /** Position in the log; never reused, also after a clear. */
  index: number;
  /** When the request arrived (ms since the epoch). */
  at: number;
  method: string;
  /** The path without the query string. */
  path: string;
  /** Query parameters, when there were any. */
  query?: Record<string, string>;
  /** The status answered; 0 when the socket was destroyed (the `down` fault). */
  status: number;
  /** Value of `X-Co3ContextToken`, if sent. */
  contextToken: string | undefined;
  /** The invocation whose message carried that token, when it is one of ours. */
  invocationId?: number;
  auth: RequestAuth;
  /** The JSON body (text when not JSON), with passwords and secrets redacted. */
  body: unknown;
  /** The fault that shaped the answer, if any. */
  fault?: 'down' | 'error' | 'conflict';
}

const SECRET_KEY = /pass(word|code)|secret/i;
const MAX_BODY_TEXT = 10_000;

/**
 * The emulator's request log, bounded so a long development session does not
 * grow without limit (the oldest entries go first).
 *
 * @example
 * log.list(since).filter((r) => r.method === 'PUT' && r.contextToken === undefined);
 */
export class RequestLog {
  private entries: RecordedRequest[] = [];
  private nextIndex = 0;

  constructor(private readonly limit = 10_000) {}

  /** Appends a request; its body is redacted here, so secrets never enter the log. */
  record(entry: Omit<RecordedRequest, 'index' | 'body'> & { rawBody?: string }): RecordedRequest {
    const { rawBody, ...rest } = entry;
    const recorded: RecordedRequest = { ...rest, index: this.nextIndex++, body: recordableBody(rawBody) };
    this.entries.push(recorded);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    return recorded;
  }

  /** Requests with `index >= since` (all by default), oldest first. */
  list(since = 0): RecordedRequest[] {
    return structuredClone(this.entries.filter((e) => e.index >= since));
  }

  /** The index the next request will get (what to pass as `since` later). */
  get next(): number {
    return this.nextIndex;
  }

  /** Forgets everything recorded so far; indexes keep counting. */
  clear(): void {
    this.entries = [];
  }
}

/** A body as it may be recorded: parsed when JSON, secrets replaced, long strings (file contents) shortened. */
export function recordableBody(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return undefined;
  try {
    return shorten(redact(JSON.parse(raw)));
  } catch {
    return raw.length > MAX_BODY_TEXT ? `${raw.slice(0, MAX_BODY_TEXT)}…` : raw;
  }
}

function shorten(value: unknown): unknown {
  if (typeof value === 'string') return value.length > MAX_BODY_TEXT ? `${value.slice(0, MAX_BODY_TEXT)}… (${value.length} characters)` : value;
  if (Array.isArray(value)) return value.map(shorten);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shorten(v)]));
  return value;
}

/** A deep copy of `value` with every password/passcode/secret field replaced. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redact(v)]));
  }
  return value;
}
