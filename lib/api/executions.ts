import type { ServerResponse } from 'node:http';
import type { ActivityRecord } from '../activity/record.js';
import { findExecutionRecord, queryExecutionRecords } from '../activity/sql-query.js';
import { SqlActivityStore } from '../activity/sql-store.js';
import type { ActivitySystem } from '../activity/system.js';
import type { Log } from '../log/log.js';
import type { ExecutionCache, ExecutionState } from './execution-cache.js';
import { BadRequestError, encodeCursor, matchesFilter, parseListQuery, type ListQuery } from './execution-query.js';
import { forCaller, stateFromRecord, toDetail, toSummary } from './execution-view.js';
import type { ApiRoute } from './route.js';
import type { ExecutionList } from './schemas.js';
import { sendError, sendJson } from './respond.js';

/** Where executions come from: the cache (running and recent), and the first SQL store (everything finished). */
export interface ExecutionSources {
  cache: ExecutionCache;
  /** Absent when no SQL store is configured: then only the cache is listed. */
  store: SqlActivityStore | undefined;
}

/** The first SQL store of the activity system, if any. */
export function firstSqlStore(activity: ActivitySystem | undefined): SqlActivityStore | undefined {
  return activity?.stores.find((s): s is SqlActivityStore => s instanceof SqlActivityStore);
}

/**
 * Which view of an execution wins when both the cache and the store have
 * it: the cache (it follows the execution live, a re-run included), unless
 * the store holds a newer record than the cache has seen (another instance
 * re-ran it). Record ids are UUID v7, so "newer" is a string comparison.
 */
export function cacheWins(cached: ExecutionState, stored: ActivityRecord): boolean {
  return !cached.record || cached.record.id >= stored.id;
}

/**
 * One page of executions, newest first (by execution id, UUID v7), below
 * `query.before`: the cache's matching executions merged with the store's,
 * each execution once. Resolves to the page and whether older ones exist.
 *
 * A page ends at an execution id and the next starts strictly below it, so
 * executions arriving meanwhile (newer ids) and executions moving from the
 * cache to the store (same id) neither repeat nor leave a gap.
 *
 * @example
 * const { items, more } = await listExecutions({ cache, store }, parseListQuery(url.searchParams));
 */
export async function listExecutions(sources: ExecutionSources, query: ListQuery): Promise<{ items: ExecutionState[]; more: boolean }> {
  const { cache, store } = sources;
  const { filter, limit, before } = query;
  const stored: ExecutionState[] = [];
  /** Cached executions the store holds newer records of: the stored view replaces them. */
  const superseded = new Set<string>();
  if (store) {
    let below = before;
    // Rows the cache supersedes are skipped; read on until limit + 1 remain (one more says another page exists) or the store runs out.
    for (;;) {
      const want = limit + 1 - stored.length;
      const records = await queryExecutionRecords(store.connection, filter, below, want);
      for (const record of records) {
        const cached = cache.get(record.execution_id);
        if (cached && cacheWins(cached, record)) continue;
        if (cached) superseded.add(record.execution_id);
        stored.push(stateFromRecord(record));
      }
      if (records.length < want || stored.length > limit) break;
      below = records.at(-1)!.execution_id;
    }
  }
  const cached = cache
    .newestFirst()
    .filter((s) => (before === undefined || s.execution_id < before) && !superseded.has(s.execution_id) && matchesFilter(toSummary(s), filter));
  const merged = mergeNewestFirst(cached, stored);
  return { items: merged.slice(0, limit), more: merged.length > limit };
}

/**
 * Two lists of executions as one, newest (greatest execution id) first,
 * each execution once: where both have it, the first list's wins.
 *
 * @example
 * mergeNewestFirst(cachedStates, storedStates).slice(0, limit);
 */
export function mergeNewestFirst(preferred: readonly ExecutionState[], others: readonly ExecutionState[]): ExecutionState[] {
  const byId = new Map<string, ExecutionState>();
  for (const state of others) byId.set(state.execution_id, state);
  for (const state of preferred) byId.set(state.execution_id, state);
  return [...byId.values()].sort((a, b) => (a.execution_id < b.execution_id ? 1 : a.execution_id > b.execution_id ? -1 : 0));
}

/**
 * One execution, from the cache or the store (the newer view when both
 * have it), or `undefined`.
 *
 * @example
 * const state = await findExecution({ cache, store }, id);
 */
export async function findExecution(sources: ExecutionSources, executionId: string): Promise<ExecutionState | undefined> {
  const cached = sources.cache.get(executionId);
  // A running execution in the cache is the newest view there is; no need to ask the store.
  if (cached && !cached.record) return cached;
  const stored = sources.store ? await findExecutionRecord(sources.store.connection, executionId) : undefined;
  if (cached && (!stored || cacheWins(cached, stored))) return cached;
  return stored ? stateFromRecord(stored) : undefined;
}

/**
 * `GET /executions` and `GET /executions/:id`.
 *
 * @example
 * const routes = executionRoutes({ cache, activity, log });
 */
export function executionRoutes(deps: { cache: ExecutionCache; activity: ActivitySystem | undefined; log: Log }): ApiRoute[] {
  const sources: ExecutionSources = { cache: deps.cache, store: firstSqlStore(deps.activity) };
  return [
    {
      method: 'GET',
      path: '/executions',
      async handle(_req, res, ctx) {
        let query: ListQuery;
        try {
          query = parseListQuery(ctx.url.searchParams);
        } catch (error) {
          if (error instanceof BadRequestError) return sendError(res, 400, 'bad_request', error.message);
          throw error;
        }
        const page = await fromStore(deps.log, res, () => listExecutions(sources, query));
        if (!page) return;
        const last = page.items.at(-1);
        const body: ExecutionList = {
          items: page.items.map((s) => forCaller(ctx.principal, toSummary(s))),
          next_cursor: page.more && last ? encodeCursor(last.execution_id) : null,
        };
        sendJson(res, 200, body);
      },
    },
    {
      method: 'GET',
      path: '/executions/:id',
      async handle(_req, res, ctx) {
        const id = ctx.params['id'] ?? '';
        const found = await fromStore(deps.log, res, () => findExecution(sources, id));
        if (found === null) return;
        if (!found) return sendError(res, 404, 'not_found', `no execution ${id}`);
        sendJson(res, 200, forCaller(ctx.principal, toDetail(found)));
      },
    },
  ];
}

/** Runs a store read; a failure is answered 503 (and logged) and gives null. */
async function fromStore<T>(log: Log, res: ServerResponse, read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    log.warn('operator API: reading the activity store failed', { error: (error as Error).message });
    sendError(res, 503, 'store_unavailable', 'the activity store cannot be read now; try again');
    return null;
  }
}
