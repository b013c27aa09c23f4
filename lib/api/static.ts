import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendError } from './respond.js';
import { basicPassword } from './auth.js';
import type { ApiRoute } from './route.js';

/** The dashboard's files: `index.html` and what it loads from `assets/`. */
export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** A file name the dashboard may serve: one flat name, no separators, no leading dot (so no `..`, no hidden files). */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * The public routes of the dashboard: `GET /` (index.html) and
 * `GET /assets/<file>` (a file of the same folder). They are served without
 * a token, since a browser navigating to a page cannot send one, and they
 * hold no data: the page asks the API for everything with the token.
 *
 * Only flat names with a known type are served (no traversal: `..`, `/`,
 * `%2F`, hidden files and unknown extensions are 404). Each answer carries a
 * strong ETag of its bytes and `Cache-Control: no-cache`, so a browser
 * revalidates (304) and picks up a new version at once after an upgrade.
 *
 * @example
 * const [index, assets] = dashboardRoutes();
 * // GET /assets/app.js -> text/javascript, ETag "…"
 */
export function dashboardRoutes(dir: string = DASHBOARD_DIR): ApiRoute[] {
  return [
    { method: 'GET', path: '/', handle: (req, res) => serveFile(dir, 'index.html', req, res) },
    { method: 'GET', path: '/assets/:file', handle: (req, res, ctx) => serveFile(dir, ctx.params['file'] ?? '', req, res) },
  ];
}

async function serveFile(dir: string, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const type = TYPES[path.extname(name).toLowerCase()];
  if (!SAFE_NAME.test(name) || !type) return sendError(res, 404, 'not_found', `no dashboard file ${JSON.stringify(name).slice(0, 140)}`);
  const file = path.join(dir, name);
  // Belt and braces: the name cannot leave the folder, and the resolved path must still be inside it.
  if (path.dirname(file) !== path.resolve(dir)) return sendError(res, 404, 'not_found', 'no such dashboard file');
  let body: Buffer;
  try {
    if (!(await stat(file)).isFile()) return sendError(res, 404, 'not_found', `no dashboard file ${name}`);
    body = await readFile(file);
  } catch {
    return sendError(res, 404, 'not_found', `no dashboard file ${name}`);
  }
  // The page served to a browser that signed in with Basic credentials carries the token, so the page can call the API with it.
  const signedIn = name === 'index.html' ? basicPassword(req.headers.authorization) : undefined;
  if (signedIn !== undefined) {
    body = Buffer.from(body.toString('utf8').replace('<head>', `<head>\n  <meta name="cafkit-token" content="${escapeAttribute(signedIn)}">`), 'utf8');
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', ...pageHeaders(req), 'content-length': String(body.length) });
    res.end(body);
    return;
  }
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  const headers: Record<string, string> = {
    'content-type': type,
    etag,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (name.endsWith('.html')) Object.assign(headers, pageHeaders(req));
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/** The page may load only its own files and talk only to this server (its API and its live feed). */
function pageHeaders(req: IncomingMessage): Record<string, string> {
  const host = req.headers.host ?? '';
  // The live feed is ws:// on the same host; older browsers do not count ws: as 'self'.
  const socket = /^[A-Za-z0-9.:[\]-]{1,300}$/.test(host) ? ` ws://${host} wss://${host}` : '';
  return {
    'content-security-policy':
      `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${socket}; ` +
      "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
  };
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
