import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { silentLog, type Log } from '../log/log.js';
import type { Auth } from './auth.js';
import { PlatformError } from './errors.js';
import type { Faults } from './faults.js';
import type { InvocationLog } from './invocations.js';
import type { RequestAuth, RequestLog } from './requests.js';
import type { RouteContext, RouteResult, Router } from './router.js';
import type { EmulatorStore } from './store.js';

/** Largest request body accepted (bytes); the platform's own limit is of this order. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const CONTEXT_TOKEN_HEADER = 'x-co3contexttoken';

/** What the HTTP server dispatches to. */
export interface ServerDeps {
  store: EmulatorStore;
  auth: Auth;
  faults: Faults;
  requests: RequestLog;
  invocations: InvocationLog;
  rest: Router;
  control: Router;
  log?: Log;
  /** PEM contents; HTTPS when given. */
  tls?: { cert: string; key: string };
}

/**
 * The emulator's HTTP(S) server. `/rest` requests go through, in order: the
 * `down` fault, latency, the `errors` fault, authentication, the organisation
 * check and the route; each is recorded once answered. `/emulator` control
 * requests skip all of that.
 */
export class EmulatorServer {
  private readonly server: http.Server;
  private readonly log: Log;
  /** Aborts latency waits and long-polls when the emulator closes. */
  private readonly closing = new AbortController();

  constructor(private readonly deps: ServerDeps) {
    this.log = deps.log ?? silentLog;
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => {
        this.log.error('emulator request failed', { error: (error as Error).message });
        if (!res.headersSent) send(res, 500, internalError());
        else res.destroy();
      });
    };
    this.server = deps.tls ? https.createServer({ cert: deps.tls.cert, key: deps.tls.key }, listener) : http.createServer(listener);
  }

  /** True when serving HTTPS. */
  get secure(): boolean {
    return this.deps.tls !== undefined;
  }

  /** Starts listening; resolves with the port actually bound. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops listening and drops every connection, including long-polls and keep-alive sockets. */
  async close(): Promise<void> {
    this.closing.abort(new Error('the emulator is closing'));
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    if (path === '/rest' || path.startsWith('/rest/')) return this.handleRest(req, res, url);
    if (path === '/emulator' || path.startsWith('/emulator/')) return this.handleControl(req, res, url);
    send(res, 404, PlatformError.notFound(`path ${path}`).toBody());
  }

  private async handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const match = this.deps.control.match(req.method ?? 'GET', url.pathname);
    const rawBody = await readBody(req).catch((error: unknown) => this.refuseBody(res, error));
    if (rawBody === undefined) return;
    let result: RouteResult;
    try {
      if (match.kind === 'none') throw PlatformError.notFound(`emulator endpoint ${url.pathname}`);
      if (match.kind === 'wrong-method') throw methodNotAllowed(req.method, url.pathname, match.allowed);
      result = await match.handler(this.context(req, res, url, match.params, rawBody, () => {}));
    } catch (error) {
      result = this.errorResult(error);
    }
    send(res, result.status ?? 200, result.raw ?? result.body, result.headers);
  }

  private async handleRest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { faults, requests, invocations, auth, store } = this.deps;
    const at = Date.now();
    const contextToken = headerValue(req, CONTEXT_TOKEN_HEADER);
    const invocationId = invocations.forToken(contextToken);
    const base = {
      at,
      method: req.method ?? 'GET',
      path: url.pathname,
      ...(url.search ? { query: Object.fromEntries(url.searchParams) } : {}),
      contextToken,
      ...(invocationId !== undefined ? { invocationId } : {}),
    };
    const decision = faults.decide();
    if (decision.kind === 'down') {
      requests.record({ ...base, status: 0, auth: 'none', fault: 'down' });
      // No answer at all: the client sees the connection reset, as when the platform is down.
      req.socket.destroy();
      return;
    }
    const rawBody = await readBody(req).catch((error: unknown) => this.refuseBody(res, error));
    if (rawBody === undefined) {
      requests.record({ ...base, status: 413, auth: 'none' });
      return;
    }
    if (decision.latencyMs > 0) {
      try {
        await delay(decision.latencyMs, undefined, { signal: this.closing.signal });
      } catch {
        req.socket.destroy();
        return;
      }
    }

    let authKind: RequestAuth = 'none';
    let fault: 'error' | 'conflict' | undefined;
    let result: RouteResult;
    try {
      if (decision.kind === 'error') {
        fault = 'error';
        throw new PlatformError(decision.status, 'service_unavailable', `the platform answered ${decision.status} (emulated error)`);
      }
      const match = this.deps.rest.match(req.method ?? 'GET', url.pathname);
      if (match.kind === 'none') throw PlatformError.notFound(`REST endpoint ${req.method} ${url.pathname}`);
      if (match.kind === 'wrong-method') throw methodNotAllowed(req.method, url.pathname, match.allowed);
      const ctx = this.context(req, res, url, match.params, rawBody, (kind) => (fault = kind));
      if (contextToken !== undefined) ctx.contextToken = contextToken;
      if (!match.options.public) {
        ctx.principal = auth.authenticate(req);
        authKind = ctx.principal.kind;
      }
      const org = match.params['org'];
      if (org !== undefined && org !== String(store.org.id)) {
        throw PlatformError.forbidden(`you are not a member of organisation ${JSON.stringify(org)} (this emulator serves organisation ${store.org.id})`);
      }
      result = await match.handler(ctx);
    } catch (error) {
      result = this.errorResult(error);
    }
    const status = result.status ?? 200;
    requests.record({ ...base, status, auth: authKind, rawBody, ...(fault ? { fault } : {}) });
    this.log.debug('emulator REST request', { method: base.method, path: base.path, status });
    send(res, status, result.raw ?? result.body, result.headers);
  }

  private context(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    params: Record<string, string>,
    rawBody: string,
    markFault: RouteContext['markFault'],
  ): RouteContext {
    // Aborted when the client hangs up before the answer, or when the emulator closes.
    // (Wired by hand rather than with AbortSignal.any, whose listeners on the
    // long-lived closing signal would pile up over many requests.)
    const gone = new AbortController();
    const onClosing = () => gone.abort(this.closing.signal.reason);
    this.closing.signal.addEventListener('abort', onClosing, { once: true });
    res.once('close', () => {
      this.closing.signal.removeEventListener('abort', onClosing);
      if (!res.writableFinished) gone.abort(new Error('the client went away'));
    });
    return {
      req,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      params,
      rawBody,
      signal: gone.signal,
      markFault,
      json: () => {
        if (rawBody.trim() === '') throw PlatformError.badRequest('a JSON request body is required');
        try {
          return JSON.parse(rawBody) as unknown;
        } catch (error) {
          throw PlatformError.badRequest(`the request body is not valid JSON: ${(error as Error).message}`);
        }
      },
    };
  }

  /** Answers a body that could not be read (too large, or the client broke off). */
  private refuseBody(res: ServerResponse, error: unknown): undefined {
    const result = this.errorResult(error);
    send(res, result.status ?? 500, result.body, { connection: 'close' });
    return undefined;
  }

  private errorResult(error: unknown): RouteResult {
    if (error instanceof PlatformError) return { status: error.status, body: error.toBody() };
    this.log.error('emulator route failed', { error: (error as Error).stack ?? String(error) });
    return { status: 500, body: internalError() };
  }
}

/** Reads a request body as UTF-8, with a size limit. */
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new PlatformError(413, 'payload_too_large', `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Answers JSON, or the bytes of a Buffer as they are (file contents). */
function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  if (res.destroyed) return;
  if (body === undefined || status === 204) {
    res.writeHead(status, headers).end();
    return;
  }
  if (Buffer.isBuffer(body)) {
    res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length, ...headers }).end(body);
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function methodNotAllowed(method: string | undefined, path: string, allowed: string[]): PlatformError {
  return new PlatformError(405, 'method_not_allowed', `${method} is not supported on ${path} (allowed: ${[...new Set(allowed)].join(', ')})`);
}

function internalError() {
  return new PlatformError(500, 'internal_error', 'the emulator failed to handle the request; see its log').toBody();
}
