// Test/bench harness: start a PRIVATE RabbitMQ node (own temp folder, own free
// loopback ports, own node name, cookie, epmd and data) through
// scripts/rabbitmq, and always stop it by its own pid, never by name. Debian's
// system node (if any) is never touched.
//
//   const mq = await startRabbitMq();
//   after(() => mq.dispose());
//   // mq.urls.wss, mq.urls.amqps… with mq.processor / mq.platform and mq.ca
//
// The temp folder is removed when the process exits (or by dispose()), unless
// keepDir is set or CAFKIT_KEEP_RABBITMQ_DIR=1.
import { dirname, join } from 'node:path';
import { repoDir } from './activemq.js';
import { liveProcessArgs, readPid, startServerInstance, tailFile, type ServerInstance } from './server-process.js';

/** A login of the node (default vhost, all permissions). */
export interface RabbitMqUser {
  user: string;
  password: string;
}

/** A private RabbitMQ node; `logTail` reads the node's own log. */
export interface RabbitMqInstance extends ServerInstance {
  /** Broker URLs, one per transport: TLS ones name `localhost` (the certificate's name), plain ones 127.0.0.1. */
  urls: {
    stomp: string; // stomp://127.0.0.1:<p>
    stompSsl: string; // stomp+ssl://localhost:<p>
    ws: string; // ws://127.0.0.1:<p>/ws
    wss: string; // wss://localhost:<p>/ws
    amqp: string; // amqp://127.0.0.1:<p> (AMQP 1.0 and 0-9-1)
    amqps: string; // amqps://localhost:<p>
  };
  ports: { amqp: number; amqps: number; stomp: number; stomps: number; ws: number; wss: number; dist: number; epmd: number };
  /** The organisation whose queues (actions.<org>.*, acks.<org>.*, DLQ.actions.<org>.*) the users may use; any other is refused. */
  orgId: number;
  processor: RabbitMqUser;
  platform: RabbitMqUser;
  /** The dev CA that signed the node's certificate (broker.pem: localhost, 127.0.0.1, ::1). */
  ca: string;
  /** The certs folder (rogue.pem, wronghost.pem… for TLS failure cases). */
  certsDir: string;
  /** `cafkit-<hash>@localhost` */
  nodeName: string;
  /** Pid of the node's own epmd, undefined when it is not running. */
  epmdPid(): number | undefined;
}

export interface StartRabbitMqOptions {
  /** The organisation whose queues the users may use (default 201). */
  orgId?: number;
  /** Keep the temp instance folder after the process exits (for debugging). */
  keepDir?: boolean;
}

/** Start can include apt-get install on a fresh machine, hence the long timeout. */
const START_TIMEOUT_MS = 300_000;
/** The script waits 30 s for SIGTERM, then SIGKILLs. */
const STOP_TIMEOUT_MS = 60_000;

/** True when pid is a live (non-zombie) Erlang VM, optionally the node of the given instance folder (its HOME). */
export function isRabbitMqProcess(pid: number, dir?: string): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!/(^|\/)beam(\.smp)?$/.test(args[0] ?? '')) return false;
  if (dir === undefined) return true;
  const home = args.indexOf('-home');
  return home >= 0 && args[home + 1] === join(dir, 'home');
}

/** True when pid is a live epmd, optionally the one serving `port` (started with `-port <port>`). */
export function isEpmdProcess(pid: number, port?: number): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!/(^|\/)epmd$/.test(args[0] ?? '')) return false;
  if (port === undefined) return true;
  const i = args.indexOf('-port');
  return i >= 0 && args[i + 1] === String(port);
}

/**
 * The safety net of server-process.ts kills the node, not its epmd: this one
 * kills the epmds still running when the test process exits or is signalled.
 */
const epmds = new Map<string, { pidFile: string; port: number; lastPid?: number }>();
let epmdNetInstalled = false;
function killEpmdsSync(): void {
  for (const e of epmds.values()) {
    const pid = readPid(e.pidFile) ?? e.lastPid;
    if (pid !== undefined && isEpmdProcess(pid, e.port)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  epmds.clear();
}
function installEpmdNet(): void {
  if (epmdNetInstalled) return;
  epmdNetInstalled = true;
  process.on('exit', killEpmdsSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killEpmdsSync();
      process.removeListener(signal, handler);
      // like the server-process safety net: die by the signal unless someone else handles it
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

export async function startRabbitMq(opts: StartRabbitMqOptions = {}): Promise<RabbitMqInstance> {
  const keepDir = opts.keepDir ?? process.env.CAFKIT_KEEP_RABBITMQ_DIR === '1';
  installEpmdNet();
  const server = await startServerInstance({
    kind: 'RabbitMQ',
    script: join(repoDir, 'scripts', 'rabbitmq'),
    dirPrefix: 'cafkit-mq-',
    pidFile: 'rabbitmq.pid',
    envFile: 'rabbitmq.env',
    isOurs: (pid, dir) => isRabbitMqProcess(pid, dir),
    ports: 8,
    scriptEnv: (dir, [amqp, amqps, stomp, stomps, ws, wss, dist, epmd]) => ({
      CAFKIT_RABBITMQ_DIR: dir,
      CAFKIT_ORG_ID: String(opts.orgId ?? 201),
      CAFKIT_RABBITMQ_AMQP_PORT: String(amqp),
      CAFKIT_RABBITMQ_AMQPS_PORT: String(amqps),
      CAFKIT_RABBITMQ_STOMP_PORT: String(stomp),
      CAFKIT_RABBITMQ_STOMPS_PORT: String(stomps),
      CAFKIT_RABBITMQ_WS_PORT: String(ws),
      CAFKIT_RABBITMQ_WSS_PORT: String(wss),
      CAFKIT_RABBITMQ_DIST_PORT: String(dist),
      CAFKIT_RABBITMQ_EPMD_PORT: String(epmd),
    }),
    portTaken: /already in use|eaddrinuse/,
    keepDir,
    startTimeoutMs: START_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  const { dir, need } = server;
  const port = (key: string): number => Number(need(`CAFKIT_RABBITMQ_${key}_PORT`));
  const ports = {
    amqp: port('AMQP'),
    amqps: port('AMQPS'),
    stomp: port('STOMP'),
    stomps: port('STOMPS'),
    ws: port('WS'),
    wss: port('WSS'),
    dist: port('DIST'),
    epmd: port('EPMD'),
  };
  const epmdPidFile = need('CAFKIT_RABBITMQ_EPMD_PID_FILE');
  const epmdEntry = { pidFile: epmdPidFile, port: ports.epmd, lastPid: readPid(epmdPidFile) };
  epmds.set(dir, epmdEntry);
  const ca = need('CAFKIT_RABBITMQ_CA');

  return {
    urls: {
      stomp: `stomp://127.0.0.1:${ports.stomp}`,
      stompSsl: `stomp+ssl://localhost:${ports.stomps}`,
      ws: `ws://127.0.0.1:${ports.ws}/ws`,
      wss: `wss://localhost:${ports.wss}/ws`,
      amqp: `amqp://127.0.0.1:${ports.amqp}`,
      amqps: `amqps://localhost:${ports.amqps}`,
    },
    ports,
    orgId: Number(need('CAFKIT_ORG_ID')),
    processor: { user: need('CAFKIT_RABBITMQ_PROCESSOR_USER'), password: need('CAFKIT_RABBITMQ_PROCESSOR_PASSWORD') },
    platform: { user: need('CAFKIT_RABBITMQ_PLATFORM_USER'), password: need('CAFKIT_RABBITMQ_PLATFORM_PASSWORD') },
    ca,
    certsDir: dirname(ca),
    nodeName: need('CAFKIT_RABBITMQ_NODENAME'),
    dir,
    env: server.env,
    pid: server.pid,
    epmdPid(): number | undefined {
      const pid = readPid(epmdPidFile);
      return pid !== undefined && isEpmdProcess(pid, ports.epmd) ? pid : undefined;
    },
    stop: server.stop,
    async start(): Promise<void> {
      await server.start();
      epmdEntry.lastPid = readPid(epmdPidFile);
      epmds.set(dir, epmdEntry);
    },
    async dispose(): Promise<void> {
      await server.dispose();
      epmds.delete(dir);
    },
    logTail(lines = 50): string {
      return tailFile(need('CAFKIT_RABBITMQ_LOG'), lines) ?? tailFile(join(dir, 'server.log'), lines) ?? `(no log in ${dir})`;
    },
  };
}
