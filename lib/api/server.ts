import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ActivitySystem } from '../activity/system.js';
import type { Config } from '../config/schema.js';
import type { Log } from '../log/log.js';
import type { Runtime } from '../runtime/runtime.js';
import { ApiAuth, type ApiPrincipal } from './auth.js';
import type { ExecutionCache } from './execution-cache.js';
import { executionRoutes } from './executions.js';
import { healthRoute } from './health.js';
import { metricsRoute } from './metrics.js';
import { openApiRoute } from './openapi.js';
import { sendError } from './respond.js';
import type { ApiRoute } from './route.js';
import { dashboardRoutes } from './static.js';
import { attachStream } from './stream.js';

/** What {@link startApiServer} serves from. */
export interface ApiServerDeps {
  config: Config['api'];
  /** CAFKIT_HOME: where a generated token is kept (`api-token`). */
  home: string;
  log: Log;
  runtime: Runtime;
  activity: ActivitySystem | undefined;
  cache: ExecutionCache;
  /** More routes (authenticated), matched before the built-in ones. */
  routes?: ApiRoute[];
}

/** A running operator API. */
export interface ApiServer {
  /** `http://<host>:<port>`, with the real port when `api.port` is 0. */
  url: string;
  port: number;
  /** Ends the live feed, then the HTTP server (open connections are cut after a short grace). */
  close(): Promise<void>;
}

/** How long `close()` lets requests in progress finish before cutting connections. */
const CLOSE_GRACE_MS = 2000;

const UNAUTHORIZED_HEADERS = { 'www-authenticate': 'Bearer realm="cafkit"' };
/** Basic first: it is the challenge a browser answers with its sign-in dialog. */
const DASHBOARD_UNAUTHORIZED_HEADERS = { 'www-authenticate': ['Basic realm="cafkit dashboard", charset="UTF-8"', 'Bearer realm="cafkit"'] };

/**
 * Starts the operator API on `config.host:config.port` (node:http): the
 * executions, health, metrics, the OpenAPI document, the live feed
 * (`WS /executions/stream`) and the dashboard. Every route needs a token:
 * a bearer token (401 with `WWW-Authenticate` otherwise, unknown paths
 * included), or for the dashboard's own files, which a browser fetches
 * when it navigates, Basic credentials whose password is a token (the
 * browser's sign-in dialog); only GET is served (405 with `Allow: GET`);
 * errors are JSON `{"error", "message"}`.
 *
 * Logs `operator API listening` with the URL, the file of a generated token
 * (never the token), and a warning when authentication is off.
 *
 * @example
 * const api = await startApiServer({ config: config.api, home, log, runtime, activity, cache });
 * // curl -H "Authorization: Bearer $(cat ~/.cafkit/api-token)" http://127.0.0.1:8686/executions?status=failed
 * await api.close();
 */
export async function startApiServer(deps: ApiServerDeps): Promise<ApiServer> {
  const { config, log } = deps;
  const { auth, generatedFile } = ApiAuth.fromConfig(config, deps.home);
  const observed = { runtime: deps.runtime, activity: deps.activity, cache: deps.cache };
  const metrics = metricsRoute(observed);
  const routes = new RouteTable(
    [
      ...(deps.routes ?? []),
      ...executionRoutes({ cache: deps.cache, activity: deps.activity, log }),
      upgradeRequired(),
      healthRoute(observed),
      metrics,
      openApiRoute(),
    ],
    dashboardRoutes(),
  );

  const server = http.createServer((req, res) => {
    void handle(req, res, routes, auth, log);
  });
  // Idle keep-alive connections must not hold close() up; requests are small.
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const stream = attachStream(server, { auth, cache: deps.cache, log });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await stream.close().catch(() => {});
    metrics.close?.();
    throw new Error(`operator API: cannot listen on ${config.host}:${config.port}: ${(error as Error).message} (set api.port, CAFKIT_API_PORT, or api.enable: false)`);
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info('operator API listening', { url, dashboard: `${url}/`, auth: config.auth });
  if (!config.auth) {
    log.warn('operator API AUTHENTICATION IS OFF (api.auth: false): anyone who can reach ' + url + ' reads every execution, memory and secrets included. Development only.', { url });
  } else if (generatedFile) {
    log.info('operator API token (both scopes) is in a file; open the dashboard at <url>/#token=<token>', { file: generatedFile });
  }
  if (!isLoopback(config.host)) log.warn('operator API listens beyond loopback over plain HTTP: put it behind a TLS proxy', { host: config.host });

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        await stream.close().catch((error: unknown) => log.warn('operator API: closing the live feed failed', { error: (error as Error).message }));
        metrics.close?.();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          server.closeIdleConnections();
        });
      })();
      return closing;
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: RouteTable, auth: ApiAuth, log: Log): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://api.invalid');
  } catch {
    return sendError(res, 400, 'bad_request', 'the request URL cannot be parsed');
  }
  const found = routes.find(url.pathname);
  try {
    if (found?.public) {
      // The dashboard's files: a bearer token, or Basic credentials whose password is one (what a browser can send when it navigates).
      const viewer = auth.check(req.headers.authorization) ?? auth.checkBasic(req.headers.authorization);
      if (!viewer) return sendError(res, 401, 'unauthorized', 'the dashboard needs a token: sign in with any user name and the token as the password', DASHBOARD_UNAUTHORIZED_HEADERS);
      if (req.method !== 'GET') return notAllowed(res);
      return await found.route.handle(req, res, { principal: viewer, url, params: found.params });
    }
    // Before anything else, unknown paths included: without a token nothing about the API shows.
    const principal = auth.check(req.headers.authorization);
    if (!principal) return sendError(res, 401, 'unauthorized', 'a bearer token is required', UNAUTHORIZED_HEADERS);
    if (!found) return sendError(res, 404, 'not_found', `no route ${url.pathname.slice(0, 200)}`);
    if (req.method !== 'GET') return notAllowed(res);
    await found.route.handle(req, res, { principal, url, params: found.params });
  } catch (error) {
    log.error('operator API: a request failed', { path: url.pathname, error: (error as Error).message });
    if (!res.headersSent) sendError(res, 500, 'internal', 'the request failed; see the processor log');
    else res.destroy();
  }
}

function notAllowed(res: ServerResponse): void {
  sendError(res, 405, 'method_not_allowed', 'only GET is served', { allow: 'GET' });
}

/** A plain GET of the live feed's path: it needs a WebSocket upgrade (the upgrade itself never reaches the router). */
function upgradeRequired(): ApiRoute {
  return {
    method: 'GET',
    path: '/executions/stream',
    handle(_req, res) {
      sendError(res, 426, 'upgrade_required', 'this is a WebSocket endpoint: connect with Upgrade: websocket', { upgrade: 'websocket', connection: 'Upgrade' });
    },
  };
}

/** Paths with `:name` segments; literal routes win over parameter ones, the first added wins among equals. */
class RouteTable {
  private readonly entries: Array<{ route: ApiRoute; segments: string[]; public: boolean; literal: boolean }>;

  constructor(authenticated: readonly ApiRoute[], open: readonly ApiRoute[]) {
    this.entries = [
      ...authenticated.map((route) => ({ route, public: false })),
      ...open.map((route) => ({ route, public: true })),
    ].map((e) => ({ ...e, segments: split(e.route.path), literal: !e.route.path.includes(':') }));
    // A stable sort: literal paths first (`/executions/stream` before `/executions/:id`).
    this.entries.sort((a, b) => Number(b.literal) - Number(a.literal));
  }

  find(pathname: string): { route: ApiRoute; params: Record<string, string>; public: boolean } | undefined {
    const parts = split(pathname);
    for (const entry of this.entries) {
      if (entry.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const pattern = entry.segments[i]!;
        if (pattern.startsWith(':')) {
          const value = decode(parts[i]!);
          if (value === undefined || value === '') ok = false;
          else params[pattern.slice(1)] = value;
        } else ok = pattern === parts[i];
      }
      if (ok) return { route: entry.route, params, public: entry.public };
    }
    return undefined;
  }
}

function split(pathname: string): string[] {
  // `/` is the empty list; a trailing slash is a different path (`/executions/` is 404).
  return pathname === '/' ? [] : pathname.split('/').slice(1);
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
