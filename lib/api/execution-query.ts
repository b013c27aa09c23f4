import { ActivityStatus } from '../activity/record.js';
import type { ExecutionRecordFilter } from '../activity/sql-query.js';
import type { ExecutionSummary } from './schemas.js';

/** A query parameter the API cannot use: answered 400, naming the parameter. */
export class BadRequestError extends Error {
  override name = 'BadRequestError';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

/** The filters of `GET /executions` and `WS /executions/stream`. */
export type ExecutionFilter = ExecutionRecordFilter;

/** What `GET /executions` asks for: filters, page size, and where the page starts. */
export interface ListQuery {
  filter: ExecutionFilter;
  limit: number;
  /** Executions older than this execution id (from the cursor); the newest when absent. */
  before: string | undefined;
}

/** The filter parameters, shared by the list and the live feed. */
export const FILTER_PARAMETERS = ['status', 'destination', 'action', 'processor', 'incident', 'since', 'until'] as const;
/** Page size bounds of `GET /executions`. */
export const LIMIT = { min: 1, max: 500, default: 50 } as const;

const STATUSES = ActivityStatus.options;

/**
 * Reads the filters from a query string. `status` may repeat or hold a comma
 * list; the others may appear once. An empty value counts as absent.
 * Parameters other than the filters and `allowed` are refused, so a typo
 * (`?statuss=failed`) does not silently list everything.
 *
 * @throws {BadRequestError} naming the parameter at fault.
 * @example
 * parseExecutionFilter(new URLSearchParams('status=failed,timed_out&incident=2095'));
 * // { statuses: ['failed', 'timed_out'], incident: 2095 }
 */
export function parseExecutionFilter(params: URLSearchParams, allowed: readonly string[] = []): ExecutionFilter {
  for (const key of new Set(params.keys())) {
    if (!(FILTER_PARAMETERS as readonly string[]).includes(key) && !allowed.includes(key)) {
      throw new BadRequestError(key, `unknown parameter ${key} (known: ${[...FILTER_PARAMETERS, ...allowed].join(', ')})`);
    }
  }
  const filter: ExecutionFilter = {};
  const statuses = params.getAll('status').flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const status of statuses) {
    if (!(STATUSES as readonly string[]).includes(status)) throw new BadRequestError('status', `invalid status "${status}" (one of ${STATUSES.join(', ')})`);
  }
  if (statuses.length) filter.statuses = [...new Set(statuses)] as ActivityStatus[];
  const destination = single(params, 'destination');
  if (destination !== undefined) filter.destination = destination;
  const action = single(params, 'action');
  if (action !== undefined) filter.action = action;
  const processor = single(params, 'processor');
  if (processor !== undefined) filter.processor = processor;
  const incident = single(params, 'incident');
  if (incident !== undefined) {
    if (!/^\d{1,15}$/.test(incident)) throw new BadRequestError('incident', `invalid incident "${incident}" (an incident id: a whole number)`);
    filter.incident = Number(incident);
  }
  const since = time(params, 'since');
  if (since !== undefined) filter.since = since;
  const until = time(params, 'until');
  if (until !== undefined) filter.until = until;
  if (since !== undefined && until !== undefined && since > until) throw new BadRequestError('until', `until (${until}) is before since (${since})`);
  return filter;
}

/**
 * Reads the query of `GET /executions`: the filters, `limit` (1..500,
 * default 50) and `cursor` (a `next_cursor` of an earlier page).
 *
 * @throws {BadRequestError} naming the parameter at fault.
 * @example
 * const { filter, limit, before } = parseListQuery(url.searchParams);
 */
export function parseListQuery(params: URLSearchParams): ListQuery {
  const filter = parseExecutionFilter(params, ['limit', 'cursor']);
  const limitText = single(params, 'limit');
  let limit: number = LIMIT.default;
  if (limitText !== undefined) {
    if (!/^\d{1,4}$/.test(limitText) || Number(limitText) < LIMIT.min || Number(limitText) > LIMIT.max) {
      throw new BadRequestError('limit', `invalid limit "${limitText}" (a whole number from ${LIMIT.min} to ${LIMIT.max})`);
    }
    limit = Number(limitText);
  }
  const cursor = single(params, 'cursor');
  return { filter, limit, before: cursor === undefined ? undefined : decodeCursor(cursor) };
}

/**
 * The opaque page cursor for "executions older than this one". Opaque so
 * that what it holds can change without breaking clients.
 *
 * @example
 * encodeCursor('0190a6f2-7c1e-7000-8000-000000000000'); // 'eyJ2IjoxLCJiIjoiMDE5…'
 */
export function encodeCursor(executionId: string): string {
  return Buffer.from(JSON.stringify({ v: 1, b: executionId }), 'utf8').toString('base64url');
}

/**
 * The execution id a cursor of {@link encodeCursor} holds.
 *
 * @throws {BadRequestError} the cursor was not made by this API.
 */
export function decodeCursor(cursor: string): string {
  let value: unknown;
  try {
    value = /^[A-Za-z0-9_-]{1,400}$/.test(cursor) ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
  } catch {
    value = undefined;
  }
  const b = (value as { v?: unknown; b?: unknown } | undefined)?.b;
  if ((value as { v?: unknown } | undefined)?.v !== 1 || typeof b !== 'string' || !/^[0-9a-f-]{1,64}$/i.test(b)) {
    throw new BadRequestError('cursor', 'invalid cursor (pass next_cursor of an earlier page unchanged)');
  }
  return b;
}

/**
 * Whether an execution passes the filters: the same test as the SQL query,
 * for executions held in memory (the cache, the live feed).
 *
 * @example
 * cache.newestFirst().map(toSummary).filter((s) => matchesFilter(s, filter));
 */
export function matchesFilter(execution: ExecutionSummary, filter: ExecutionFilter): boolean {
  if (filter.statuses?.length && !filter.statuses.includes(execution.status)) return false;
  if (filter.destination !== undefined && execution.destination !== filter.destination) return false;
  if (filter.action !== undefined && execution.action_name !== filter.action) return false;
  if (filter.processor !== undefined && execution.processor !== filter.processor) return false;
  if (filter.incident !== undefined && execution.incident_id !== filter.incident) return false;
  if (filter.since !== undefined && execution.received_at < filter.since) return false;
  if (filter.until !== undefined && execution.received_at >= filter.until) return false;
  return true;
}

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name).filter((v) => v !== '');
  if (values.length > 1) throw new BadRequestError(name, `${name} given ${values.length} times (once at most)`);
  return values[0];
}

/** An ISO 8601 time, normalised to UTC with milliseconds so it compares as text with the stored times. */
function time(params: URLSearchParams, name: string): string | undefined {
  const text = single(params, name);
  if (text === undefined) return undefined;
  // A date-time with a zone, or a bare date (midnight UTC): what Date.parse reads the same everywhere.
  const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new BadRequestError(name, `invalid ${name} "${text}" (an ISO 8601 time such as 2024-05-01T12:00:00Z)`);
  return new Date(ms).toISOString();
}
