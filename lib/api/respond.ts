import type { ServerResponse } from 'node:http';

/**
 * Sends `body` as JSON. API answers are never cached: they describe what is
 * happening now, and some are redacted per token.
 *
 * @example
 * sendJson(res, 200, { items, next_cursor: null });
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/**
 * Sends the API's error shape, `{"error": <code>, "message": <text>}`.
 *
 * @example
 * sendError(res, 404, 'not_found', `no execution ${id}`);
 */
export function sendError(res: ServerResponse, status: number, error: string, message: string, headers: Record<string, string | string[]> = {}): void {
  sendJson(res, status, { error, message }, headers);
}
