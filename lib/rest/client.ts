import https from 'node:https';
import http from 'node:http';
import fetch, { type Response } from 'node-fetch';
import pRetry, { AbortError } from 'p-retry';
import { ConflictError, RestError, RestUnreachableError } from './errors.js';
import type { TlsMaterial } from '../net/tls-client.js';
import { silentLog, type Log } from '../log/log.js';

/** How to reach and log in to the platform's REST API. */
export interface RestClientOptions {
  /** e.g. `https://co3.example.com` */
  url: string;
  orgId: number;
  tls?: TlsMaterial;
  apiKey?: { id: string; secret: string };
  login?: { email: string; password: string };
  timeoutMs?: number;
  /** Retries of idempotent calls on network errors and 5xx. Default 4. */
  retries?: number;
  /** Tries of {@link RestClient.getPut} on 409. Default 10. */
  conflictTries?: number;
  /** Base delay of retries (ms). Default 200. */
  retryBaseMs?: number;
  log?: Log;
}

/** Per-call options. */
export interface RequestOptions {
  /** Retry on network errors and 5xx even though the method is not idempotent. */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Answer the body as bytes instead of parsed JSON. */
  raw?: boolean;
}

interface Shared {
  agent: http.Agent;
  session?: Promise<{ csrf: string; cookie: string }>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
// Errors that mean the request never reached the server, so even a POST may be retried.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * A client for the platform's REST API.
 *
 * Paths starting with `/rest/` are used as they are; others are relative to
 * the organisation (`/incidents/2095` → `/rest/orgs/201/incidents/2095`).
 * TLS is verified against the configured CA, including the host name.
 *
 * @example
 * const rest = new RestClient({ url, orgId: 201, apiKey: { id, secret }, tls: { ca } });
 * const incident = await rest.get<Incident>('/incidents/2095');
 */
export class RestClient {
  private readonly shared: Shared;
  private readonly log: Log;

  constructor(private readonly options: RestClientOptions, shared?: Shared, private readonly contextToken?: string) {
    this.log = options.log ?? silentLog;
    if (options.tls?.insecure) this.log.warn('INSECURE: REST certificate verification is OFF', { url: options.url });
    if (!options.apiKey && !options.login) throw new Error('REST client needs an API key or an email/password login');
    this.shared = shared ?? { agent: makeAgent(options.url, options.tls) };
  }

  /**
   * The same client, sending `X-Co3ContextToken` on every call so changes made
   * while handling an action do not re-trigger it.
   */
  withContextToken(token: string | undefined): RestClient {
    return new RestClient(this.options, this.shared, token);
  }

  /** The context token this client sends, if any. */
  get token(): string | undefined {
    return this.contextToken;
  }

  get<T = unknown>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, undefined, options);
  }

  post<T = unknown>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, body, options);
  }

  put<T = unknown>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, body, options);
  }

  delete<T = unknown>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, undefined, options);
  }

  /**
   * Reads an object, applies a change and writes it back; on 409 Conflict it
   * reads again and re-applies, up to `conflictTries` times with jittered
   * backoff, then throws {@link ConflictError}. `apply` may return
   * `undefined` when nothing needs to change, and then no PUT is made.
   *
   * @example
   * await rest.getPut<Incident>('/incidents/2095', (inc) => ({ ...inc, severity_code: 6 }));
   */
  async getPut<T extends object>(path: string, apply: (current: T) => T | undefined | Promise<T | undefined>, options: { signal?: AbortSignal } = {}): Promise<T> {
    const tries = this.options.conflictTries ?? 10;
    const base = this.options.retryBaseMs ?? 200;
    try {
      return await pRetry(
        async () => {
          const current = await this.get<T>(path, options);
          const changed = await apply(structuredClone(current));
          if (changed === undefined) return current;
          return await this.put<T>(path, changed, options);
        },
        {
          retries: tries - 1,
          minTimeout: base / 4,
          maxTimeout: base * 10,
          factor: 2,
          randomize: true,
          signal: options.signal,
          shouldRetry: ({ error }) => error instanceof RestError && error.status === 409,
          onFailedAttempt: ({ error, attemptNumber }) => {
            if (error instanceof RestError && error.status === 409) this.log.debug('409 conflict, re-reading', { path, attempt: attemptNumber });
          },
        },
      );
    } catch (error) {
      if (error instanceof RestError && error.status === 409) throw new ConflictError(path, tries);
      throw error;
    }
  }

  /**
   * Reads raw bytes (an attachment's or artifact's contents), with the same
   * authentication, context token and retries as {@link get}.
   *
   * @example
   * const bytes = await rest.getBytes(`/incidents/2095/artifacts/7/contents`);
   */
  getBytes(path: string, options?: RequestOptions): Promise<Buffer> {
    return this.request<Buffer>('GET', path, undefined, { ...options, raw: true });
  }

  /** Makes one call, with retries where they are safe. */
  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const fullPath = this.resolvePath(path);
    const idempotent = options.idempotent ?? IDEMPOTENT.has(method);
    const base = this.options.retryBaseMs ?? 200;
    return pRetry(() => this.once<T>(method, fullPath, body, options.signal, idempotent, false, options.raw), {
      retries: this.options.retries ?? 4,
      minTimeout: base,
      maxTimeout: base * 20,
      factor: 2,
      randomize: true,
      signal: options.signal,
      onFailedAttempt: ({ error, retriesLeft }) => {
        if (retriesLeft > 0) this.log.warn('REST call failed, retrying', { method, path: fullPath, error: error.message, retriesLeft });
      },
    });
  }

  private async once<T>(method: string, path: string, body: unknown, signal: AbortSignal | undefined, idempotent: boolean, relogged = false, raw = false): Promise<T> {
    const headers: Record<string, string> = { Accept: raw ? '*/*' : 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.contextToken) headers['X-Co3ContextToken'] = this.contextToken;
    await this.authenticate(headers);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.url), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        agent: this.shared.agent,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs ?? 30_000)]) : AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      const err = error as Error & { code?: string };
      const wrapped = new RestUnreachableError(method, path, err);
      if (signal?.aborted) throw new AbortError(wrapped);
      if (!idempotent && !NOT_SENT.has(err.code ?? '')) throw new AbortError(wrapped);
      throw wrapped;
    }
    if (response.status === 401 && this.options.login && !relogged) {
      // The session expired: log in again once.
      await response.arrayBuffer();
      this.shared.session = undefined;
      return this.once<T>(method, path, body, signal, idempotent, true, raw);
    }
    if (raw && response.ok) return Buffer.from(await response.arrayBuffer()) as T;
    const text = await response.text();
    if (!response.ok) {
      const error = new RestError(method, path, response.status, platformMessage(text));
      if (response.status >= 500 && idempotent) throw error;
      throw new AbortError(error);
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  private async authenticate(headers: Record<string, string>): Promise<void> {
    const { apiKey, login } = this.options;
    if (apiKey) {
      headers['Authorization'] = `Basic ${Buffer.from(`${apiKey.id}:${apiKey.secret}`).toString('base64')}`;
      return;
    }
    if (!login) return;
    this.shared.session ??= this.openSession(login).catch((error: unknown) => {
      this.shared.session = undefined;
      throw error;
    });
    const session = await this.shared.session;
    headers['X-sess-id'] = session.csrf;
    headers['Cookie'] = session.cookie;
  }

  private async openSession(login: { email: string; password: string }): Promise<{ csrf: string; cookie: string }> {
    let response: Response;
    try {
      response = await fetch(new URL('/rest/session', this.options.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(login),
        agent: this.shared.agent,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new RestUnreachableError('POST', '/rest/session', error as Error);
    }
    const text = await response.text();
    if (!response.ok) throw new AbortError(new RestError('POST', '/rest/session', response.status, platformMessage(text)));
    const data = JSON.parse(text) as { csrf_token?: string };
    const cookie = (response.headers.raw()['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
    if (!data.csrf_token) throw new AbortError(new RestError('POST', '/rest/session', response.status, 'login answer has no csrf_token'));
    return { csrf: data.csrf_token, cookie };
  }

  private resolvePath(path: string): string {
    if (path.startsWith('/rest/')) return path;
    return `/rest/orgs/${this.options.orgId}${path.startsWith('/') ? '' : '/'}${path}`;
  }

  /** Releases pooled connections. */
  close(): void {
    this.shared.agent.destroy();
  }
}

function makeAgent(url: string, tls: TlsMaterial | undefined): http.Agent {
  if (url.startsWith('http://')) return new http.Agent({ keepAlive: true, maxSockets: 64 });
  return new https.Agent({
    keepAlive: true,
    maxSockets: 64,
    ca: tls?.ca,
    cert: tls?.cert,
    key: tls?.key,
    passphrase: tls?.passphrase,
    servername: tls?.servername,
    rejectUnauthorized: !tls?.insecure,
    minVersion: 'TLSv1.2',
  });
}

/** The platform's error message from an error body, shortened. */
function platformMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return text.slice(0, 200);
}
