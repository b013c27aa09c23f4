import http from 'node:http';
import https from 'node:https';
import type { TheHiveChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { registerSecret, scrub } from '../log/redact.js';
import { tlsConnectOptions } from './channel.js';

/** The case fields the sink sends on creation (TheHive's InputCase, the subset used). */
export interface NewCase {
  title: string;
  description: string;
  severity: number;
  tlp: number;
  pap: number;
  tags: string[];
  flag?: boolean;
  startDate: number;
}

/** The task fields the sink sends on creation (TheHive's InputTask, the subset used). */
export interface NewTask {
  title: string;
  group?: string;
  description?: string;
  status: TaskStatus;
  flag?: boolean;
  startDate?: number;
}

/** TheHive 5's task statuses. */
export type TaskStatus = 'Waiting' | 'InProgress' | 'Completed' | 'Cancel';

/** TheHive 5's built-in closed case statuses. */
export type ClosedCaseStatus = 'TruePositive' | 'FalsePositive' | 'Indeterminate' | 'Other' | 'Duplicated';

/** A case update (TheHive's InputUpdateCase, the subset used). */
export interface CaseUpdate {
  title?: string;
  description?: string;
  flag?: boolean;
  status?: ClosedCaseStatus;
  impactStatus?: 'NoImpact' | 'WithImpact' | 'NotApplicable';
  summary?: string;
}

/** A case as a search returns it (the fields the sink reads). */
export interface FoundCase {
  _id: string;
  status?: string;
  title?: string;
}

/** A task as a search returns it (the fields the sink reads). */
export interface FoundTask {
  _id: string;
  title: string;
  startDate?: number;
}

/** The case statuses of a case still open. */
export const OPEN_CASE_STATUSES: readonly string[] = ['New', 'InProgress'];

/** A call TheHive refused or that did not complete; the message names the call and the server, never the key. */
export class TheHiveError extends Error {
  constructor(
    message: string,
    /** HTTP status, when TheHive answered. */
    readonly status?: number,
  ) {
    super(scrub(message));
    this.name = 'TheHiveError';
  }
}

/**
 * The calls of TheHive 5's v1 API the sink makes, over one keep-alive
 * HTTPS agent: Bearer authentication, `X-Organisation` when configured,
 * JSON bodies, a deadline of `timeout_ms` per call. A non-2xx answer, a
 * timeout or a connection failure throws a {@link TheHiveError}.
 *
 * Plain `http:` is allowed only towards a loopback address: the API key
 * would otherwise cross the network in clear.
 *
 * @example
 * const api = new TheHiveApi(config, log);
 * const { _id } = await api.createCase({ title: 'cafkit: Add Note on incident 2095', description: '…', severity: 2, tlp: 2, pap: 2, tags: ['cafkit'], startDate: Date.now() });
 */
export class TheHiveApi {
  readonly server: string;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly config: TheHiveChannel,
    log: Log,
  ) {
    registerSecret(config.api_key);
    this.base = new URL(config.url);
    this.server = this.base.origin;
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    if (this.base.protocol === 'https:') {
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 1, ...tlsConnectOptions('thehive', config.tls, host, log) });
    } else if (this.base.protocol === 'http:' && isLoopback(host)) {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    } else {
      throw new TheHiveError(`alerting.thehive.url: ${this.server}: use https (the API key would cross the network in clear)`);
    }
    this.headers = { authorization: `Bearer ${config.api_key}`, accept: 'application/json' };
    if (config.organisation) this.headers['x-organisation'] = config.organisation;
  }

  createCase(input: NewCase): Promise<{ _id: string; number?: number }> {
    return this.call('POST', '/api/v1/case', input);
  }

  createTask(caseId: string, input: NewTask): Promise<{ _id: string }> {
    return this.call('POST', `/api/v1/case/${encodeURIComponent(caseId)}/task`, input);
  }

  addTaskLog(taskId: string, message: string, startDate?: number): Promise<unknown> {
    return this.call('POST', `/api/v1/task/${encodeURIComponent(taskId)}/log`, startDate === undefined ? { message } : { message, startDate });
  }

  updateTask(taskId: string, update: { status?: TaskStatus; flag?: boolean; endDate?: number }): Promise<unknown> {
    return this.call('PATCH', `/api/v1/task/${encodeURIComponent(taskId)}`, update);
  }

  updateCase(caseId: string, update: CaseUpdate): Promise<unknown> {
    return this.call('PATCH', `/api/v1/case/${encodeURIComponent(caseId)}`, update);
  }

  /** Cases carrying `tag` (thehive4py's `case.find` with an `Eq('tags', tag)` filter). */
  findCasesByTag(tag: string): Promise<FoundCase[]> {
    return this.call('POST', '/api/v1/query?name=cases', {
      query: [{ _name: 'listCase' }, { _name: 'filter', _eq: { _field: 'tags', _value: tag } }],
    });
  }

  /** The tasks of a case (thehive4py's `case.find_tasks`). */
  findCaseTasks(caseId: string): Promise<FoundTask[]> {
    return this.call('POST', '/api/v1/query?name=case-tasks', { query: [{ _name: 'getCase', idOrName: caseId }, { _name: 'tasks' }] });
  }

  close(): void {
    this.agent.destroy();
  }

  private call<T>(method: 'POST' | 'PATCH', path: string, body: unknown): Promise<T> {
    const url = new URL(this.base.pathname.replace(/\/+$/, '') + path, this.base);
    const what = `${method} ${url.pathname}${url.search}`;
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const send = url.protocol === 'https:' ? https.request : http.request;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (message: string, status?: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        reject(new TheHiveError(`thehive ${this.server}: ${what}: ${message}`, status));
      };
      const request = send(url, {
        method,
        agent: this.agent,
        headers: { ...this.headers, 'content-type': 'application/json', 'content-length': String(payload.length) },
      });
      // One deadline for the whole call (connect, TLS, answer), not only socket idleness.
      const timer = setTimeout(() => fail(`no answer within ${this.config.timeout_ms} ms`), this.config.timeout_ms);
      request.on('error', (error) => fail(error.message));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => fail(error.message));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          if (status < 200 || status >= 300) return fail(`${status} ${describeError(text)}`, status);
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (!text.trim()) return resolve(undefined as T);
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            settled = false;
            fail(`${status} with a body that is not JSON`);
          }
        });
      });
      request.end(payload);
    });
  }
}

/** TheHive's error body (`{"type":"AuthenticationError","message":"Authentication failure"}`), shortened. */
function describeError(text: string): string {
  try {
    const body = JSON.parse(text) as { type?: unknown; message?: unknown };
    if (typeof body.type === 'string' || typeof body.message === 'string') return [body.type, body.message].filter((x) => typeof x === 'string').join(': ').slice(0, 300);
  } catch {
    // not JSON: the start of the text says enough
  }
  return text.slice(0, 200).replace(/\s+/g, ' ').trim();
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
