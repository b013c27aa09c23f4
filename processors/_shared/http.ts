import { z } from 'zod';
import { ActionError } from '../../lib/index.js';

/**
 * Calling an external system's JSON API from a handler: a bearer token, a
 * time limit on every call (and the handler's own abort signal), and failures
 * turned into {@link ActionError}s that name the system, where it is and what
 * went wrong, so the analyst reading the Action Status list knows whom to call:
 *
 * - `helpdesk at https://helpdesk.example.com refused the ticket: HTTP 503 Service Unavailable: maintenance`
 * - `helpdesk at https://helpdesk.example.com could not be reached: ECONNREFUSED`
 * - `helpdesk at https://helpdesk.example.com did not answer within 15000 ms`
 *
 * The token is sent and nothing else: it never appears in an error or a log line.
 * Nothing is retried here. A POST that creates something must not be sent
 * twice, and a failed action is reported to the analyst, who can run it again.
 *
 * Global `fetch` (Node 20) is used throughout the processors.
 *
 * @example
 * const helpdesk = externalApi('helpdesk', ctx.settings, ctx.signal);
 * const ticket = await helpdesk.json('POST', '/api/tickets', { body, what: 'the ticket', schema: TicketSchema });
 */

/** Settings every external-API processor has; spread them into its settings schema. */
export const externalApiSettings = {
  /** The API's base URL, e.g. `https://helpdesk.example.com`. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** Bearer token; put `${ENV_VAR}` in the config file rather than the token itself. */
  token: z.string().min(1, { error: 'must not be empty' }),
  /** Time limit of each call, in ms. */
  timeout_ms: z.number().int().positive().default(15_000),
};

/** What {@link externalApi} needs from a processor's settings. */
export interface ExternalApiSettings {
  url: string;
  token?: string | undefined;
  timeout_ms?: number | undefined;
}

/** One call's options. */
export interface CallOptions<T> {
  /** JSON body. */
  body?: unknown;
  /** Query parameters. */
  query?: Record<string, string>;
  /** What the call is about, for error messages: "the ticket", "the lookup of user jdoe". */
  what: string;
  /** Statuses answered to the caller instead of thrown (e.g. `[404]` for a lookup). */
  accept?: number[];
  /** Checks a successful answer's body. */
  schema?: z.ZodType<T>;
}

/** A call's answer. */
export interface CallResult<T> {
  status: number;
  /** The parsed body (checked by `schema` for 2xx answers); `undefined` when empty. */
  body: T;
}

/** An external system reached over HTTP. */
export interface ExternalApi {
  /** The system's name and base URL, as error messages show them: `helpdesk at https://...`. */
  readonly where: string;
  /** Makes one call; throws an {@link ActionError} on failure, unless the status is in `accept`. */
  call<T = unknown>(method: string, path: string, options: CallOptions<T>): Promise<CallResult<T>>;
  /** {@link call}, answering just the body. */
  json<T = unknown>(method: string, path: string, options: CallOptions<T>): Promise<T>;
}

/**
 * An external API for one handler run. `signal` is the handler's
 * (`ctx.signal`): a cancelled action stops waiting at once.
 */
export function externalApi(system: string, settings: ExternalApiSettings, signal?: AbortSignal): ExternalApi {
  const base = settings.url.replace(/\/+$/, '');
  const where = `${system} at ${displayUrl(base)}`;
  const timeoutMs = settings.timeout_ms ?? 15_000;

  async function call<T>(method: string, path: string, options: CallOptions<T>): Promise<CallResult<T>> {
    const url = new URL(base + path);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (settings.token) headers['Authorization'] = `Bearer ${settings.token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const timeout = AbortSignal.timeout(timeoutMs);
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;

    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: abort,
        redirect: 'error',
      });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw new ActionError(`${where}: ${options.what} was abandoned because the action was cancelled`);
      if (timeout.aborted) throw new ActionError(`${where} did not answer within ${timeoutMs} ms (${options.what})`);
      throw new ActionError(`${where} could not be reached: ${networkReason(error)}`);
    }

    if (!response.ok && !options.accept?.includes(response.status)) {
      throw new ActionError(`${where} refused ${options.what}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${detail(text)}`);
    }
    let body: unknown;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) throw new ActionError(`${where} answered ${options.what} with something that is not JSON: ${oneLine(text)}`);
        body = text;
      }
    }
    if (response.ok && options.schema) {
      const parsed = options.schema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
        throw new ActionError(`${where} answered ${options.what} with an unexpected body (${field}${issue?.message ?? 'invalid'})`);
      }
      body = parsed.data;
    }
    return { status: response.status, body: body as T };
  }

  return {
    where,
    call,
    json: async <T>(method: string, path: string, options: CallOptions<T>) => (await call<T>(method, path, options)).body,
  };
}

/** The base URL as shown to analysts: no credentials, no query. */
function displayUrl(base: string): string {
  const url = new URL(base);
  url.username = '';
  url.password = '';
  url.search = '';
  return url.toString().replace(/\/+$/, '');
}

/** Why a request got no answer: the socket error code when there is one (`ECONNREFUSED`), else its message. */
function networkReason(error: unknown): string {
  let cause: unknown = error;
  // fetch wraps the socket error: TypeError("fetch failed", { cause }), sometimes an AggregateError inside.
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  if (cause instanceof AggregateError && cause.errors[0] instanceof Error) cause = cause.errors[0];
  const err = cause as Error & { code?: string };
  if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return err.code;
  return err.message || String(error);
}

/** The interesting part of an error body: its `message` / `error` / `detail`, or the text, shortened. */
function detail(text: string): string {
  if (text.trim() === '') return '';
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    for (const key of ['message', 'error', 'detail']) {
      if (typeof parsed[key] === 'string' && parsed[key] !== '') return `: ${oneLine(parsed[key])}`;
    }
  } catch {
    // not JSON: show the text itself
  }
  return `: ${oneLine(text)}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
