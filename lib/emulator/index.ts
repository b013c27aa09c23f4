/**
 * The platform emulator: a stand-in for the Co3/Resilient REST API and for
 * its trigger side (the UI's "invoke action"), for developing processors and
 * for cafkit's own end-to-end tests.
 *
 * It is a development tool: the `/emulator/*` control endpoints need no
 * authentication, so it binds to loopback (127.0.0.1) unless told otherwise.
 */
import net from 'node:net';
import { childLog, silentLog, type Log } from '../log/log.js';
import { Auth, type ApiKeyCredential, type LoginCredential } from './auth.js';
import { AutomaticActions } from './automatic.js';
import { controlRoutes } from './control-routes.js';
import { Faults, type FaultConfig } from './faults.js';
import { InvocationLog, type Invocation, type UnmatchedReply, type WaitStatus } from './invocations.js';
import { RequestLog, type RecordedRequest } from './requests.js';
import { restRoutes } from './rest-routes.js';
import { seed, type SeedData } from './seed.js';
import { EmulatorServer } from './server.js';
import { EmulatorStore } from './store.js';
import { TriggerSide, type EmulatorBrokerOptions } from './trigger.js';
import type { TriggerRequest } from './bodies.js';

export type { TriggerRequest } from './bodies.js';
export {
  TriggerRequestSchema,
  ActionCreateSchema,
  ActionUpdateSchema,
  ArtifactCreateSchema,
  ArtifactFileCreateSchema,
  ArtifactUpdateSchema,
  DestinationCreateSchema,
  DestinationUpdateSchema,
  FieldCreateSchema,
  FieldUpdateSchema,
  IncidentUpdateSchema,
  TaskCreateSchema,
  CONDITION_METHODS,
} from './bodies.js';
export { PlatformError, type PlatformErrorBody } from './errors.js';
export { FaultConfigSchema, type FaultConfig } from './faults.js';
export { InvocationTimeoutError, type Invocation, type InvocationMessage, type InvocationStatus, type UnmatchedReply, type WaitStatus } from './invocations.js';
export type * from './model.js';
export type { RecordedRequest, RequestAuth } from './requests.js';
export { seed, emptySeed, SEED_IDS, ARTIFACT_TYPES, ARTIFACT_TYPE_IDS, SEED_SAMPLE_BYTES, type SeedData, type ArtifactTypeInfo } from './seed.js';
export { EmulatorStore } from './store.js';
export { ackQueueName, type EmulatorBrokerOptions } from './trigger.js';
export { newContextToken } from './context-token.js';
export { buildActionData } from './action-message.js';

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
  /** Address to bind (default 127.0.0.1: the control endpoints are unauthenticated). */
  host?: string;
  /** Port (default 0: an ephemeral one; the handle says which). */
  port?: number;
  /** PEM contents of a certificate and its key: serve HTTPS. */
  tls?: { cert: string; key: string };
  /** Organisation id (default 201). */
  orgId?: number;
  /** Session logins (`POST /rest/session`). */
  users?: LoginCredential[];
  /** API keys (HTTP Basic `keyId:secret`). */
  apiKeys?: ApiKeyCredential[];
  /** The broker, for the trigger side; without it trigger endpoints answer 503. */
  broker?: EmulatorBrokerOptions;
  /** Faults in force from the start. */
  faults?: FaultConfig;
  /** Starting data (default: {@link seed} for `orgId`; {@link emptySeed} for a platform with nothing installed). */
  seed?: SeedData;
  /**
   * The CAF guide's infinite-loop guard (default true): a REST request that
   * carries an invocation's `X-Co3ContextToken` does not fire that
   * invocation's automatic action again. Switch it off to show the loop.
   */
  loopGuard?: boolean;
  /**
   * Automatic invocations stop firing once the chain of invocations that
   * caused a change (each fired by a request carrying the previous one's
   * token) is this long (default 50). Not a platform feature: it bounds a
   * loop in a test.
   */
  loopLimit?: number;
  log?: Log;
}

/** Wait options of {@link EmulatorHandle.waitFor}. */
export interface WaitOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Default `done` (completed or error). */
  status?: Exclude<WaitStatus, 'pending'>;
  /** Also wait for at least this many replies (e.g. one that arrives after completion). */
  minMessages?: number;
}

/** A running emulator. */
export interface EmulatorHandle {
  /** Base URL, e.g. `https://127.0.0.1:43121` (REST is under `/rest`). */
  url: string;
  port: number;
  /** Direct access to the data, for tests. */
  store: EmulatorStore;
  /** Invokes an action like a user in the UI (same as `POST /emulator/trigger`). Rejects with a {@link PlatformError}. */
  trigger(req: TriggerRequest): Promise<Invocation>;
  /**
   * Resolves when the invocation reaches `status` (default `done`); rejects
   * after `timeoutMs` with the invocation in the message, or at once when it
   * ended in the other final status.
   */
  waitFor(invocationId: number, opts?: WaitOptions): Promise<Invocation>;
  /** The Action Status list, newest first. */
  invocations(): Invocation[];
  /** Replies whose correlation id matched no invocation. */
  unmatched(): UnmatchedReply[];
  /** Every `/rest` request so far (or since index `since`). */
  requests(since?: number): RecordedRequest[];
  /** Replaces the fault configuration. */
  setFaults(f: FaultConfig): void;
  /** Back to the starting data, no faults, an empty request log (invocations are kept). */
  reset(): void;
  /** Ends every login session (a session time-out): the next session request answers 401. */
  expireSessions(): void;
  /** Closes the server (dropping open connections) and the broker connection. */
  close(): Promise<void>;
}

/**
 * Starts the emulator.
 *
 * @example
 * const emu = await startEmulator({ tls: { cert, key }, apiKeys: [{ id: 'k', secret: 's' }], broker: { url, login, passcode, tls: { ca } } });
 * const inv = await emu.trigger({ action: 'Echo', incident: 2095, destination: 'incident_ops' });
 * await emu.waitFor(inv.id, { status: 'completed' });
 * await emu.close();
 */
export async function startEmulator(o: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const host = o.host ?? '127.0.0.1';
  const log = childLog(o.log ?? silentLog, { part: 'emulator' });
  if (!isLoopback(host)) log.warn('the emulator is reachable beyond this machine; its /emulator control endpoints need no authentication', { host });
  if (!o.users?.length && !o.apiKeys?.length) log.warn('no users or API keys configured: every /rest request will answer 401');

  const store = new EmulatorStore(o.seed ?? seed(o.orgId ?? 201));
  const auth = new Auth({ users: o.users, apiKeys: o.apiKeys, resolveUser: (email) => store.ensureUser(email) });
  const faults = new Faults(o.faults);
  const requests = new RequestLog();
  const invocations = new InvocationLog();
  const trigger = new TriggerSide({ store, invocations, broker: o.broker, log });
  const automatic = new AutomaticActions({ store, trigger, invocations, log, loopGuard: o.loopGuard, loopLimit: o.loopLimit });
  const server = new EmulatorServer({
    store,
    auth,
    faults,
    requests,
    invocations,
    log,
    tls: o.tls,
    rest: restRoutes({ store, auth, faults, trigger, automatic, secure: o.tls !== undefined }),
    control: controlRoutes({ store, faults, requests, invocations, trigger }),
  });

  const port = await server.listen(host, o.port ?? 0);
  try {
    await trigger.start();
  } catch (error) {
    await server.close();
    throw error;
  }
  const url = `${o.tls ? 'https' : 'http'}://${urlHost(host)}:${port}`;
  log.info('platform emulator listening', { url, org: store.org.id, broker: o.broker?.url ?? 'none' });

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    store,
    trigger: (req) => trigger.trigger(req),
    waitFor: (id, opts = {}) => invocations.waitFor(id, opts),
    invocations: () => invocations.list(),
    unmatched: () => invocations.unmatched(),
    requests: (since) => requests.list(since),
    setFaults: (f) => faults.set(f),
    expireSessions: () => auth.expireSessions(),
    reset: () => {
      store.reset();
      faults.set({});
      requests.clear();
    },
    close: () => {
      closed ??= (async () => {
        invocations.close();
        await server.close();
        await trigger.close();
      })();
      return closed;
    },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The host to put in the URL: a wildcard bind is reached on loopback, IPv6 goes in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return net.isIPv6(host) ? `[${host}]` : host;
}
