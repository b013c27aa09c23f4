import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import os from 'node:os';
import type { ActivityEvent } from '../activity/record.js';
import type { ActivitySink } from '../activity/sink.js';
import type { SyslogChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { packageVersion } from '../activity/system.js';
import { registerSecret } from '../log/redact.js';
import { activityText, finalRecords, tlsConnectOptions } from './channel.js';
import { LocalSyslog, loggerArgs, loggerLine } from './syslog-local.js';
import { octetFrame, sdElement, severityFor, syslogHeader, syslogMessage, syslogPri } from './syslog-format.js';
import { SyslogStream } from './syslog-stream.js';

/** RFC 5424 MSGID of every message. */
export const SYSLOG_MSGID = 'activity';

/**
 * Room kept for the header `logger` writes in local mode, beyond the size of
 * ours: its RFC 5424 timestamp has microseconds, ours milliseconds.
 */
const LOGGER_HEADER_SLACK = 8;

/**
 * The syslog channel: each final activity (the signed record) as one syslog
 * message, RFC 5424 (default) or RFC 3164, whose MSG is the record's
 * canonical JSON (base64 with `base64`), cut to `max_message_bytes` with a
 * `…[cut: N bytes]` marker. PRI is `facility` × 8 + the severity of the
 * record's status (`severities`, else succeeded→info, failed and
 * dead_lettered→err, timed_out→warning, received and running→notice).
 *
 * RFC 5424 messages read
 * `<PRI>1 TIMESTAMP HOSTNAME TAG PID activity [origin software="cafkit" swVersion="…"] MSG`,
 * RFC 3164 ones `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, with the event's time.
 *
 * Where they go:
 * - `remote` + `udp`: one datagram each (port 514). Fire and forget: a lost
 *   datagram goes unnoticed.
 * - `remote` + `tcp`: one persistent connection (port 514), RFC 6587
 *   octet-counting framing, reconnected on demand.
 * - `remote` + `tls`: the same over TLS (RFC 5425, port 6514), verified
 *   against `tls.ca` (or the system CAs), with a client certificate when
 *   `tls.cert`/`tls.key` (and `passphrase`) are given.
 * - local (`remote: false`): the host's syslog socket `socket`, through a
 *   long-lived util-linux `logger` (see {@link LocalSyslog}). logger writes
 *   the header itself, so the receiver sees logger's timestamp (the time it
 *   was sent, with microseconds) instead of the event's, and a `kern`
 *   facility becomes `user`; PRI, HOSTNAME, TAG, PID, MSGID, the `origin`
 *   element and the MSG are as above.
 *
 * `deliver` throws (and the reporter retries) when the message cannot be
 * handed over: no connection, a certificate that does not verify, logger not
 * running. Over TCP and TLS, a write counts once the kernel has taken it.
 *
 * @example
 * const sink = createSyslogSink(SyslogChannelSchema.parse({ enable: true, remote: true, protocol: 'tls', host: 'logs.example', tls: { ca: 'ca.pem' } }), { log, home });
 * const reporter = new Reporter([sink], { spillDir, log });
 * await sink.close();
 */
export function createSyslogSink(config: SyslogChannel, deps: { log: Log; home: string }): ActivitySink & { close(): Promise<void> } {
  registerSecret(config.tls.passphrase);
  const hostname = os.hostname();
  const procId = process.pid;
  const version = packageVersion();
  const structuredData = sdElement('origin', { software: 'cafkit', swVersion: version });
  const headerOf = (event: ActivityEvent, status: NonNullable<ActivityEvent['record']>['status']) => syslogHeader({
    format: config.format,
    facility: config.facility,
    severity: severityFor(status, config.severities),
    date: new Date(event.at),
    hostname,
    appName: config.tag,
    procId: String(procId),
    msgId: SYSLOG_MSGID,
    structuredData,
  });
  /** The whole message, or `undefined` for an event without a record (not one this sink accepts). */
  const messageOf = (event: ActivityEvent): string | undefined => {
    if (!event.record) return undefined;
    return syslogMessage(headerOf(event, event.record.status), activityText(event.record, config.base64), config.max_message_bytes);
  };
  const base = { name: 'syslog', accepts: finalRecords(config.statuses) } as const;

  if (!config.remote) {
    const local = new LocalSyslog(loggerArgs({
      socket: config.socket, format: config.format, tag: config.tag, procId, software: 'cafkit', swVersion: version, maxMessageBytes: config.max_message_bytes,
    }), { socket: config.socket, timeoutMs: config.timeout_ms, log: deps.log });
    const lineOf = (event: ActivityEvent): string | undefined => {
      if (!event.record) return undefined;
      const severity = severityFor(event.record.status, config.severities);
      const header = headerOf(event, event.record.status);
      const msg = syslogMessage(header, activityText(event.record, config.base64), config.max_message_bytes - LOGGER_HEADER_SLACK).slice(header.length);
      return loggerLine(syslogPri(config.facility, severity), msg);
    };
    const send = (events: readonly ActivityEvent[]) => local.send(events.map(lineOf).filter((l): l is string => l !== undefined));
    return { ...base, deliver: (event) => send([event]), deliverBatch: send, close: () => local.close() };
  }

  if (config.protocol === 'udp') {
    const udp = new SyslogUdp(config.host, config.port ?? 514, config.timeout_ms, deps.log);
    return {
      ...base,
      deliver: async (event) => {
        const message = messageOf(event);
        if (message !== undefined) await udp.send(Buffer.from(message, 'utf8'));
      },
      close: () => udp.close(),
    };
  }

  const stream = new SyslogStream({
    protocol: config.protocol,
    host: config.host,
    port: config.port ?? (config.protocol === 'tls' ? 6514 : 514),
    timeoutMs: config.timeout_ms,
    tls: config.protocol === 'tls' ? tlsConnectOptions('syslog', config.tls, config.host, deps.log) : undefined,
    log: deps.log,
  });
  const frames = (events: readonly ActivityEvent[]): Buffer => Buffer.concat(
    events.map(messageOf).filter((m): m is string => m !== undefined).map(octetFrame),
  );
  const write = async (events: readonly ActivityEvent[]): Promise<void> => {
    const data = frames(events);
    if (data.length > 0) await stream.write(data);
  };
  return { ...base, deliver: (event) => write([event]), deliverBatch: write, close: () => stream.close() };
}

/**
 * Syslog over UDP: one connected datagram socket (so an ICMP "port
 * unreachable" is reported on a later send), one datagram per message.
 */
class SyslogUdp {
  private socket: dgram.Socket | undefined;
  private opening: Promise<dgram.Socket> | undefined;
  private readonly where: string;

  constructor(private readonly host: string, private readonly port: number, private readonly timeoutMs: number, private readonly log: Log) {
    this.where = `syslog udp ${host}:${port}`;
  }

  async send(datagram: Buffer): Promise<void> {
    const socket = this.socket ?? (await (this.opening ??= this.open().finally(() => (this.opening = undefined))));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reset(socket);
        reject(new Error(`${this.where}: send not done within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      socket.send(datagram, (error) => {
        clearTimeout(timer);
        if (error) {
          this.reset(socket);
          reject(new Error(`${this.where}: send failed: ${error.message}`));
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket ?? (await this.opening?.catch(() => undefined));
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  private async open(): Promise<dgram.Socket> {
    try {
      const { address, family } = await lookup(this.host);
      const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(this.port, address, () => {
          socket.removeListener('error', reject);
          resolve();
        });
      });
      socket.on('error', (error) => {
        this.log.debug('syslog udp socket error', { where: this.where, error: error.message });
        this.reset(socket);
      });
      this.socket = socket;
      return socket;
    } catch (error) {
      throw new Error(`${this.where}: cannot open: ${(error as Error).message}`);
    }
  }

  private reset(socket: dgram.Socket): void {
    if (this.socket === socket) this.socket = undefined;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }
}
