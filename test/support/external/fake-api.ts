import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The machinery the fake external systems (helpdesk, directory, SIEM,
 * sandbox, asset inventory) share: a node:http server on 127.0.0.1 that
 * checks what a real API checks (the bearer token, the method, a JSON
 * content type and the required fields of a body), records every request,
 * and can be told to fail the way real systems do: down (connections closed
 * without an answer), slow, or answering 5xx.
 */

/** A request as the fake received it. */
export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the raw text when it was not JSON. */
  body: unknown;
  /** Path parameters of the matched route (`:id`). */
  params: Record<string, string>;
  /** The status the fake answered (0: connection closed without an answer). */
  status: number;
}

/** A route's answer. */
export interface FakeReply {
  status?: number;
  body?: unknown;
}

/** One endpoint of a fake API. */
export interface FakeRoute {
  method: string;
  /** `/api/users/:id` style. */
  path: string;
  /** Body fields that must be present (a 400 names the first one missing). */
  required?: string[];
  handle(request: FakeRequest): FakeReply | Promise<FakeReply>;
}

/** How the fake behaves for the next requests. */
export type FakeMode =
  | { kind: 'up' }
  | { kind: 'down' }
  | { kind: 'slow'; ms: number }
  | { kind: 'failing'; status: number; remaining: number; only?: ((request: FakeRequest) => boolean) | undefined };

/** A running fake API. */
export class FakeApi {
  readonly requests: FakeRequest[] = [];
  private mode: FakeMode = { kind: 'up' };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly name: string,
    private readonly server: http.Server,
    readonly url: string,
    /** The bearer token it accepts. */
    readonly token: string,
  ) {}

  /** Starts a fake on an ephemeral port of 127.0.0.1. */
  static async start(name: string, routes: FakeRoute[], token = `${name}-token-0123456789`): Promise<FakeApi> {
    let fake: FakeApi | undefined;
    const server = http.createServer((req, res) => {
      void fake!.serve(req, res, routes);
    });
    server.on('connection', (socket) => {
      if (fake?.mode.kind === 'down') socket.resetAndDestroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    fake = new FakeApi(name, server, `http://127.0.0.1:${port}`, token);
    return fake;
  }

  /** Closes every connection without an answer, as a crashed or firewalled system does. */
  down(): void {
    this.mode = { kind: 'down' };
  }

  /** Answers after `ms`. */
  slow(ms: number): void {
    this.mode = { kind: 'slow', ms };
  }

  /** Answers `status` (e.g. 503) to the next `count` requests (those matching `only`, if given), then works again. */
  failing(status: number, count = Number.POSITIVE_INFINITY, only?: (request: FakeRequest) => boolean): void {
    this.mode = { kind: 'failing', status, remaining: count, only };
  }

  /** Back to normal. */
  up(): void {
    this.mode = { kind: 'up' };
  }

  /** Requests matching `method` and `path` (a string or pattern). */
  received(method: string, path: string | RegExp): FakeRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  /** Resolves with the first request matching `match`, or rejects after `timeoutMs`. */
  waitForRequest(match: (r: FakeRequest) => boolean, what: string, timeoutMs = 20_000): Promise<FakeRequest> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.requests.find(match);
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.name}: no request for ${what} within ${timeoutMs} ms (got ${this.requests.map((r) => `${r.method} ${r.path}`).join(', ') || 'none'})`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Stops listening and drops open connections. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, routes: FakeRoute[]): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: parse(raw),
      params: {},
      status: 0,
    };
    this.requests.push(request);
    for (const wake of this.waiters) wake();

    const mode = this.mode;
    if (mode.kind === 'down') {
      req.socket.resetAndDestroy();
      return;
    }
    if (mode.kind === 'slow') await new Promise<void>((resolve) => this.timers.add(setTimeout(resolve, mode.ms)));
    if (res.destroyed) return;

    const answer = (status: number, body?: unknown) => {
      request.status = status;
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      res.end(text);
    };
    if (mode.kind === 'failing' && mode.remaining > 0 && (mode.only?.(request) ?? true)) {
      mode.remaining--;
      if (mode.remaining === 0) this.mode = { kind: 'up' };
      answer(mode.status, { error: `${this.name} is having trouble (fault injected)` });
      return;
    }

    const candidates = routes.map((route) => ({ route, params: match(route.path, request.path) })).filter((c) => c.params !== undefined);
    if (candidates.length === 0) return answer(404, { error: `no such endpoint: ${request.path}` });
    const found = candidates.find((c) => c.route.method === request.method);
    if (!found) return answer(405, { error: `${request.method} is not allowed on ${request.path}` });
    if (req.headers.authorization !== `Bearer ${this.token}`) return answer(401, { error: 'missing or invalid bearer token' });
    if (raw !== '' || ['POST', 'PUT', 'PATCH'].includes(request.method)) {
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return answer(415, { error: 'Content-Type must be application/json' });
      if (typeof request.body !== 'object' || request.body === null) return answer(400, { error: 'the body must be a JSON object' });
    }
    for (const field of found.route.required ?? []) {
      const value = (request.body as Record<string, unknown>)[field];
      if (value === undefined || value === null || value === '') return answer(400, { error: `field "${field}" is required` });
    }
    request.params = found.params!;
    try {
      const reply = await found.route.handle(request);
      answer(reply.status ?? 200, reply.body);
    } catch (error) {
      answer(500, { error: (error as Error).message });
    }
  }
}

/** A closed port on 127.0.0.1: connecting to it is refused. */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function parse(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function match(pattern: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const regex = new RegExp(`^${pattern.replace(/:[a-z_]+/g, (name) => (names.push(name.slice(1)), '([^/]+)'))}$`);
  const m = regex.exec(path);
  if (!m) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(m[i + 1]!)]));
}
