import type { ActivityRecord } from '../activity/record.js';
import { redact } from '../log/redact.js';
import type { ApiPrincipal } from './auth.js';
import { stateFromRecord, type ExecutionState } from './execution-cache.js';

export { stateFromRecord };
import type { ExecutionDetail, ExecutionSummary } from './schemas.js';

/** What replaces a memory snapshot for a token without `read:sensitive`. */
export const REDACTED = '[redacted]';

/**
 * The list view of an execution.
 *
 * @example
 * toSummary(cache.get(id)!).duration_ms; // null while it runs
 */
export function toSummary(state: ExecutionState): ExecutionSummary {
  const incident = state.object_ids['incident'];
  return {
    execution_id: state.execution_id,
    correlation_id: state.correlation_id,
    status: state.status,
    destination: state.destination,
    action_name: state.action_name,
    processor: state.processor,
    org_id: state.org_id,
    object_type: state.object_type,
    object_ids: state.object_ids,
    incident_id: typeof incident === 'number' && Number.isInteger(incident) ? incident : null,
    user: state.user,
    received_at: state.received_at,
    started_at: state.started_at,
    ended_at: state.ended_at,
    duration_ms: duration(state),
    ...(state.rerun ? { rerun: true as const } : {}),
  };
}

/**
 * The full view of an execution: the summary, steps, replies, error,
 * memory (from the record) and the signed record once finished.
 *
 * @example
 * toDetail(stateFromRecord(record)).record?.signature;
 */
export function toDetail(state: ExecutionState): ExecutionDetail {
  return {
    ...toSummary(state),
    steps: state.steps,
    replies: state.replies,
    error: state.error,
    memory: state.record?.memory ?? null,
    ...(state.record ? { record: state.record } : {}),
  };
}

/** Whether the caller may see memory snapshots and unredacted values. */
export function readsSensitive(principal: ApiPrincipal): boolean {
  return principal.scopes.includes('read:sensitive');
}

/**
 * What a caller may see of a response value. With `read:sensitive`, the
 * value itself; otherwise every `memory` of the value (the detail's and its
 * record's) becomes `"[redacted]"` when not null, and the rest goes through
 * {@link redact} (secret-named keys, registered secret values). A redacted
 * record's signature no longer verifies: it is for reading, not proving.
 *
 * @example
 * send(res, 200, forCaller(ctx.principal, toDetail(state)));
 */
export function forCaller<T extends ExecutionSummary | ExecutionDetail>(principal: ApiPrincipal, value: T): T {
  if (readsSensitive(principal)) return value;
  // A JSON copy first: redact() marks an object seen twice (the record shares replies with the detail) as circular.
  const copy = JSON.parse(JSON.stringify(value)) as T & { memory?: unknown; record?: { memory?: unknown } };
  if ('memory' in copy && copy.memory !== null) copy.memory = REDACTED;
  if (copy.record && copy.record.memory !== null && copy.record.memory !== undefined) copy.record.memory = REDACTED;
  return redact(copy) as T;
}

function duration(state: ExecutionState): number | null {
  if (!state.ended_at) return null;
  const from = Date.parse(state.started_at ?? state.received_at);
  const to = Date.parse(state.ended_at);
  return Number.isNaN(from) || Number.isNaN(to) ? null : Math.max(0, to - from);
}
