import { actionQueueName } from '../wire/headers.js';
import type { ObservedParts } from './observed.js';
import { sendJson } from './respond.js';
import type { ApiRoute } from './route.js';
import type { Health, SinkHealth } from './schemas.js';

/**
 * The runtime's readiness as `GET /health` answers it: ready when the
 * broker is connected and every destination of the processors is
 * subscribed, with what is in flight and each activity sink's backlog.
 *
 * @example
 * const h = readHealth({ runtime, activity, cache });
 * if (!h.ready) log.warn('not ready', { connected: h.broker.connected });
 */
export function readHealth(deps: ObservedParts): Health {
  const { runtime } = deps;
  const subscribed = runtime.subscribed;
  const orgId = runtime.dispatcher.orgId;
  const connected = runtime.connected;
  const everyDestination = runtime.destinations.every((d) => subscribed.some((s) => s.kind === d.kind && s.name === actionQueueName(orgId, d.name)));
  const sinks: Record<string, SinkHealth> = {};
  for (const [name, stats] of Object.entries(deps.activity?.reporter.stats() ?? {})) {
    sinks[name] = {
      queued: stats.queued,
      in_spill: stats.in_spill,
      dropped: stats.dropped,
      failed_attempts: stats.failed_attempts,
      ...(stats.last_error !== undefined ? { last_error: stats.last_error } : {}),
      ...(stats.last_error_at !== undefined ? { last_error_at: stats.last_error_at } : {}),
    };
  }
  return {
    ready: connected && everyDestination,
    broker: { connected },
    subscriptions: subscribed.map((s) => ({ destination: s.name, kind: s.kind })),
    in_flight: runtime.dispatcher.inFlight,
    sinks,
  };
}

/**
 * `GET /health`: 200 with the {@link Health} body when ready, 503 with the
 * same body when not (a load balancer or orchestrator needs only the status).
 *
 * @example
 * startApiServer({ ...deps, routes: [healthRoute({ runtime, activity, cache })] });
 */
export function healthRoute(deps: ObservedParts): ApiRoute {
  return {
    method: 'GET',
    path: '/health',
    handle(_req, res) {
      const health = readHealth(deps);
      sendJson(res, health.ready ? 200 : 503, health);
    },
  };
}
