import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { ChannelTls } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { tlsConnectOptions } from './channel.js';

/**
 * The keep-alive agent a channel sends its requests through: for an
 * `https:` URL, one carrying the channel's TLS options (verification on
 * unless `insecure`); for `http:`, a plain one (and a warning when TLS files
 * were configured, since they go unused). A client key that does not
 * decrypt with the passphrase fails here, at start, naming the channel.
 *
 * @example
 * const agent = channelAgent('http', new URL(config.url), config.tls, log, { maxSockets: 8 });
 */
export function channelAgent(channel: string, url: URL, tlsConfig: ChannelTls, log: Log, options: http.AgentOptions = {}): http.Agent {
  if (url.protocol === 'http:') {
    if (tlsConfig.ca || tlsConfig.cert) log.warn(`alerting.${channel}.tls is ignored: the url is http:, not https:`, { channel, host: url.host });
    return new http.Agent({ keepAlive: true, ...options });
  }
  const tlsOptions = tlsConnectOptions(channel, tlsConfig, url.hostname.replace(/^\[|\]$/g, ''), log);
  if (tlsOptions.cert || tlsOptions.key) {
    try {
      tls.createSecureContext(tlsOptions);
    } catch (error) {
      const hint = /bad decrypt/.test((error as Error).message) ? ' (the key does not decrypt with tls.passphrase)' : '';
      throw new Error(`alerting.${channel}.tls: the client certificate or key is not usable: ${(error as Error).message}${hint}`);
    }
  }
  return new https.Agent({ keepAlive: true, ...options, ...tlsOptions });
}

/** One HTTP(S) exchange, as {@link sendRequest} makes it. */
export interface OneRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** An `https.Agent` (carrying the TLS options) for `https:`, an `http.Agent` for `http:`. */
  agent: http.Agent;
  /** Covers everything: connect, TLS handshake, sending, and the whole answer. */
  timeoutMs: number;
  /** Aborts the exchange early (the caller's own deadline). */
  signal?: AbortSignal;
  /** Body bytes kept; the rest is read and dropped, so the connection can be reused. Default 64 KiB. */
  maxBodyBytes?: number;
}

/** What came back: the status, the headers, and the body (up to `maxBodyBytes`). */
export interface OneResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body was longer than `maxBodyBytes`. */
  truncated: boolean;
}

/**
 * Sends one request on node:http / node:https and resolves once the whole
 * answer has arrived, whatever its status; redirects are not followed. It
 * rejects on a network or TLS error, on `signal`, and when `timeoutMs` passes
 * first, so a server that accepts and never answers cannot hold the caller.
 * Errors name neither the query nor the headers (they may hold secrets).
 *
 * @example
 * const agent = new https.Agent({ keepAlive: true, ...tlsConnectOptions('http', tls, url.hostname, log) });
 * const res = await sendRequest({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, agent, timeoutMs: 10_000 });
 * if (res.status >= 300) throw new Error(`answered ${res.status}`);
 */
export function sendRequest(request: OneRequest): Promise<OneResponse> {
  const { url, timeoutMs, signal } = request;
  const maxBodyBytes = request.maxBodyBytes ?? 64 * 1024;
  const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
  const headers: Record<string, string | number> = { ...request.headers };
  if (body !== undefined) headers['content-length'] = body.length;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<OneResponse>((resolve, reject) => {
    let settled = false;
    // Assigned below; an agent can fail (a key that does not decrypt) while the request is being made.
    let req: http.ClientRequest | undefined;
    const finish = (error: Error | undefined, response?: OneResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        req?.destroy();
        reject(error);
      } else resolve(response!);
    };
    const onAbort = () => finish(new Error(`aborted: ${describeReason(signal?.reason)}`));
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      req = client.request(
        {
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: request.method,
          headers,
          agent: request.agent,
          auth: url.username ? `${safeDecode(url.username)}:${safeDecode(url.password)}` : undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          let truncated = false;
          res.on('data', (chunk: Buffer) => {
            if (kept >= maxBodyBytes) {
              truncated = true;
              return;
            }
            const part = chunk.subarray(0, maxBodyBytes - kept);
            if (part.length < chunk.length) truncated = true;
            chunks.push(part);
            kept += part.length;
          });
          res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks), truncated }));
          res.on('error', (error) => finish(error));
          res.on('aborted', () => finish(new Error('the answer was cut off')));
        },
      );
    } catch (error) {
      // An agent that cannot even start a connection throws here.
      return finish(error as Error);
    }
    req.on('error', (error) => finish(error));
    if (signal) {
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }
    req.end(body);
  });
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? 'aborted');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
