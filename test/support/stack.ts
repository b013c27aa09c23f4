import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { startTestBroker, type TestBroker } from './test-broker.js';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../lib/emulator/index.js';
import { loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { loadProcessors } from '../../lib/runtime/load-processors.js';
import type { ProcessorDefinition } from '../../lib/runtime/processor.js';
import { createLogger } from '../../lib/log/logger.js';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';

/** The example processors shipped in processors/. */
export const EXAMPLES = path.join(PACKAGE_ROOT, 'processors');
/** Processors written for tests. */
export const FIXTURES = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'processors');

export const API_KEY = { id: 'test-key', secret: 'test-secret-0123456789' };

/** A broker and an emulator wired to it over TLS, as a deployed processor sees them. */
export interface Platform {
  /** ActiveMQ, or RabbitMQ, as CAFKIT_TEST_TRANSPORT chooses (see test-broker.ts). */
  broker: TestBroker;
  emulator: EmulatorHandle;
  /** CAFKIT_* variables a processor needs to reach both. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts a private broker for the transport under test (ActiveMQ STOMP/TLS
 * unless CAFKIT_TEST_TRANSPORT says otherwise) and an HTTPS emulator whose
 * trigger side publishes over the same transport.
 * `emulator` options (e.g. `{ loopGuard: false }`, a `seed`) are passed to
 * startEmulator on top of the wiring.
 */
export async function startPlatform(options: { emulator?: Omit<EmulatorOptions, 'tls' | 'broker' | 'orgId'> } = {}): Promise<Platform> {
  const broker = await startTestBroker();
  let emulator: EmulatorHandle;
  try {
    emulator = await startEmulator({
      host: '127.0.0.1',
      port: 0,
      orgId: broker.orgId,
      tls: { cert: readFileSync(path.join(broker.certsDir, 'broker.pem'), 'utf8'), key: readFileSync(path.join(broker.certsDir, 'broker-key.pem'), 'utf8') },
      apiKeys: [API_KEY],
      broker: { url: broker.url, login: broker.platform.user, passcode: broker.platform.password, vhost: broker.vhost, tls: { ca: readFileSync(broker.ca, 'utf8') } },
      ...options.emulator,
    });
  } catch (error) {
    await broker.dispose();
    throw error;
  }
  const env: Record<string, string> = {
    CAFKIT_ORG_ID: String(broker.orgId),
    CAFKIT_BROKER_URL: broker.url,
    CAFKIT_BROKER_USER: broker.processor.user,
    CAFKIT_BROKER_PASSWORD: broker.processor.password,
    CAFKIT_BROKER_CA: broker.ca,
    CAFKIT_REST_URL: emulator.url,
    CAFKIT_REST_CA: broker.ca,
    CAFKIT_API_KEY_ID: API_KEY.id,
    CAFKIT_API_KEY_SECRET: API_KEY.secret,
    ...(broker.vhost !== undefined ? { CAFKIT_BROKER_VHOST: broker.vhost } : {}),
  };
  return {
    broker,
    emulator,
    env,
    async stop() {
      await emulator.close().catch(() => undefined);
      await broker.dispose();
    },
  };
}

/** The config a processor gets from the platform's variables, with test-friendly tweaks. */
export function processorConfig(platform: Platform, overrides: (config: Config) => void = () => {}): Config {
  const config = loadConfig({ env: platform.env });
  // Short waits so reconnect tests finish quickly; the defaults are for production.
  config.broker.reconnect_initial_ms = 200;
  config.broker.reconnect_max_ms = 2000;
  config.broker.heartbeat_ms = 2000;
  config.rest.retries = 2;
  overrides(config);
  return config;
}

/** Starts an in-process runtime with the given processors. */
export async function startRuntime(config: Config, processors: ProcessorDefinition<any>[] | string = EXAMPLES): Promise<Runtime> {
  const definitions = typeof processors === 'string' ? await loadProcessors(processors) : processors;
  const runtime = createRuntime(config, definitions, { log: createLogger({ level: process.env['CAFKIT_TEST_LOG'] ? 'debug' : 'error' }) });
  await runtime.start(AbortSignal.timeout(30_000));
  return runtime;
}

/** A platform with an in-process runtime of the example processors. */
export interface Stack {
  platform: Platform;
  runtime: Runtime;
  stop(): Promise<void>;
}

/** Starts a platform and a runtime on it; `stop()` stops both, runtime first. */
export async function startStack(overrides?: (config: Config) => void): Promise<Stack> {
  const platform = await startPlatform();
  try {
    const runtime = await startRuntime(processorConfig(platform, overrides));
    return {
      platform,
      runtime,
      async stop() {
        await runtime.stop(5000);
        await platform.stop();
      },
    };
  } catch (error) {
    await platform.stop();
    throw error;
  }
}

/** A `cafkit run` child process, stopped by its own pid. */
export interface ProcessorProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output contains `pattern`, rejects after the deadline. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal and waits for the exit; resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `cafkit run` as a separate process with CAFKIT_* variables only. */
export function spawnProcessor(env: Record<string, string>): ProcessorProcess {
  // Its own CAFKIT_HOME: signing keys and the activity database of one test stay out of the others' way.
  const home = mkdtempSync(path.join(tmpdir(), 'cafkit-home-'));
  const child = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'run'], {
    // Port 0: tests run processors side by side, and none may take the default 8686 from another.
    env: { ...process.env, CAFKIT_CONFIG: '', CAFKIT_HOME: home, CAFKIT_API_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const kill = () => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', kill);
  return {
    child,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`processor output did not match ${pattern} within ${timeoutMs} ms:\n${output.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      process.removeListener('exit', kill);
      return code;
    },
  };
}

/** Polls nothing: resolves when `predicate` holds after an event, or rejects at the deadline. */
export async function eventually<T>(read: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30_000, onChange?: (wake: () => void) => () => void): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 50);
      const off = onChange?.(() => {
        clearTimeout(timer);
        off?.();
        resolve();
      });
    });
  }
}
