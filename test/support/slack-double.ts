// Test support: a stand-in for Slack's Web API `chat.postMessage` on
// loopback HTTPS (dev server certificate), checking what Slack checks:
// POST only (405 otherwise), a known xoxb-/xoxp- token from
// `Authorization: Bearer` or the `token` form field (`not_authed`,
// `invalid_auth`), a form-urlencoded (attachments as a JSON string) or JSON
// body, a known `channel` (`channel_not_found`), one of text, attachments or
// blocks (`no_text`), text up to 40000 characters (`msg_too_long`). Errors
// come as HTTP 200 `{ok:false,error}`, as Slack sends them; a rate limit
// answers HTTP 429 with `Retry-After`.
//
//   const slack = await startSlackDouble({ tokens: ['xoxb-1'], channels: ['C1'] });
//   after(() => slack.stop());
//   slack.rateLimit = { calls: 1, retryAfterSec: 1 };   // the next call gets a 429
import https from 'node:https';
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { cert } from './signed-activities.js';

/** A message Slack accepted. */
export interface PostedMessage {
  token: string;
  channel: string;
  text: string | undefined;
  attachments: Array<Record<string, unknown>> | undefined;
  blocks: unknown;
  ts: string;
  /** How it came: form or json. */
  encoding: 'form' | 'json';
}

/** Every request, accepted or not. */
export interface Arrival {
  at: number;
  method: string;
  path: string;
  /** HTTP status answered, and Slack's `error` when not ok. */
  status: number;
  error: string | undefined;
}

export interface SlackDouble {
  /** Base URL to configure as `url`: `https://127.0.0.1:<port>/api/`. */
  readonly url: string;
  readonly messages: PostedMessage[];
  readonly arrivals: Arrival[];
  /** The next `calls` requests get HTTP 429 with this `Retry-After` (seconds). */
  rateLimit: { calls: number; retryAfterSec: number };
  /** Never answer (for timeouts) while true. */
  hang: boolean;
  stop(): Promise<void>;
}

export interface SlackDoubleOptions {
  tokens: string[];
  channels: string[];
}

const MAX_TEXT = 40_000;

export async function startSlackDouble(options: SlackDoubleOptions): Promise<SlackDouble> {
  for (const token of options.tokens) if (!/^xox[bp]-/.test(token)) throw new Error(`the Slack double takes bot (xoxb-) or user (xoxp-) tokens, not ${token.slice(0, 5)}…`);
  const tokens = new Set(options.tokens);
  const channels = new Set(options.channels);
  const hanging = new Set<ServerResponse>();
  let seq = 0;
  const server = https.createServer({ cert: readFileSync(cert('broker.pem')), key: readFileSync(cert('broker-key.pem')) });
  const double: SlackDouble = {
    url: '',
    messages: [],
    arrivals: [],
    rateLimit: { calls: 0, retryAfterSec: 1 },
    hang: false,
    async stop() {
      for (const res of hanging) res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };

  server.on('request', (req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'https://slack.invalid').pathname;
      const reply = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
        double.arrivals.push({ at, method: req.method ?? '', path, status, error: body.ok === false ? String(body.error) : undefined });
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(body));
      };
      if (double.hang) {
        hanging.add(res);
        return;
      }
      if (req.method !== 'POST') return reply(405, { ok: false, error: 'method_not_allowed' }, { allow: 'POST' });
      if (path !== '/api/chat.postMessage') return reply(404, { ok: false, error: 'unknown_method' });
      if (double.rateLimit.calls > 0) {
        double.rateLimit.calls--;
        return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(double.rateLimit.retryAfterSec) });
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      let fields: Record<string, unknown>;
      let encoding: PostedMessage['encoding'];
      if (type === 'application/x-www-form-urlencoded') {
        fields = Object.fromEntries(new URLSearchParams(raw));
        encoding = 'form';
      } else if (type === 'application/json') {
        try {
          fields = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          return reply(200, { ok: false, error: 'invalid_json' });
        }
        encoding = 'json';
      } else return reply(200, { ok: false, error: 'invalid_form_data' });
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      // A JSON body must carry the token in the header, as on Slack.
      const token = bearer ?? (encoding === 'form' && typeof fields.token === 'string' ? fields.token : undefined);
      if (!token) return reply(200, { ok: false, error: 'not_authed' });
      if (!tokens.has(token)) return reply(200, { ok: false, error: 'invalid_auth' });
      const channel = typeof fields.channel === 'string' ? fields.channel : undefined;
      if (!channel || !channels.has(channel)) return reply(200, { ok: false, error: 'channel_not_found' });
      let attachments: PostedMessage['attachments'];
      if (fields.attachments !== undefined) {
        try {
          attachments = (typeof fields.attachments === 'string' ? JSON.parse(fields.attachments) : fields.attachments) as PostedMessage['attachments'];
        } catch {
          return reply(200, { ok: false, error: 'invalid_attachments' });
        }
        if (!Array.isArray(attachments)) return reply(200, { ok: false, error: 'invalid_attachments' });
      }
      const text = typeof fields.text === 'string' && fields.text !== '' ? fields.text : undefined;
      const blocks = fields.blocks;
      if (text === undefined && !attachments?.length && !blocks) return reply(200, { ok: false, error: 'no_text' });
      if (text !== undefined && text.length > MAX_TEXT) return reply(200, { ok: false, error: 'msg_too_long' });
      const ts = `${Math.floor(at / 1000)}.${String(++seq).padStart(6, '0')}`;
      double.messages.push({ token, channel, text, attachments, blocks, ts, encoding });
      reply(200, { ok: true, channel, ts, message: { type: 'message', text: text ?? '', attachments, ts, bot_id: 'B0DOUBLE' } });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  Object.assign(double, { url: `https://127.0.0.1:${port}/api/` });
  return double;
}
