import type http from 'node:http';
import { ErrorCode, LogLevel, WebClient, type FetchFunction, type Logger } from '@slack/web-api';
import type { ActivityRecord, ActivityStatus } from '../activity/record.js';
import type { ActivitySink } from '../activity/sink.js';
import type { SlackChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { registerSecret, scrub } from '../log/redact.js';
import { activityText, finalRecords } from './channel.js';
import { channelAgent, sendRequest } from './http-request.js';
import { activityTitle, renderText } from './render.js';

/** Slack's named attachment colours, by how the execution ended. */
const STATUS_COLOUR: Partial<Record<ActivityStatus, string>> = { succeeded: 'good', timed_out: 'warning', failed: 'danger', dead_lettered: 'danger' };

/** The `chat.postMessage` arguments {@link slackMessage} builds. */
export interface SlackMessage {
  channel: string;
  /** The notification and fallback line: the activity's title. */
  text: string;
  attachments: [{ color: string; pretext?: string; text: string; fallback: string; ts: string }];
}

/** The longest Slack `Retry-After` obeyed (s); Slack's own are seconds to a minute. */
export const SLACK_MAX_RETRY_AFTER_S = 300;

/**
 * Slack's own escaping (`&`, `<`, `>`), so text we render (an error message,
 * a step output) shows as written instead of being read as a link or a
 * mention. `body_intro`, `body_end` and `pretext` are not escaped: they are
 * the operator's, and may use Slack markup on purpose (`<!here>`).
 */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The message posted for `record`: the title as `text`, and one attachment
 * coloured `text_color` or by status (good, warning, danger) carrying the
 * `pretext` (when set) and `body_intro` + the activity + `body_end`, where
 * the activity is the readable rendering, or with `base64` the base64 of the
 * signed JSON.
 *
 * @example
 * await client.chat.postMessage(slackMessage(config, event.record));
 */
export function slackMessage(config: SlackChannel, record: ActivityRecord): SlackMessage {
  const title = activityTitle(record);
  const activity = config.base64 ? activityText(record, true) : escapeSlack(renderText(record));
  const color = config.text_color ? (config.text_color.startsWith('#') ? config.text_color : `#${config.text_color}`) : (STATUS_COLOUR[record.status] ?? '#808080');
  const ended = Date.parse(record.ended_at ?? record.received_at);
  return {
    channel: config.channel_id,
    text: escapeSlack(title),
    attachments: [{
      color,
      ...(config.pretext ? { pretext: config.pretext } : {}),
      text: `${config.body_intro}${activity}${config.body_end}`,
      fallback: title,
      ts: String(Math.floor(ended / 1000)),
    }],
  };
}

/**
 * The Slack channel (`alerting.slack`): each final activity (of the
 * `statuses` given, all by default) is posted with `chat.postMessage` to
 * `channel_id` through `@slack/web-api`, as {@link slackMessage} builds it.
 *
 * Failures throw, naming the Slack error code (`invalid_auth`,
 * `channel_not_found`, `not_in_channel`...), never the token, and the
 * reporter retries. The client itself never retries: one retry policy (the
 * reporter's) is enough, and a nested one would hold a delivery far past
 * `timeout_ms`. A rate-limited call (HTTP 429) throws too, and the sink
 * then sends nothing before Slack's `Retry-After` has passed, whatever the
 * reporter's backoff: the next delivery waits out the rest first.
 *
 * `url` may point at a proxy or a test double; `tls` gives its CA and a
 * client certificate (requests go through node:https with those options,
 * as `@slack/web-api` 7+ only takes a `fetch` function). `debug` (Lope's
 * `debug_flag`) logs the client's requests at debug level. Both tokens are
 * registered as secrets. `app_level_token` is accepted for compatibility
 * with Lope's configuration and unused: posting needs only the bot token.
 *
 * @example
 * const sink = createSlackSink(SlackChannelSchema.parse({
 *   enable: true, oauth_token: process.env.SLACK_BOT_TOKEN, channel_id: 'C0123456789', statuses: ['failed', 'timed_out'],
 * }), { log, home });
 */
export function createSlackSink(config: SlackChannel, deps: { log: Log; home: string }): ActivitySink & { close(): Promise<void> } {
  registerSecret(config.oauth_token);
  registerSecret(config.app_level_token);
  const base = new URL(config.url);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new Error(`alerting.slack.url: ${base.protocol} is not https: or http:`);
  const where = `${base.protocol}//${base.host}${base.pathname}`;
  const agent = channelAgent('slack', base, config.tls, deps.log);
  const client = new WebClient(config.oauth_token, {
    slackApiUrl: config.url,
    fetch: nodeFetch(agent, config.timeout_ms),
    timeout: config.timeout_ms,
    logger: bridgeLogger(deps.log, config.debug ? LogLevel.DEBUG : LogLevel.WARN),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    // Only ever the configured base: a method name can never redirect the token elsewhere.
    allowAbsoluteUrls: false,
  });
  /** Epoch ms before which nothing is sent: Slack's last `Retry-After`. */
  let quietUntil = 0;
  const closing = new AbortController();

  return {
    name: 'slack',
    accepts: finalRecords(config.statuses),
    async deliver(event) {
      const record = event.record;
      // Non-final events carry nothing to post; accepts() keeps them away.
      if (!record) return;
      if (closing.signal.aborted) throw new Error(`slack: the sink towards ${where} is closed`);
      await waitUntil(quietUntil, closing.signal);
      try {
        await client.chat.postMessage(slackMessage(config, record));
      } catch (error) {
        const coded = error as { code?: string; retryAfter?: number; data?: { error?: string }; statusCode?: number; original?: Error; message?: string };
        if (coded.code === ErrorCode.RateLimitedError) {
          const asked = coded.retryAfter ?? 1;
          // A broken or hostile server must not silence the channel for days: the wait is capped.
          const seconds = Number.isFinite(asked) && asked > 0 ? Math.min(asked, SLACK_MAX_RETRY_AFTER_S) : 1;
          quietUntil = Math.max(quietUntil, Date.now() + seconds * 1000);
          throw new Error(`slack: ${where} is rate limiting chat.postMessage; nothing more is sent for ${seconds} s (Retry-After${seconds === asked ? '' : `: ${asked} s, capped`})`);
        }
        if (coded.code === ErrorCode.PlatformError) throw new Error(`slack: chat.postMessage to ${config.channel_id} at ${where} refused: ${coded.data?.error ?? 'unknown error'}`);
        if (coded.code === ErrorCode.HTTPError) throw new Error(`slack: chat.postMessage at ${where} answered HTTP ${coded.statusCode}`);
        const cause = coded.code === ErrorCode.RequestError && coded.original ? coded.original.message : (coded.message ?? String(error));
        throw new Error(`slack: chat.postMessage at ${where} failed: ${scrub(cause)}`);
      }
    },
    async close() {
      closing.abort(new Error('slack sink closed'));
      agent.destroy();
    },
  };
}

/** Resolves at `epochMs` (at once if past); rejects when `signal` aborts first. */
function waitUntil(epochMs: number, signal: AbortSignal): Promise<void> {
  const ms = epochMs - Date.now();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    // Like the reporter's own pauses: waiting alone must not keep a process alive.
    timer.unref();
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('slack: the sink was closed while waiting out a rate limit'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The `fetch` WebClient calls, on node:http(s) with our agent (its TLS
 * options: a private CA, a client certificate). Only string bodies:
 * `chat.postMessage` never uploads files.
 */
function nodeFetch(agent: http.Agent, timeoutMs: number): FetchFunction {
  return async (input, init = {}) => {
    if (init.body !== undefined && typeof init.body !== 'string') throw new Error('multipart bodies are not supported by the slack sink');
    const url = new URL(String(input));
    const response = await sendRequest({ url, method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body, agent, timeoutMs, signal: init.signal, maxBodyBytes: 4 * 1024 * 1024 });
    const text = response.body.toString('utf8');
    const headers = Object.entries(response.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)] as [string, string]);
    const result: Awaited<ReturnType<FetchFunction>> = {
      ok: response.status >= 200 && response.status < 300,
      status: response.status,
      statusText: response.statusText,
      url: url.href,
      headers: {
        get: (name: string) => headers.find(([key]) => key === name.toLowerCase())?.[1] ?? null,
        entries: () => headers,
      },
      arrayBuffer: async () => response.body.buffer.slice(response.body.byteOffset, response.body.byteOffset + response.body.byteLength) as ArrayBuffer,
      json: async () => JSON.parse(text),
      text: async () => text,
    };
    return result;
  };
}

const LEVELS = [LogLevel.ERROR, LogLevel.WARN, LogLevel.INFO, LogLevel.DEBUG];

/** WebClient's logger, writing to our Log (secrets scrubbed) from `level` up. */
function bridgeLogger(log: Log, initial: LogLevel): Logger {
  let level = initial;
  const emit = (which: LogLevel, parts: unknown[]) => {
    // Every failed request also throws to the reporter, which logs it (throttled): the client's own line is detail.
    if (which === LogLevel.WARN && parts[0] === 'http request failed') which = LogLevel.DEBUG;
    if (LEVELS.indexOf(which) > LEVELS.indexOf(level)) return;
    const message = scrub(parts.map(describePart).join(' '));
    const meta = { channel: 'slack' };
    if (which === LogLevel.DEBUG) log.debug(message, meta);
    else if (which === LogLevel.INFO) log.info(message, meta);
    else if (which === LogLevel.WARN) log.warn(message, meta);
    else log.error(message, meta);
  };
  return {
    debug: (...parts) => emit(LogLevel.DEBUG, parts),
    info: (...parts) => emit(LogLevel.INFO, parts),
    warn: (...parts) => emit(LogLevel.WARN, parts),
    error: (...parts) => emit(LogLevel.ERROR, parts),
    setLevel: (next) => (level = next),
    getLevel: () => level,
    setName: () => {},
  };
}

function describePart(part: unknown): string {
  if (typeof part === 'string') return part;
  if (part instanceof Error) return part.message;
  try {
    return JSON.stringify(part) ?? String(part);
  } catch {
    return String(part);
  }
}
