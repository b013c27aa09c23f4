import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Log } from '../log/log.js';
import { BEARER_SUBPROTOCOL_PREFIX, STREAM_SUBPROTOCOL, type ApiAuth, type ApiPrincipal } from './auth.js';
import type { ExecutionCache, FeedEntry } from './execution-cache.js';
import { BadRequestError, matchesFilter, parseExecutionFilter, type ExecutionFilter } from './execution-query.js';
import { forCaller, readsSensitive, toSummary } from './execution-view.js';
import type { ExecutionSummary, StreamMessage } from './schemas.js';

/** The path of the live feed. */
export const STREAM_PATH = '/executions/stream';
/** Above this many bytes waiting in a client's socket, the client is too slow and is closed with 1013. */
export const SLOW_CLIENT_BYTES = 4 * 1024 * 1024;
/** The backlog of a resuming client waits for its socket to drain above this many bytes, so a long one is paced rather than cut off. */
const BACKLOG_PAUSE_BYTES = 1024 * 1024;
/** Live events held for a client still reading its backlog; beyond this it is cut off. */
const MAX_PENDING = 100_000;
/** WebSocket close code "try again later": the client fell too far behind. */
export const CLOSE_SLOW_CLIENT = 1013;
/** WebSocket close code "going away": the server is shutting down. */
export const CLOSE_GOING_AWAY = 1001;

/** What {@link attachStream} needs. */
export interface StreamDeps {
  auth: ApiAuth;
  cache: ExecutionCache;
  log: Log;
  /** Ping period; a peer that has not answered the previous ping is terminated. Default 30 s. */
  pingMs?: number;
  /** How long `close()` waits for clients to answer the close frame before cutting them off. Default 2 s. */
  closeGraceMs?: number;
}

/** The live feed attached to a server. */
export interface StreamHandle {
  /** Connected clients. */
  clients(): number;
  /** Closes every client with 1001 (cut off after a short grace) and stops taking upgrades. */
  close(): Promise<void>;
}

/**
 * Serves `WS /executions/stream` on `server` (the `ws` package in `noServer`
 * mode on the server's `upgrade` event): every execution event as it
 * happens, filtered like `GET /executions`, resumable from an event cursor.
 *
 * Everything is decided before the upgrade, on plain HTTP: no valid bearer
 * token (header, or the `cafkit.bearer.<token>` subprotocol offered along
 * with `cafkit.v1`) is 401 on any path, another path is 404, a bad filter or
 * cursor is 400 naming it. No WebSocket exists for a refused request.
 *
 * @example
 * const server = http.createServer(router);
 * const stream = attachStream(server, { auth, cache, log });
 * // ws://127.0.0.1:8686/executions/stream?status=failed&cursor=1a2b3c4d:120
 * await stream.close(); // before server.close()
 */
export function attachStream(server: Server, deps: StreamDeps): StreamHandle {
  const { auth, cache, log } = deps;
  const pingMs = deps.pingMs ?? 30_000;
  const closeGraceMs = deps.closeGraceMs ?? 2_000;
  // Clients send nothing but control frames: a small limit keeps a misbehaving one from costing memory.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096, clientTracking: false, perMessageDeflate: false, handleProtocols: chooseProtocol });
  const clients = new Map<WebSocket, { alive: boolean; off: () => void }>();
  const frames = new FrameCache();
  const batcher = new WriteBatcher();
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://api.invalid');
    } catch {
      return refuse(socket, 400, 'bad_request', 'the request URL cannot be parsed');
    }
    const offered = offeredProtocols(req);
    const principal = authenticate(auth, req, offered);
    // The token first, on every path, as the HTTP routes do: without one nothing about the API shows.
    if (!principal) {
      log.debug('stream client refused: no valid token', { remote: req.socket.remoteAddress });
      return refuse(socket, 401, 'unauthorized', 'a bearer token is required', { 'WWW-Authenticate': 'Bearer realm="cafkit"' });
    }
    if (url.pathname !== STREAM_PATH) return refuse(socket, 404, 'not_found', `no WebSocket at ${url.pathname.slice(0, 200)}`);
    if (req.method !== 'GET') return refuse(socket, 405, 'method_not_allowed', 'only GET is served', { Allow: 'GET' });
    if (closing) return refuse(socket, 503, 'unavailable', 'the server is shutting down');
    // A server may only answer with a subprotocol the client offered (RFC 6455 4.2.2), and browsers enforce it.
    if (offered.length > 0 && !offered.includes(STREAM_SUBPROTOCOL)) {
      return refuse(socket, 400, 'bad_request', `offer the subprotocol ${STREAM_SUBPROTOCOL} (along with ${BEARER_SUBPROTOCOL_PREFIX}<token>)`);
    }
    let filter: ExecutionFilter;
    let cursor: string | undefined;
    try {
      filter = parseExecutionFilter(url.searchParams, ['cursor']);
      cursor = parseCursor(url.searchParams);
    } catch (error) {
      if (error instanceof BadRequestError) return refuse(socket, 400, 'bad_request', error.message);
      throw error;
    }
    const send = (client: WebSocket, entry: FeedEntry): void => {
      const frame = frames.event(entry, principal, filter);
      if (frame) write(client, frame);
    };
    const write = (client: WebSocket, frame: Buffer | string): void => {
      if (client.readyState !== client.OPEN) return;
      batcher.hold(socket);
      client.send(frame, { binary: false });
      if (client.bufferedAmount > SLOW_CLIENT_BYTES) {
        log.warn('stream client too slow, closing it', { client: principal.name, buffered: client.bufferedAmount });
        drop(client);
        client.close(CLOSE_SLOW_CLIENT, 'too slow: re-list and resume from your last cursor');
      }
    };
    // Subscribe before the upgrade and before reading the backlog: whatever
    // arrives in between waits here, so nothing falls between backlog and live.
    const pending: FeedEntry[] = [];
    let ws: WebSocket | undefined;
    const off = cache.subscribe((entry) => {
      if (ws) return send(ws, entry);
      pending.push(entry);
      // Events that came while a slow client reads its backlog: too many, and it will never catch up.
      if (pending.length > MAX_PENDING) {
        log.warn('stream client too slow to catch up, closing it', { client: principal.name });
        socket.destroy();
      }
    });
    // ws answers a bad handshake itself (400) without calling back: the subscription must not outlive the socket.
    socket.once('close', off);
    /**
     * The backlog after the cursor (gap first when it is lost), at the pace
     * the client reads it; then what arrived meanwhile, skipping what the
     * backlog had; then `ready`; from then on events go out as they come.
     */
    const catchUp = async (client: WebSocket): Promise<void> => {
      let last = -1;
      if (cursor !== undefined) {
        const { entries, gap } = cache.since(cursor);
        if (gap) write(client, JSON.stringify({ type: 'gap', cursor: cache.cursor } satisfies StreamMessage));
        for (const entry of entries) {
          if (client.readyState !== client.OPEN) return;
          send(client, entry);
          last = sequence(entry.cursor);
          if (client.bufferedAmount > BACKLOG_PAUSE_BYTES) await drained(socket);
        }
      }
      if (client.readyState !== client.OPEN) return;
      for (const entry of pending.splice(0)) if (sequence(entry.cursor) > last) send(client, entry);
      write(client, JSON.stringify({ type: 'ready', cursor: cache.cursor } satisfies StreamMessage));
      ws = client;
    };
    try {
      wss.handleUpgrade(req, socket, head, (client) => {
        if (closing) {
          off();
          client.close(CLOSE_GOING_AWAY, 'server shutting down');
          return;
        }
        clients.set(client, { alive: true, off });
        client.on('pong', () => {
          const state = clients.get(client);
          if (state) state.alive = true;
        });
        client.on('close', () => drop(client));
        client.on('error', (error) => log.debug('stream client error', { error: error.message }));
        log.debug('stream client connected', { client: principal.name, query: url.search, clients: clients.size });
        catchUp(client).catch((error: unknown) => {
          log.warn('stream client: sending the backlog failed', { error: (error as Error).message });
          drop(client);
          client.terminate();
        });
      });
    } catch (error) {
      off();
      throw error;
    }
  };

  /** Forgets a client: no more events for it. */
  const drop = (client: WebSocket): void => {
    const state = clients.get(client);
    if (!state) return;
    state.off();
    clients.delete(client);
  };

  server.on('upgrade', onUpgrade);
  const pinger = setInterval(() => {
    for (const [client, state] of clients) {
      if (!state.alive) {
        log.debug('stream client did not answer the ping, terminating it');
        drop(client);
        client.terminate();
        continue;
      }
      state.alive = false;
      client.ping();
    }
  }, pingMs);
  pinger.unref();

  return {
    clients: () => clients.size,
    async close() {
      closing = true;
      clearInterval(pinger);
      server.off('upgrade', onUpgrade);
      const all = [...clients.keys()];
      const closed = all.map((client) => new Promise<void>((resolve) => (client.readyState === client.CLOSED ? resolve() : client.once('close', () => resolve()))));
      for (const client of all) {
        drop(client);
        client.close(CLOSE_GOING_AWAY, 'server shutting down');
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, closeGraceMs)))]);
      clearTimeout(timer);
      // A peer that did not answer the close frame in time (or never reads) is cut off.
      for (const client of all) if (client.readyState !== client.CLOSED) client.terminate();
      await Promise.all(closed);
      wss.close();
    },
  };
}

/**
 * Holds a socket's writes (cork) until the end of the event loop turn, so
 * the frames of the events that arrived in one turn (a reporter batch) leave
 * in one write per client instead of one system call per event and client.
 */
class WriteBatcher {
  private readonly held = new Set<Duplex>();

  hold(socket: Duplex): void {
    if (this.held.has(socket)) return;
    if (this.held.size === 0) setImmediate(() => this.release());
    this.held.add(socket);
    socket.cork();
  }

  private release(): void {
    for (const socket of this.held) socket.uncork();
    this.held.clear();
  }
}

/**
 * The encoded `event` frame of each entry, made once per entry (and per
 * redaction) however many clients get it: with hundreds of clients the
 * JSON and its bytes are the cost, not the sends.
 */
class FrameCache {
  private readonly frames = new WeakMap<FeedEntry, { summary: ExecutionSummary; plain?: Buffer; redacted?: Buffer }>();

  /** The frame of `entry` for this caller, or undefined when its execution does not pass the filter. */
  event(entry: FeedEntry, principal: ApiPrincipal, filter: ExecutionFilter): Buffer | undefined {
    let made = this.frames.get(entry);
    if (!made) this.frames.set(entry, (made = { summary: toSummary(entry.execution) }));
    if (!matchesFilter(made.summary, filter)) return undefined;
    const key = readsSensitive(principal) ? 'plain' : 'redacted';
    let frame = made[key];
    if (!frame) {
      const message: StreamMessage = {
        type: 'event',
        cursor: entry.cursor,
        event: { kind: entry.event.kind, at: entry.event.at, execution_id: entry.event.execution_id },
        execution: forCaller(principal, made.summary),
      };
      frame = made[key] = Buffer.from(JSON.stringify(message));
    }
    return frame;
  }
}

/** Resolves when the socket's buffer has been written out, or it closed. */
function drained(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** The event cursor to resume after: `<boot>:<n>`. A well-formed cursor of another process is a gap, not an error. */
function parseCursor(query: URLSearchParams): string | undefined {
  const values = query.getAll('cursor').filter((value) => value !== '');
  if (values.length > 1) throw new BadRequestError('cursor', `cursor given ${values.length} times (once at most)`);
  const cursor = values[0];
  if (cursor !== undefined && !/^[A-Za-z0-9_-]{1,64}:\d{1,15}$/.test(cursor)) throw new BadRequestError('cursor', `invalid cursor "${cursor}" (an event cursor <boot>:<n> from the feed)`);
  return cursor;
}

function sequence(cursor: string): number {
  return Number(cursor.slice(cursor.lastIndexOf(':') + 1));
}

function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (!header) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The caller, from `Authorization: Bearer` or else the `cafkit.bearer.<token>` subprotocol. */
function authenticate(auth: ApiAuth, req: IncomingMessage, offered: readonly string[]): ApiPrincipal | undefined {
  if (req.headers.authorization !== undefined) return auth.check(req.headers.authorization);
  const bearer = offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (bearer !== undefined) return auth.checkToken(bearer.slice(BEARER_SUBPROTOCOL_PREFIX.length));
  return auth.check(undefined);
}

/** Never echo the token subprotocol back: answer with the feed's own. */
function chooseProtocol(protocols: Set<string>): string | false {
  return protocols.has(STREAM_SUBPROTOCOL) ? STREAM_SUBPROTOCOL : false;
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 405: 'Method Not Allowed', 503: 'Service Unavailable' };

/** Answers the upgrade request with a plain HTTP error and closes the socket: no WebSocket is made. */
function refuse(socket: Duplex, status: number, error: string, message: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error, message });
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
