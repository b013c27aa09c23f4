import type { IncomingMessage } from 'node:http';
import type { Principal } from './auth.js';
import { PlatformError } from './errors.js';

/** What a route handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  method: string;
  path: string;
  query: URLSearchParams;
  /** Path parameters by name (`:org` → `params.org`), URL-decoded. */
  params: Record<string, string>;
  /** The raw request body ('' when none). */
  rawBody: string;
  /** Aborted when the client goes away or the emulator closes. */
  signal: AbortSignal;
  /** Who is calling; set for `/rest` routes that need authentication. */
  principal?: Principal;
  /** The `X-Co3ContextToken` header, if sent. */
  contextToken?: string;
  /** The request body as JSON; a 400 when it is missing or not JSON. */
  json(): unknown;
  /** Notes that a fault shaped this answer (shown in the request log). */
  markFault(kind: 'conflict'): void;
}

/** What a route handler answers. */
export interface RouteResult {
  status?: number;
  /** Sent as JSON; no body when undefined. */
  body?: unknown;
  /** Sent as they are (`application/octet-stream` unless `headers` say otherwise), instead of `body`. */
  raw?: Buffer;
  headers?: Record<string, string | string[]>;
}

/** A route handler. Throw a {@link PlatformError} to answer an error. */
export type Handler = (ctx: RouteContext) => RouteResult | Promise<RouteResult>;

/** Route flags. */
export interface RouteOptions {
  /** Needs no authentication (only the login itself). */
  public?: boolean;
}

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
  options: RouteOptions;
}

/** The outcome of matching a request. */
export type RouteMatch =
  | { kind: 'found'; handler: Handler; params: Record<string, string>; options: RouteOptions }
  | { kind: 'wrong-method'; allowed: string[] }
  | { kind: 'none' };

/**
 * A small method + path-template router (`/rest/orgs/:org/incidents/:id`),
 * enough for the emulator without pulling in a web framework.
 *
 * @example
 * const r = new Router().add('GET', '/rest/orgs/:org/incidents/:id', (ctx) => ({ body: ctx.params }));
 * r.match('GET', '/rest/orgs/201/incidents/2095'); // { kind: 'found', params: { org: '201', id: '2095' }, ... }
 */
export class Router {
  private readonly routes: Route[] = [];

  /** Adds a route; `:name` segments become parameters. */
  add(method: string, template: string, handler: Handler, options: RouteOptions = {}): this {
    const names: string[] = [];
    const source = template
      .split('/')
      .map((segment) => {
        if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(segment.slice(1));
        return '([^/]+)';
      })
      .join('/');
    this.routes.push({ method, pattern: new RegExp(`^${source}/?$`), names, handler, options });
    return this;
  }

  /** Finds the route for a request; tells a wrong method apart from an unknown path (405 vs 404). */
  match(method: string, path: string): RouteMatch {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => (params[name] = decode(m[i + 1]!)));
      return { kind: 'found', handler: route.handler, params, options: route.options };
    }
    return allowed.length > 0 ? { kind: 'wrong-method', allowed } : { kind: 'none' };
  }
}

/** A path parameter that must be a non-negative integer id; 400 naming it otherwise. */
export function intParam(ctx: RouteContext, name: string): number {
  const raw = ctx.params[name];
  if (raw === undefined || !/^\d+$/.test(raw)) throw PlatformError.badRequest(`path parameter "${name}": ${JSON.stringify(raw)} is not a numeric id`);
  return Number(raw);
}

/** A path parameter that is a numeric id or a name (the platform accepts both for types, fields, actions). */
export function idOrName(ctx: RouteContext, name: string): string | number {
  const raw = ctx.params[name] ?? '';
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw PlatformError.badRequest(`path segment ${JSON.stringify(segment)} is not valid URL encoding`);
  }
}
