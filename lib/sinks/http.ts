import type { ActivityEvent, ActivityRecord } from '../activity/record.js';
import type { ActivitySink } from '../activity/sink.js';
import type { HttpChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { registerSecret, scrub } from '../log/redact.js';
import { activityText, finalRecords } from './channel.js';
import { channelAgent, sendRequest, type OneResponse } from './http-request.js';

/** Most requests in flight when `workers` is 0 or less (Lope's default for `max_number_alert_workers`). */
export const DEFAULT_HTTP_WORKERS = 200;

/** Header names whose values are credentials: registered as secrets, so they never reach a log line or an error. */
const SECRET_HEADER = /authorization|token|secret|password|api[-_]?key|cookie|auth/i;

/** What {@link buildWebhookRequest} makes of one record. */
export interface WebhookRequest {
  method: HttpChannel['method'];
  /** The configured URL with the configured query parameters appended to its own. */
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/**
 * The request the webhook sends for `record`: the configured URL, its own
 * query kept byte for byte and the configured `query` appended (URL-encoded,
 * `{{ACTIVITY}}` in a value replaced by the activity), the configured headers
 * as given, and with `use_body` the body `body_intro` + activity + `body_end`.
 * The body is `application/json` when it is the bare activity JSON (no intro,
 * no end, no base64), `text/plain` otherwise, unless a configured
 * `Content-Type` header says else.
 *
 * @example
 * const { url, body } = buildWebhookRequest(config, event.record);
 * // url.searchParams.get('activity') === activityText(event.record, config.base64)
 */
export function buildWebhookRequest(config: HttpChannel, record: ActivityRecord): WebhookRequest {
  let activity: string | undefined;
  const text = () => (activity ??= activityText(record, config.base64));
  const url = new URL(config.url);
  const extra = new URLSearchParams();
  for (const [name, value] of Object.entries(config.query)) extra.append(name, value.includes('{{ACTIVITY}}') ? value.split('{{ACTIVITY}}').join(text()) : value);
  const added = extra.toString();
  // Appended as text, so the URL's own parameters keep their exact encoding.
  if (added) url.search = url.search ? `${url.search}&${added}` : `?${added}`;
  const headers = { ...config.headers };
  let body: string | undefined;
  if (config.use_body) {
    body = `${config.body_intro}${text()}${config.body_end}`;
    const bareJson = config.body_intro === '' && config.body_end === '' && !config.base64;
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = bareJson ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
    }
  }
  return { method: config.method, url, headers, body };
}

/**
 * A short, one-line, secret-free excerpt of an answer's body, for an error
 * message: registered secrets scrubbed (a server may echo the token it
 * refused), whitespace collapsed, cut at `max` characters.
 */
export function bodyExcerpt(body: Buffer | string, max = 200): string {
  const text = scrub(Buffer.isBuffer(body) ? body.toString('utf8') : body).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The webhook channel (`alerting.http`): each final activity (those of the
 * `statuses` given, all by default) is sent to `url` with node:http(s), as
 * {@link buildWebhookRequest} builds it. A 2xx answer is success, and with
 * `success_pattern` only a 2xx whose body matches it (a 2xx that says
 * "error" is a failure); anything else, redirects included (never
 * followed), makes `deliver` throw with the status and an excerpt of the
 * body, and the reporter retries. `timeout_ms` bounds each request as a
 * whole, connect to last byte.
 *
 * With `workers` above 1 (Lope's `max_number_alert_workers`; 0 or less
 * means 200) the sink takes batches and sends up to `workers` requests at
 * once, so order is not kept; when some of a batch fail, the batch throws
 * and, retried, sends only those that have not succeeded yet. With
 * `workers: 1` events go one at a time, in order.
 *
 * TLS: verification is always on (unless `tls.insecure`); `tls.ca` for a
 * private CA, `tls.cert`/`tls.key`/`tls.passphrase` for a client
 * certificate. The values of credential-like headers (Authorization,
 * X-Api-Key...) are registered as secrets.
 *
 * @example
 * const sink = createHttpSink(HttpChannelSchema.parse({
 *   enable: true, url: 'https://hooks.example.com/cafkit', use_body: true,
 *   headers: { Authorization: `Bearer ${token}` }, tls: { ca: '/etc/cafkit/ca.pem' },
 * }), { log, home });
 * const reporter = new Reporter([sink], { spillDir, log });
 */
export function createHttpSink(config: HttpChannel, deps: { log: Log; home: string }): ActivitySink & { close(): Promise<void> } {
  const url = new URL(config.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`alerting.http.url: ${url.protocol} is not http: or https:`);
  // Where errors say the request went: no credentials, no query (either may carry a secret).
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  registerSecret(url.password);
  registerSecret(safeDecode(url.password));
  for (const [name, value] of Object.entries(config.headers)) if (SECRET_HEADER.test(name)) registerSecret(value);
  for (const [name, value] of Object.entries(config.query)) if (SECRET_HEADER.test(name) && !value.includes('{{ACTIVITY}}')) registerSecret(value);
  let pattern: RegExp | undefined;
  if (config.success_pattern !== undefined) {
    try {
      pattern = new RegExp(config.success_pattern);
    } catch (error) {
      throw new Error(`alerting.http.success_pattern: ${(error as Error).message}`);
    }
  }
  const workers = config.workers <= 0 ? DEFAULT_HTTP_WORKERS : config.workers;
  const agent = channelAgent('http', url, config.tls, deps.log, { maxSockets: workers });
  let closed = false;

  async function send(record: ActivityRecord): Promise<void> {
    if (closed) throw new Error(`http: the sink towards ${where} is closed`);
    const request = buildWebhookRequest(config, record);
    let response: OneResponse;
    try {
      response = await sendRequest({ ...request, agent, timeoutMs: config.timeout_ms, maxBodyBytes: 1024 * 1024 });
    } catch (error) {
      throw new Error(`http: ${request.method} ${where} failed: ${scrub((error as Error).message ?? String(error))}`);
    }
    const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    if (response.status < 200 || response.status > 299) {
      const location = response.status >= 300 && response.status < 400 && response.headers.location ? ` (redirect to ${bodyExcerpt(String(response.headers.location).split('?')[0]!)} not followed)` : '';
      throw new Error(`http: ${request.method} ${where} answered ${status}${location}: ${bodyExcerpt(response.body) || '(empty body)'}`);
    }
    if (pattern && !pattern.test(response.body.toString('utf8'))) {
      throw new Error(`http: ${request.method} ${where} answered ${status} but the body does not match success_pattern: ${bodyExcerpt(response.body) || '(empty body)'}`);
    }
  }

  // Events of a failed batch that did get through: the retry of that batch skips them.
  const sentOfBatch = new WeakSet<ActivityEvent>();

  async function deliverBatch(events: readonly ActivityEvent[]): Promise<void> {
    const pending = events.filter((event) => event.record !== undefined && !sentOfBatch.has(event));
    const failures: Error[] = [];
    let next = 0;
    const worker = async () => {
      for (let event = pending[next++]; event !== undefined; event = pending[next++]) {
        try {
          await send(event.record!);
          sentOfBatch.add(event);
        } catch (error) {
          failures.push(error as Error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(workers, pending.length) }, worker));
    if (failures.length > 0) {
      throw new Error(`http: ${failures.length} of ${pending.length} requests failed (the others are not sent again): ${failures[0]!.message}`);
    }
    // Forget them, so the same event objects reported again are sent again.
    for (const event of events) sentOfBatch.delete(event);
  }

  return {
    name: 'http',
    accepts: finalRecords(config.statuses),
    async deliver(event) {
      // Non-final events carry nothing to send; accepts() keeps them away.
      if (event.record) await send(event.record);
    },
    ...(workers > 1 ? { deliverBatch, maxBatch: Math.max(workers, 500) } : {}),
    async close() {
      closed = true;
      agent.destroy();
    },
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
