import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiPrincipal } from './auth.js';

/** What a route handler gets besides the request and response. */
export interface RouteContext {
  /** The authenticated caller (every route requires one unless auth is disabled). */
  principal: ApiPrincipal;
  /** The request URL, parsed. */
  url: URL;
  /** Path parameters (`/executions/:id` gives `{ id }`). */
  params: Record<string, string>;
}

/** A route of the operator API. */
export interface ApiRoute {
  method: 'GET';
  /** `/executions`, `/executions/:id`. */
  path: string;
  handle(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): Promise<void> | void;
}
