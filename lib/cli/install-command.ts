import { createInterface } from 'node:readline/promises';
import { ConfigError } from '../config/load.js';
import { applyPlan } from '../install/apply.js';
import { loadDefinitions } from '../install/load.js';
import { countSteps, planInstall, type Plan } from '../install/plan.js';
import { renderPlan, renderProgress, renderResult } from '../install/render.js';
import { loadRestConfig } from '../install/rest-config.js';
import { createRestClient } from '../runtime/runtime.js';
import { createLogger } from '../log/logger.js';
import type { RestClient } from '../rest/client.js';

/** Options of `cafkit install`. */
export interface InstallCommandOptions {
  /** Folder of definition files (default: the package's `destinations/`). */
  dir?: string;
  /** Show the plan, change nothing. */
  dryRun?: boolean;
  /** Apply without asking. */
  yes?: boolean;
  /** Config file (default `$CAFKIT_CONFIG`); only `org_id` and `rest` are read. */
  config?: string;
}

/** Where the command reads and writes; the process's own streams by default. */
export interface InstallIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** Exit codes of `cafkit install`. */
export const INSTALL_EXIT = { ok: 0, refused: 1, config: 2 } as const;

/**
 * `cafkit install`: loads the definitions, reads the platform, prints the
 * plan, and (after `--yes`, or a "y" on a terminal) applies it. Resolves to
 * the exit code: 0 done or nothing to do, 1 the platform refused a step (or
 * could not be reached), 2 a configuration or definitions problem, or no
 * way to confirm (no terminal, neither `--yes` nor `--dry-run`).
 *
 * @example
 * process.exitCode = await installCommand({ dir: 'destinations', dryRun: true });
 */
export async function installCommand(options: InstallCommandOptions, io: InstallIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }): Promise<number> {
  const out = (text: string) => io.stdout.write(`${text}\n`);
  const err = (text: string) => io.stderr.write(`cafkit install: ${text}\n`);
  let rest: RestClient | undefined;
  try {
    const definitions = loadDefinitions(options.dir);
    const config = loadRestConfig({ file: options.config ?? (io.env['CAFKIT_CONFIG'] || undefined), env: io.env });
    rest = createRestClient(config, createLogger({ level: 'warn' }));
    out(`Platform ${config.rest.url}, organisation ${config.org_id}.`);
    const plan = await planInstall(rest, definitions);
    out(renderPlan(plan));
    if (!hasWork(plan)) {
      out('Nothing to do: the platform has everything as declared.');
      return INSTALL_EXIT.ok;
    }
    if (options.dryRun) {
      out('Dry run: nothing was changed.');
      return INSTALL_EXIT.ok;
    }
    if (!options.yes) {
      if (!io.stdin.isTTY) {
        err('not applying without confirmation: there is no terminal to ask on. Pass --yes to apply these changes, or --dry-run to only show them.');
        return INSTALL_EXIT.config;
      }
      if (!(await confirm(io))) {
        out('Nothing was changed.');
        return INSTALL_EXIT.ok;
      }
    }
    const result = await applyPlan(rest, plan, {
      onProgress: (event) => {
        const line = renderProgress(event);
        if (line) out(line);
      },
    });
    out(renderResult(result));
    return result.failed ? INSTALL_EXIT.refused : INSTALL_EXIT.ok;
  } catch (error) {
    if (error instanceof ConfigError) {
      err(error.message);
      return INSTALL_EXIT.config;
    }
    err(error instanceof Error ? error.message : String(error));
    return INSTALL_EXIT.refused;
  } finally {
    rest?.close();
  }
}

function hasWork(plan: Plan): boolean {
  const n = countSteps(plan);
  return n.create + n.update > 0;
}

async function confirm(io: InstallIo): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stdout });
  try {
    const answer = await rl.question('Apply these changes? [y/N] ');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
