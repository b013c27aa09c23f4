import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { createRestClient, createTransport } from '../runtime/runtime.js';
import { loadProcessors } from '../runtime/load-processors.js';
import { buildRoutes } from '../runtime/routes.js';
import { actionQueueName } from '../wire/headers.js';
import { PACKAGE_ROOT } from './dev-state.js';
import { checkInstalled, loadDefinitions, type Definitions } from '../install/index.js';
import type { RestClient } from '../rest/client.js';
import type { ProcessorDefinition } from '../runtime/processor.js';
import type { RouteDestination } from '../runtime/routes.js';

/** One check's outcome. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * `cafkit selftest`: REST login, broker TLS connect and login, and
 * permission to subscribe to every destination the processors declare.
 * Resolves to the checks; the CLI exits non-zero when one failed.
 */
export async function selftest(options: { config?: string; timeoutMs?: number; definitions?: string }): Promise<Check[]> {
  const config = loadConfig({ file: options.config ?? process.env['CAFKIT_CONFIG'] });
  const log = createLogger({ level: 'error' });
  const checks: Check[] = [];
  const timeoutMs = options.timeoutMs ?? 20_000;

  const processors = await loadProcessors(config.processors ?? path.join(PACKAGE_ROOT, 'processors'));
  const { destinations } = buildRoutes(processors, config.settings);

  const rest = createRestClient({ ...config, rest: { ...config.rest, retries: 0 } }, log);
  try {
    const actions = await rest.get<{ entities?: unknown[] }>('/actions', { signal: AbortSignal.timeout(timeoutMs) });
    checks.push({ name: 'REST login', ok: true, detail: `${config.rest.url}: org ${config.org_id} answers, ${actions.entities?.length ?? 0} actions` });
    checks.push(await platformObjects(rest, processors, destinations, options.definitions));
  } catch (error) {
    checks.push({ name: 'REST login', ok: false, detail: `${config.rest.url}: ${(error as Error).message}` });
  } finally {
    rest.close();
  }

  const transport = createTransport(config, log);
  let lastError: Error | undefined;
  transport.onState((_state, detail) => {
    if (detail?.error) lastError = detail.error;
  });
  try {
    await transport.connect(AbortSignal.timeout(timeoutMs));
    checks.push({ name: 'broker TLS connect', ok: true, detail: `${config.broker.url} as ${config.broker.user}` });
    for (const destination of destinations) {
      const name = actionQueueName(config.org_id, destination.name);
      const subscription = transport.subscribe({ kind: destination.kind, name }, { prefetch: 1, confirm: true }, () => {
        // Never acknowledged: the broker hands the message back when we disconnect.
      });
      try {
        await subscription.ready;
        checks.push({ name: `subscribe ${destination.kind} ${name}`, ok: true, detail: 'allowed' });
      } catch (error) {
        const message = (error as Error).message;
        // web-stomp gives no reason for a refusal, only a closed WebSocket: say what it most likely means.
        const hint = /STOMP died/.test(message) ? ' (RabbitMQ web-stomp closes the connection when it refuses a frame: check that this user may read the queue)' : '';
        checks.push({ name: `subscribe ${destination.kind} ${name}`, ok: false, detail: message + hint });
      } finally {
        await subscription.unsubscribe();
      }
    }
  } catch {
    checks.push({ name: 'broker TLS connect', ok: false, detail: `${config.broker.url}: ${lastError?.message ?? `no connection within ${timeoutMs} ms`}` });
  } finally {
    await transport.close();
  }
  return checks;
}

/**
 * Whether the platform has what the loaded processors need: the declared
 * destinations, the actions sending to them and the fields in their layouts,
 * and an action for every action name a processor handles.
 */
async function platformObjects(rest: RestClient, processors: ProcessorDefinition<unknown>[], destinations: RouteDestination[], dir: string | undefined): Promise<Check> {
  const name = 'platform objects';
  let all: Definitions;
  try {
    all = loadDefinitions(dir);
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message };
  }
  const wanted = new Set(destinations.map((d) => d.name));
  const actions = all.actions.filter((a) => a.definition.destinations.some((d) => wanted.has(d)));
  const fieldNames = new Set(actions.flatMap((a) => a.definition.layout?.fields ?? []));
  const needed: Definitions = {
    destinations: all.destinations.filter((d) => wanted.has(d.definition.programmatic_name)),
    fields: all.fields.filter((f) => fieldNames.has(f.definition.name)),
    actions,
  };
  const { missing } = await checkInstalled(rest, needed);
  const declared = new Set(actions.map((a) => a.definition.name));
  const onPlatform = new Set(((await rest.get<{ entities?: Array<{ name: string }> }>('/actions')).entities ?? []).map((a) => a.name));
  for (const processor of processors) {
    for (const action of Object.keys(processor.actions)) {
      if (!declared.has(action) && !onPlatform.has(action)) missing.push(`action "${action}" (handled by ${processor.name ?? 'a processor'}, declared nowhere)`);
    }
  }
  if (missing.length) return { name, ok: false, detail: `missing on the platform: ${missing.join(', ')} (run cafkit install)` };
  const count = needed.destinations.length + needed.fields.length + needed.actions.length;
  return { name, ok: true, detail: `all ${count} destinations, fields and actions the processors need are there` };
}
