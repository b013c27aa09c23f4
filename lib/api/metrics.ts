import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ObservedParts } from './observed.js';
import type { ApiRoute } from './route.js';

/** Buckets of `cafkit_handler_duration_seconds`: handlers call REST, so seconds to minutes matter as much as milliseconds. */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** What {@link metricsRoute} returns: the route, its registry, and how to stop following the cache. */
export interface MetricsRoute extends ApiRoute {
  /** The route's own registry (never prom-client's global one). */
  readonly registry: Registry;
  /** Stops observing finished executions (the counters read at scrape time need nothing). */
  close(): void;
}

/**
 * `GET /metrics`: Prometheus text from a registry of its own. Counters the
 * runtime and the reporter already keep (messages received, replied,
 * dead-lettered, redelivered, reconnects, per-sink backlog, drops and
 * failed attempts) are read live at scrape time, so nothing is counted
 * twice; handler durations are observed from the execution cache as each
 * execution finishes (`started_at` to `ended_at`, by action). The default
 * Node process metrics come along.
 *
 * @example
 * const metrics = metricsRoute({ runtime, activity, cache });
 * startApiServer({ ...deps, routes: [metrics] }); // curl -H 'Authorization: Bearer …' :8686/metrics
 */
export function metricsRoute(deps: ObservedParts): MetricsRoute {
  const { runtime } = deps;
  const stats = runtime.dispatcher.stats;
  const sinkStats = () => Object.entries(deps.activity?.reporter.stats() ?? {});
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  /** A counter that shows `read()` at each scrape: the runtime keeps the count, so nothing is counted twice. */
  const mirror = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });

  mirror('cafkit_messages_received_total', 'Action messages delivered by the broker (redeliveries and malformed ones included).', () => stats.received);
  new Counter({
    name: 'cafkit_messages_replied_total',
    help: 'Actions that ran to a final reply, by outcome (a timed-out handler counts as failed).',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ status: 'succeeded' }, stats.succeeded);
      this.inc({ status: 'failed' }, stats.failed);
    },
  });
  mirror('cafkit_messages_dead_lettered_total', 'Messages copied to a dead-letter queue (malformed, or their reply refused).', () => stats.deadLettered);
  mirror('cafkit_messages_redelivered_total', 'Redeliveries answered with the stored reply of a completed run, or of the run still going, instead of running again.', () => stats.replayed);
  mirror('cafkit_broker_reconnects_total', 'Times the broker connection came back after it was lost.', () => runtime.reconnects);
  new Gauge({
    name: 'cafkit_sink_queued',
    help: 'Activity events waiting for the sink, in memory (the batch in delivery included) or in its spill file.',
    labelNames: ['sink'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, s] of sinkStats()) this.set({ sink }, s.queued + s.in_spill);
    },
  });
  new Gauge({
    name: 'cafkit_sink_lag_seconds',
    help: 'Age of the oldest activity event the sink has not yet taken (0 when it has everything).',
    labelNames: ['sink'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const [sink, oldest] of Object.entries(deps.activity?.reporter.oldestQueuedAt() ?? {})) {
        const at = oldest ? Date.parse(oldest) : NaN;
        this.set({ sink }, Number.isFinite(at) ? Math.max(0, now - at) / 1000 : 0);
      }
    },
  });
  new Counter({
    name: 'cafkit_sink_dropped_total',
    help: 'Activity events the sink lost (drop_oldest overflow, unwritable spill, unreadable spill line, reported after shutdown).',
    labelNames: ['sink'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, s] of sinkStats()) this.inc({ sink }, s.dropped);
    },
  });
  new Counter({
    name: 'cafkit_sink_failed_attempts_total',
    help: 'Deliveries to the sink that threw (each is retried with the same events).',
    labelNames: ['sink'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, s] of sinkStats()) this.inc({ sink }, s.failed_attempts);
    },
  });
  const durations = new Histogram({
    name: 'cafkit_handler_duration_seconds',
    help: 'Time from handler start to the final reply of each finished execution, by action.',
    labelNames: ['action'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  const unsubscribe = deps.cache.subscribe(({ event, execution }) => {
    // Only executions that ran a handler have both times; dead-lettered ones never started.
    if (!execution.record || !FINAL_KINDS.has(event.kind) || !execution.started_at || !execution.ended_at) return;
    const seconds = (Date.parse(execution.ended_at) - Date.parse(execution.started_at)) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0) durations.observe({ action: execution.action_name ?? 'unknown' }, seconds);
  });

  return {
    method: 'GET',
    path: '/metrics',
    registry,
    close: unsubscribe,
    async handle(_req, res) {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' });
      res.end(text);
    },
  };
}

const FINAL_KINDS: ReadonlySet<string> = new Set(['completed', 'failed', 'timed_out']);
