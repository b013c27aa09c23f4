import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own folder (where scripts/ and processors/ are). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Development state: certificates, broker instance, emulator credentials. Git-ignored. */
export function cafkitHome(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAFKIT_HOME'] ?? path.join(PACKAGE_ROOT, '.cafkit');
}

/** Reads a `KEY=value` file; missing file → empty. */
export function readEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match) out[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** Writes a `KEY=value` file readable by its owner only (it holds development secrets). */
export function writeEnvFile(file: string, values: Record<string, string>): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
}

/** Paths of the development state. */
export function devPaths(env: NodeJS.ProcessEnv = process.env) {
  const home = cafkitHome(env);
  return {
    home,
    certs: path.join(home, 'certs'),
    ca: path.join(home, 'certs', 'ca.pem'),
    serverCert: path.join(home, 'certs', 'broker.pem'),
    serverKey: path.join(home, 'certs', 'broker-key.pem'),
    brokerEnv: path.join(env['CAFKIT_AMQ_DIR'] ?? path.join(home, 'activemq'), 'broker.env'),
    emulatorEnv: path.join(home, 'emulator.env'),
    activemqScript: path.join(PACKAGE_ROOT, 'scripts', 'activemq'),
  };
}
