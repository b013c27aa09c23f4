import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { createRuntime } from '../runtime/runtime.js';
import { loadProcessors } from '../runtime/load-processors.js';
import { PACKAGE_ROOT } from './dev-state.js';
import { cafkitHomeDir, createActivitySystem } from '../activity/system.js';
import { createAlertSinks } from '../sinks/index.js';
import { unknownRuleTargets } from '../activity/alert-selection.js';
import { ExecutionCache } from '../api/execution-cache.js';
import { startApiServer, type ApiServer } from '../api/server.js';

/**
 * `cafkit run`: loads the config (file and/or CAFKIT_* variables) and the
 * processors, serves until SIGTERM/SIGINT, then drains and exits 0. With
 * `api.enable` (the default) the operator API and dashboard are served once
 * the runtime has started, and stopped first at shutdown.
 */
export async function runCommand(options: { config?: string }): Promise<void> {
  const config = loadConfig({ file: options.config ?? process.env['CAFKIT_CONFIG'] });
  const log = createLogger({ level: config.log.level, file: config.log.file, maxSizeMb: config.log.max_size_mb, maxFiles: config.log.max_files, format: config.log.format });
  const folder = config.processors ?? path.join(PACKAGE_ROOT, 'processors');
  const processors = await loadProcessors(folder);
  log.info('loaded processors', { folder, processors: processors.map((p) => p.name) });
  for (const problem of unknownRuleTargets(config.alerting.rules, processors)) log.warn(problem);
  const home = cafkitHomeDir();
  const alerts = await createAlertSinks(config.alerting, { log, home });
  // The API's view of running executions and its live feed: a sink like the others, fed every event.
  const cache = config.api.enable ? new ExecutionCache({ maxExecutions: config.api.cache_executions, bufferSize: config.api.stream_buffer }) : undefined;
  const activity = await createActivitySystem(config, log, process.env, cache ? [...alerts, cache] : alerts);
  if (activity?.stores.length) log.info('activities signed and stored', { stores: activity.stores.map((s) => s.name), durableReplies: Boolean(activity.completed) });
  const runtime = createRuntime(config, processors, { log, activity });
  const abort = new AbortController();
  let api: ApiServer | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received: stopping`);
    abort.abort(new Error(`${signal} before the broker connected`));
    // The API first: no new requests or feed clients while the runtime drains.
    (api?.close() ?? Promise.resolve())
      .catch((error: unknown) => log.warn('closing the operator API failed', { error: (error as Error).message }))
      .then(() => runtime.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error('stop failed', { error: (error as Error).message });
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    await runtime.start(abort.signal);
  } catch (error) {
    if (!stopping) throw error;
    return;
  }
  if (cache && !stopping) {
    try {
      api = await startApiServer({ config: config.api, home, log, runtime, activity, cache });
    } catch (error) {
      // The processor keeps running its actions; only the view of them is missing.
      log.error('operator API not started', { error: (error as Error).message });
    }
    // A signal that came while it was starting has already passed the API by.
    if (stopping) await api?.close();
  }
}

