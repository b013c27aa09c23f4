import type { ActivitySystem } from '../activity/system.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ExecutionCache } from './execution-cache.js';

/**
 * What `/health` and `/metrics` look at: the runtime (broker link,
 * subscriptions, dispatcher counters), the activity system (its reporter's
 * per-sink queues; absent when activities are off) and the execution cache
 * (finished executions, for handler durations).
 *
 * @example
 * const observed: ObservedParts = { runtime, activity, cache };
 * const routes = [healthRoute(observed), metricsRoute(observed)];
 */
export interface ObservedParts {
  runtime: Runtime;
  activity: ActivitySystem | undefined;
  cache: ExecutionCache;
}
