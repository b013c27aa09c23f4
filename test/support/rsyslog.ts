// Test/bench harness: start a PRIVATE rsyslog instance (own temp folder, own
// free loopback ports, own unix socket, own output file) through
// scripts/rsyslog, and always stop it by its own pid, never by name. The
// system's rsyslog (if any), /etc/rsyslog.conf and /dev/log are never touched.
//
//   const rsyslog = await startRsyslog();
//   after(() => rsyslog.dispose());
//
// Every message the server receives lands in messages.jsonl, one JSON object a
// line; messages() reads them back, with the input they came in through.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoDir } from './activemq.js';
import { liveProcessArgs, startServerInstance, tailFile, type ServerInstance } from './server-process.js';

/** One message as rsyslog parsed it (the properties of scripts/rsyslog's template). */
export interface ReceivedSyslog {
  pri: string;
  /** `user`, `local4`… */
  facility: string;
  /** `info`, `err`… */
  severity: string;
  hostname: string;
  /** APP-NAME (RFC 5424) or the TAG's name (RFC 3164). */
  appName: string;
  programName: string;
  syslogTag: string;
  procId: string;
  msgId: string;
  structuredData: string;
  /** TIMESTAMP as rsyslog understood it (RFC 3339). */
  timestamp: string;
  /** `1` for RFC 5424, `0` for RFC 3164. */
  protocolVersion: string;
  msg: string;
  /** The message as received (without the octet count of TCP framing). */
  rawMsg: string;
  /** The input it came in through: `udp`, `tcp`, `tls`, `tls-client-auth` or `imuxsock` (the local socket). */
  input: string;
}

/** A private rsyslog instance. */
export interface RsyslogInstance extends ServerInstance {
  host: string; // 127.0.0.1
  udpPort: number;
  tcpPort: number;
  /** TLS (RFC 5425) with the dev broker certificate; no client certificate asked. */
  tlsPort: number;
  /** TLS that requires a client certificate signed by the dev CA. */
  tlsAuthPort: number;
  /** The instance's "local" unix datagram socket (imuxsock). */
  socket: string;
  /** The dev CA that signed the server certificate. */
  ca: string;
  /** messages.jsonl */
  output: string;
  /** Every message received so far, in arrival order. */
  messages(): ReceivedSyslog[];
}

export interface StartRsyslogOptions {
  /** Keep the temp instance folder after the process exits (for debugging). */
  keepDir?: boolean;
}

/** Start can include apt-get install on a fresh machine, hence the long timeout. */
const START_TIMEOUT_MS = 300_000;
/** The script waits 15 s for SIGTERM, then SIGKILLs. */
const STOP_TIMEOUT_MS = 30_000;

/** True when pid is a live (non-zombie) rsyslogd, optionally of the given instance folder. */
export function isRsyslogProcess(pid: number, dir?: string): boolean {
  const args = liveProcessArgs(pid);
  if (!args) return false;
  if (!/(^|\/)rsyslogd$/.test(args[0] ?? '')) return false;
  return dir === undefined || args.includes(join(dir, 'rsyslog.conf'));
}

export async function startRsyslog(opts: StartRsyslogOptions = {}): Promise<RsyslogInstance> {
  const keepDir = opts.keepDir ?? process.env.CAFKIT_KEEP_RSYSLOG_DIR === '1';
  const server = await startServerInstance({
    kind: 'rsyslog',
    script: join(repoDir, 'scripts', 'rsyslog'),
    // A short tmp path keeps the socket path under the 107-byte limit.
    dirPrefix: 'cafkit-rs-',
    pidFile: 'rsyslogd.pid',
    envFile: 'rsyslog.env',
    isOurs: (pid, dir) => isRsyslogProcess(pid, dir),
    ports: 4,
    scriptEnv: (dir, [udp, tcp, tls, tlsAuth]) => ({
      CAFKIT_RSYSLOG_DIR: dir,
      // UDP and TCP port numbers are separate spaces; the free TCP port is free enough for UDP on loopback.
      CAFKIT_RSYSLOG_UDP_PORT: String(udp),
      CAFKIT_RSYSLOG_TCP_PORT: String(tcp),
      CAFKIT_RSYSLOG_TLS_PORT: String(tls),
      CAFKIT_RSYSLOG_TLS_AUTH_PORT: String(tlsAuth),
    }),
    portTaken: /already in use/,
    keepDir,
    startTimeoutMs: START_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  const { dir, need } = server;
  const output = need('CAFKIT_RSYSLOG_OUTPUT');
  return {
    host: need('CAFKIT_RSYSLOG_HOST'),
    udpPort: Number(need('CAFKIT_RSYSLOG_UDP_PORT')),
    tcpPort: Number(need('CAFKIT_RSYSLOG_TCP_PORT')),
    tlsPort: Number(need('CAFKIT_RSYSLOG_TLS_PORT')),
    tlsAuthPort: Number(need('CAFKIT_RSYSLOG_TLS_AUTH_PORT')),
    socket: need('CAFKIT_RSYSLOG_SOCKET'),
    ca: need('CAFKIT_RSYSLOG_CA'),
    output,
    dir,
    env: server.env,
    pid: server.pid,
    stop: server.stop,
    start: server.start,
    dispose: server.dispose,
    logTail(lines = 50): string {
      return tailFile(join(dir, 'rsyslogd.log'), lines) ?? `(no log in ${dir})`;
    },
    messages(): ReceivedSyslog[] {
      if (!existsSync(output)) return [];
      const lines = readFileSync(output, 'utf8').split('\n');
      // The last line may be half written: only whole lines count.
      lines.pop();
      return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ReceivedSyslog);
    },
  };
}
