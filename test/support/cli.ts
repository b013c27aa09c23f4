import { execFile } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';

/**
 * Runs the `cafkit` CLI as a user would (no terminal on stdin); resolves to
 * its exit code and output. `env` is added to this process's environment,
 * or replaces it (but PATH) with `{ clean: true }`; CAFKIT_CONFIG is unset
 * either way so no config file of the machine leaks in. CAFKIT_API_PORT is 0
 * (unless `env` says otherwise) so a `run` never takes the default 8686.
 */
export function runCafkit(args: string[], env: Record<string, string> = {}, options: { clean?: boolean } = {}): Promise<{ code: number; out: string }> {
  const base = options.clean ? { PATH: process.env['PATH'] ?? '' } : process.env;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), ...args], { env: { ...base, CAFKIT_CONFIG: '', CAFKIT_API_PORT: '0', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout + stderr });
    });
    child.stdin?.end();
  });
}
