import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { startEmulator, type EmulatorHandle } from '../emulator/index.js';
import { createLogger } from '../log/logger.js';
import { devPaths, readEnvFile, writeEnvFile } from './dev-state.js';

/** Options of `cafkit emulator`. */
export interface EmulatorCommandOptions {
  host: string;
  port: number;
  org: number;
  tls: boolean;
  /** Connect the trigger side to the broker (default: when broker settings are found). */
  broker?: boolean;
}

/**
 * Starts the platform emulator with the development certificates and the
 * development broker (from `.cafkit/activemq/broker.env` or CAFKIT_* variables),
 * writes its URL and API key to `.cafkit/emulator.env` (mode 0600) and
 * returns the handle.
 */
export async function startDevEmulator(options: EmulatorCommandOptions, env: NodeJS.ProcessEnv = process.env): Promise<{ emulator: EmulatorHandle; apiKey: { id: string; secret: string }; envFile: string }> {
  const paths = devPaths(env);
  const broker = { ...readEnvFile(paths.brokerEnv), ...pick(env, /^CAFKIT_(BROKER|PLATFORM_BROKER)_/) };
  const previous = readEnvFile(paths.emulatorEnv);
  const apiKey = {
    id: env['CAFKIT_API_KEY_ID'] ?? previous['CAFKIT_API_KEY_ID'] ?? `emu-${randomBytes(4).toString('hex')}`,
    secret: env['CAFKIT_API_KEY_SECRET'] ?? previous['CAFKIT_API_KEY_SECRET'] ?? randomBytes(24).toString('hex'),
  };
  const tls = options.tls && existsSync(paths.serverCert) ? { cert: readFileSync(paths.serverCert, 'utf8'), key: readFileSync(paths.serverKey, 'utf8') } : undefined;
  if (options.tls && !tls) throw new Error(`no development certificate at ${paths.serverCert}: run scripts/certs first, or pass --no-tls`);
  const useBroker = options.broker ?? Boolean(broker['CAFKIT_PLATFORM_BROKER_USER']);
  const emulator = await startEmulator({
    host: options.host,
    port: options.port,
    orgId: options.org,
    tls,
    apiKeys: [apiKey],
    broker: useBroker
      ? {
          url: required(broker, 'CAFKIT_BROKER_URL'),
          login: required(broker, 'CAFKIT_PLATFORM_BROKER_USER'),
          passcode: required(broker, 'CAFKIT_PLATFORM_BROKER_PASSWORD'),
          tls: { ca: readFileSync(required(broker, 'CAFKIT_BROKER_CA'), 'utf8') },
        }
      : undefined,
    log: createLogger({ level: 'warn' }),
  });
  writeEnvFile(paths.emulatorEnv, {
    CAFKIT_EMULATOR_URL: emulator.url,
    CAFKIT_REST_URL: emulator.url,
    CAFKIT_REST_CA: paths.ca,
    CAFKIT_API_KEY_ID: apiKey.id,
    CAFKIT_API_KEY_SECRET: apiKey.secret,
    CAFKIT_ORG_ID: String(options.org),
  });
  return { emulator, apiKey, envFile: paths.emulatorEnv };
}

function pick(env: NodeJS.ProcessEnv, pattern: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => pattern.test(e[0]) && e[1] !== undefined));
}

function required(values: Record<string, string>, key: string): string {
  const value = values[key];
  if (!value) throw new Error(`${key} is not set (start the broker with scripts/activemq start, or set it in the environment)`);
  return value;
}
