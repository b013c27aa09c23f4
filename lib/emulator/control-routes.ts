import { PlatformError, parseBody } from './errors.js';
import { FaultConfigSchema, type Faults } from './faults.js';
import { InvocationTimeoutError, type InvocationLog, type WaitStatus } from './invocations.js';
import type { RequestLog } from './requests.js';
import { intParam, Router } from './router.js';
import type { EmulatorStore } from './store.js';
import type { TriggerSide } from './trigger.js';

/** What the control routes work on. */
export interface ControlDeps {
  store: EmulatorStore;
  faults: Faults;
  requests: RequestLog;
  invocations: InvocationLog;
  trigger: TriggerSide;
}

/** The longest a long-poll may wait (ms): longer than any sane test step, short of proxy timeouts. */
const MAX_WAIT_MS = 120_000;
const WAIT_STATUSES: WaitStatus[] = ['pending', 'completed', 'error', 'done'];

/**
 * The emulator's own endpoints under `/emulator`: the request log, faults,
 * the trigger ("invoke action" in the UI) and the Action Status list. Lists
 * answer plain JSON arrays; `GET /emulator/requests?since=N` answers the
 * requests whose `index` is at least N (pass the last index + 1 to follow).
 *
 * They need no authentication and faults never touch them: the emulator is a
 * development tool and binds to loopback unless told otherwise, and a test
 * must be able to switch a fault off while `/rest` is "down".
 */
export function controlRoutes(deps: ControlDeps): Router {
  const { store, faults, requests, invocations, trigger } = deps;
  const r = new Router();

  r.add('GET', '/emulator', () => ({
    body: {
      name: 'cafkit platform emulator',
      org: store.org,
      broker: trigger.enabled,
      endpoints: [
        'GET /emulator/requests?since=<index>',
        'DELETE /emulator/requests',
        'GET /emulator/faults',
        'PUT /emulator/faults',
        'POST /emulator/trigger',
        'GET /emulator/invocations?incident=<id>',
        'GET /emulator/invocations/<id>?wait=<ms>&status=<pending|completed|error|done>',
        'GET /emulator/unmatched',
        'POST /emulator/reset',
      ],
    },
  }));

  r.add('GET', '/emulator/requests', (ctx) => {
    const since = optionalInt(ctx.query.get('since'), 'since') ?? 0;
    return { body: requests.list(since) };
  });
  r.add('DELETE', '/emulator/requests', () => {
    requests.clear();
    return { status: 204 };
  });

  r.add('GET', '/emulator/faults', () => ({ body: faults.get() }));
  r.add('PUT', '/emulator/faults', (ctx) => {
    faults.set(parseBody(FaultConfigSchema, ctx.json(), 'fault configuration'));
    return { body: faults.get() };
  });

  r.add('POST', '/emulator/trigger', async (ctx) => {
    const body = ctx.json();
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw PlatformError.badRequest('the trigger request must be a JSON object');
    return { body: await trigger.trigger(body as Parameters<TriggerSide['trigger']>[0]) };
  });

  r.add('GET', '/emulator/invocations', (ctx) => {
    const incident = optionalInt(ctx.query.get('incident'), 'incident');
    return { body: invocations.list(incident === undefined ? {} : { incident }) };
  });
  r.add('GET', '/emulator/invocations/:id', async (ctx) => {
    const id = intParam(ctx, 'id');
    const current = invocations.get(id);
    if (!current) throw PlatformError.notFound(`invocation ${id}`);
    const waitMs = optionalInt(ctx.query.get('wait'), 'wait');
    if (waitMs === undefined || waitMs === 0) return { body: current };
    if (waitMs > MAX_WAIT_MS) throw PlatformError.badRequest(`query parameter "wait": at most ${MAX_WAIT_MS} ms`);
    const status = (ctx.query.get('status') ?? 'done') as WaitStatus;
    if (!WAIT_STATUSES.includes(status)) throw PlatformError.badRequest(`query parameter "status": must be one of ${WAIT_STATUSES.join(', ')}`);
    try {
      return { body: await invocations.waitFor(id, { status, timeoutMs: waitMs, signal: ctx.signal }) };
    } catch (error) {
      // A long-poll that runs out of time (or ends in the other status) answers the invocation as it is.
      if (error instanceof InvocationTimeoutError) return { body: error.invocation };
      const now = invocations.get(id);
      if (now) return { body: now };
      throw error;
    }
  });
  r.add('GET', '/emulator/unmatched', () => ({ body: invocations.unmatched() }));

  r.add('POST', '/emulator/reset', () => {
    store.reset();
    faults.set({});
    requests.clear();
    return { status: 204 };
  });

  return r;
}

function optionalInt(raw: string | null, name: string): number | undefined {
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw PlatformError.badRequest(`query parameter "${name}": ${JSON.stringify(raw)} is not a non-negative integer`);
  return Number(raw);
}
