// e2e: the syslog alert channel (lib/sinks/syslog.ts) against a real rsyslog
// 8.2302 (scripts/rsyslog): UDP, TCP, TLS (verified, and with a client
// certificate whose key is encrypted), the local socket through logger,
// RFC 5424 and RFC 3164 as rsyslog parses them, base64, the size cut, refused
// certificates (a tiny Node TLS server with the rogue and wrong-host
// certificates), and a Reporter that keeps every activity, once and in order,
// across an rsyslog stop and start.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { ActivityEvent, ActivityRecord, ActivityStatus } from '../../lib/activity/record.js';
import { Reporter } from '../../lib/activity/reporter.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { verifyRecords } from '../../lib/activity/verify.js';
import { SyslogChannelSchema } from '../../lib/config/alerting.js';
import type { Log } from '../../lib/log/log.js';
import { scrub } from '../../lib/log/redact.js';
import { createSyslogSink } from '../../lib/sinks/syslog.js';
import { startRsyslog, type ReceivedSyslog, type RsyslogInstance } from '../support/rsyslog.js';
import { eventually } from '../support/stack.js';
import { RecordFactory } from '../support/syslog-records.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const ORIGIN = `[origin software="cafkit" swVersion="${VERSION}"]`;
const WAIT_MS = 20_000;

/** A log that keeps every line, to check what reached it. */
function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string, meta?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(meta ?? {})}`);
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}

/** The activity text in a received MSG (canonical JSON, or base64 of it). */
function activityJson(m: ReceivedSyslog): string {
  const text = m.msg.trim();
  return text.startsWith('{') ? text : Buffer.from(text, 'base64').toString('utf8');
}

function executionId(m: ReceivedSyslog): string | undefined {
  try {
    return (JSON.parse(activityJson(m)) as ActivityRecord).execution_id;
  } catch {
    return undefined;
  }
}

describe('syslog alert channel against rsyslog', () => {
  let rsyslog: RsyslogInstance;
  let records: RecordFactory;
  let certs: string;
  const log = recordingLog();
  const home = mkdtempSync(join(os.tmpdir(), 'cafkit-syslog-home-'));
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    rsyslog = await startRsyslog();
    records = new RecordFactory();
    certs = dirname(rsyslog.ca);
  });

  after(async () => {
    await Promise.allSettled(closers.map((close) => close()));
    try {
      await rsyslog?.dispose();
    } finally {
      records?.dispose();
      rmSync(home, { recursive: true, force: true });
    }
  });

  function sink(options: Record<string, unknown>) {
    const s = createSyslogSink(SyslogChannelSchema.parse({ enable: true, remote: true, host: '127.0.0.1', ...options }), { log, home });
    closers.push(() => s.close());
    return s;
  }

  /** Waits until `count` messages with APP-NAME `tag` have arrived; returns them in arrival order. */
  function received(tag: string, count: number): Promise<ReceivedSyslog[]> {
    return eventually(() => {
      const got = rsyslog.messages().filter((m) => m.appName === tag);
      return got.length >= count ? got : undefined;
    }, `${count} syslog message(s) tagged ${tag}\n${rsyslog.logTail(10)}`, WAIT_MS);
  }

  async function assertVerifies(json: string, record: ActivityRecord): Promise<void> {
    const parsed = JSON.parse(json) as ActivityRecord;
    assert.deepEqual(parsed, record);
    // One record of a longer chain: the ones before it are elsewhere.
    const report = await verifyRecords([parsed], records.keyring, { startMayBePruned: true });
    assert.deepEqual(report.problems, []);
  }

  test('UDP, RFC 5424: header fields, origin structured data and the canonical JSON as rsyslog parses them', async () => {
    const s = sink({ protocol: 'udp', port: rsyslog.udpPort, tag: 'cafkit-udp', facility: 'local3' });
    const event = records.event();
    await s.deliver(event);
    const [m] = await received('cafkit-udp', 1);
    assert.equal(m!.input, 'udp');
    assert.equal(m!.protocolVersion, '1');
    assert.equal(m!.pri, String(19 * 8 + 6));
    assert.equal(m!.facility, 'local3');
    assert.equal(m!.severity, 'info');
    assert.equal(m!.hostname, os.hostname());
    assert.equal(m!.procId, String(process.pid));
    assert.equal(m!.msgId, 'activity');
    assert.equal(m!.structuredData, ORIGIN);
    assert.equal(Date.parse(m!.timestamp), Date.parse(event.at), `${m!.timestamp} is the event's time ${event.at}`);
    assert.equal(m!.msg, canonicalRecordText(event.record!));
    await assertVerifies(m!.msg, event.record!);
  });

  test('TCP, octet-counted: a severity per status (defaults and an override) and the configured facility, in order', async () => {
    const s = sink({ protocol: 'tcp', port: rsyslog.tcpPort, tag: 'cafkit-tcp', facility: 'local4', severities: { succeeded: 'notice', timed_out: 'crit' } });
    const statuses: ActivityStatus[] = ['succeeded', 'failed', 'timed_out', 'dead_lettered'];
    const events = statuses.map((status) => records.event({ status }));
    for (const event of events) await s.deliver(event);
    const got = await received('cafkit-tcp', events.length);
    assert.deepEqual(got.map((m) => m.input), ['tcp', 'tcp', 'tcp', 'tcp']);
    assert.deepEqual(got.map((m) => m.severity), ['notice', 'err', 'crit', 'err']);
    assert.deepEqual(got.map((m) => m.pri), ['165', '163', '162', '163']);
    assert.deepEqual(got.map((m) => m.facility), ['local4', 'local4', 'local4', 'local4']);
    assert.deepEqual(got.map((m) => m.msg), events.map((e) => canonicalRecordText(e.record!)));
  });

  test('TCP batch: every frame of a deliverBatch arrives whole and in order', async () => {
    const s = sink({ protocol: 'tcp', port: rsyslog.tcpPort, tag: 'cafkit-batch' });
    const events = Array.from({ length: 25 }, () => records.event());
    await s.deliverBatch!(events);
    const got = await received('cafkit-batch', events.length);
    assert.deepEqual(got.map(executionId), events.map((e) => e.execution_id));
  });

  test('RFC 3164 over TCP: TAG[PID], no MSGID nor structured data, the event time to the second', async () => {
    const s = sink({ protocol: 'tcp', port: rsyslog.tcpPort, tag: 'cafkit-bsd', format: 'rfc3164', facility: 'daemon' });
    const event = records.event({ status: 'failed' });
    await s.deliver(event);
    const [m] = await received('cafkit-bsd', 1);
    assert.equal(m!.protocolVersion, '0');
    assert.equal(m!.facility, 'daemon');
    assert.equal(m!.severity, 'err');
    assert.equal(m!.pri, String(3 * 8 + 3));
    assert.equal(m!.programName, 'cafkit-bsd');
    assert.equal(m!.syslogTag, `cafkit-bsd[${process.pid}]:`);
    assert.equal(m!.procId, String(process.pid));
    assert.equal(m!.hostname, os.hostname());
    assert.equal(m!.msgId, '-');
    assert.equal(m!.structuredData, '-');
    assert.match(m!.rawMsg, /^<27>(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d /);
    // RFC 3164 has no year nor zone: rsyslog takes the local time of this year, to the second.
    assert.equal(Math.floor(Date.parse(m!.timestamp) / 1000), Math.floor(Date.parse(event.at) / 1000));
    // rsyslog keeps the space after "TAG:" in the MSG
    assert.equal(m!.msg, ` ${canonicalRecordText(event.record!)}`);
  });

  test('TLS (RFC 5425) with the server verified against the dev CA', async () => {
    const s = sink({ protocol: 'tls', port: rsyslog.tlsPort, tag: 'cafkit-tls', tls: { ca: rsyslog.ca } });
    const events = [records.event(), records.event({ status: 'timed_out' })];
    for (const event of events) await s.deliver(event);
    const got = await received('cafkit-tls', 2);
    assert.deepEqual(got.map((m) => m.input), ['tls', 'tls']);
    assert.deepEqual(got.map((m) => m.severity), ['info', 'warning']);
    assert.deepEqual(got.map((m) => m.msg), events.map((e) => canonicalRecordText(e.record!)));
  });

  test('TLS with a client certificate whose key is encrypted: the input that requires one takes it; the passphrase never reaches a log', async () => {
    const passphrase = readFileSync(join(certs, 'client-key-passphrase'), 'utf8').trim();
    const s = sink({
      protocol: 'tls', port: rsyslog.tlsAuthPort, tag: 'cafkit-mtls',
      tls: { ca: rsyslog.ca, cert: join(certs, 'client.pem'), key: join(certs, 'client-enc-key.pem'), passphrase, servername: 'localhost' },
    });
    const event = records.event();
    await s.deliver(event);
    const [m] = await received('cafkit-mtls', 1);
    assert.equal(m!.input, 'tls-client-auth');
    assert.equal(m!.msg, canonicalRecordText(event.record!));
    assert.equal(scrub(`key ${passphrase}`), 'key [redacted]', 'the passphrase is registered as a secret');
    assert.ok(!log.lines.some((l) => l.includes(passphrase)));
  });

  test('base64: the MSG decodes to the exact canonical JSON, which parses back to the record and verifies', async () => {
    const s = sink({ protocol: 'udp', port: rsyslog.udpPort, tag: 'cafkit-b64', base64: true });
    const event = records.event({ memory: { note: 'Ünïcode ✓ 😀 "quoted"' } });
    await s.deliver(event);
    const [m] = await received('cafkit-b64', 1);
    assert.match(m!.msg, /^[A-Za-z0-9+/]+=*$/);
    const decoded = Buffer.from(m!.msg, 'base64').toString('utf8');
    assert.equal(decoded, canonicalRecordText(event.record!));
    await assertVerifies(decoded, event.record!);
  });

  test('max_message_bytes: a longer activity arrives cut to the limit, marked with the bytes left out', async () => {
    const s = sink({ protocol: 'tcp', port: rsyslog.tcpPort, tag: 'cafkit-cut', max_message_bytes: 1500 });
    const event = records.event({ memory: { blob: 'ü✓'.repeat(3000) } });
    const full = canonicalRecordText(event.record!);
    await s.deliver(event);
    const [m] = await received('cafkit-cut', 1);
    // Cut on a character boundary: up to 3 bytes short of the limit (a UTF-8 character has at most 4).
    const size = Buffer.byteLength(m!.rawMsg, 'utf8');
    assert.ok(size <= 1500 && size > 1500 - 4, `${size} bytes`);
    assert.ok(!m!.msg.includes('\ufffd'), 'no character split');
    const cut = /^([\s\S]*)…\[cut: (\d+) bytes\]$/.exec(m!.msg);
    assert.ok(cut, `ends with the cut marker: ${m!.msg.slice(-40)}`);
    assert.ok(full.startsWith(cut[1]!), 'the kept part is the start of the activity');
    assert.equal(Buffer.byteLength(cut[1]!, 'utf8') + Number(cut[2]), Buffer.byteLength(full, 'utf8'));
  });

  test('local socket (logger), RFC 5424: APP-NAME, our PID, MSGID, origin element, severity by status', async () => {
    const s = sink({ remote: false, socket: rsyslog.socket, tag: 'cafkit-local', facility: 'local2' });
    const events = [records.event(), records.event({ status: 'dead_lettered' })];
    await s.deliver(events[0]!);
    await s.deliverBatch!([events[1]!]);
    const got = await received('cafkit-local', 2);
    assert.deepEqual(got.map((m) => m.input), ['imuxsock', 'imuxsock']);
    assert.deepEqual(got.map((m) => m.severity), ['info', 'err']);
    assert.deepEqual(got.map((m) => m.facility), ['local2', 'local2']);
    assert.deepEqual(got.map((m) => m.procId), [String(process.pid), String(process.pid)]);
    assert.deepEqual(got.map((m) => m.msgId), ['activity', 'activity']);
    assert.deepEqual(got.map((m) => m.structuredData), [ORIGIN, ORIGIN]);
    assert.deepEqual(got.map((m) => m.protocolVersion), ['1', '1']);
    assert.deepEqual(got.map((m) => m.msg), events.map((e) => canonicalRecordText(e.record!)));
  });

  test('local socket (logger), RFC 3164 and a cut: TAG[PID] and never more than max_message_bytes', async () => {
    const s = sink({ remote: false, socket: rsyslog.socket, tag: 'cafkit-local-bsd', format: 'rfc3164', max_message_bytes: 1024 });
    const event = records.event({ status: 'timed_out', memory: { blob: 'x'.repeat(5000) } });
    await s.deliver(event);
    const [m] = await received('cafkit-local-bsd', 1);
    assert.equal(m!.syslogTag, `cafkit-local-bsd[${process.pid}]:`);
    assert.equal(m!.severity, 'warning');
    assert.ok(Buffer.byteLength(m!.rawMsg, 'utf8') <= 1024, `${Buffer.byteLength(m!.rawMsg, 'utf8')} bytes`);
    const cut = /^ ([\s\S]*)…\[cut: (\d+) bytes\]$/.exec(m!.msg);
    assert.ok(cut, m!.msg.slice(-40));
    assert.equal(Buffer.byteLength(cut[1]!, 'utf8') + Number(cut[2]), Buffer.byteLength(canonicalRecordText(event.record!), 'utf8'));
  });

  test('local socket missing: deliver throws naming the socket', async () => {
    const missing = join(rsyslog.dir, 'no-such.sock');
    const s = sink({ remote: false, socket: missing, tag: 'cafkit-nosock', timeout_ms: 5_000 });
    await assert.rejects(s.deliver(records.event()), (error: Error) => {
      assert.match(error.message, /syslog local .*no-such\.sock/);
      assert.match(error.message, /No such file or directory|exited/);
      return true;
    });
  });

  describe('certificates that do not verify are refused before anything is sent', () => {
    let server: tls.Server;
    let port: number;
    let bytesReceived = 0;

    async function serve(cert: string, key: string): Promise<void> {
      server?.close();
      bytesReceived = 0;
      server = tls.createServer({ cert: readFileSync(join(certs, cert)), key: readFileSync(join(certs, key)) }, (socket) => {
        socket.on('data', (chunk: Buffer) => (bytesReceived += chunk.length));
        socket.on('error', () => {});
      });
      server.on('tlsClientError', () => {});
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as { port: number }).port;
    }

    after(() => server?.close());

    test('a server certificate from an untrusted CA', async () => {
      await serve('rogue.pem', 'rogue-key.pem');
      const s = sink({ protocol: 'tls', port, tag: 'cafkit-rogue', tls: { ca: rsyslog.ca }, timeout_ms: 5_000 });
      await assert.rejects(s.deliver(records.event()), /syslog tls 127\.0\.0\.1:\d+: the server's TLS certificate does not verify .*nothing was sent/);
      assert.equal(bytesReceived, 0);
    });

    test('a certificate of the dev CA for another host name', async () => {
      await serve('wronghost.pem', 'wronghost-key.pem');
      const s = sink({ protocol: 'tls', port, tag: 'cafkit-wronghost', tls: { ca: rsyslog.ca }, timeout_ms: 5_000 });
      await assert.rejects(s.deliver(records.event()), /does not verify \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
      assert.equal(bytesReceived, 0);
    });
  });

  describe('rsyslog stopped and started again (same instance, same ports)', () => {
    const spillDirs: string[] = [];
    after(() => spillDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

    function reporterFor(s: ReturnType<typeof sink>): Reporter {
      const spillDir = mkdtempSync(join(os.tmpdir(), 'cafkit-syslog-spill-'));
      spillDirs.push(spillDir);
      const reporter = new Reporter([s], { spillDir, retry: { initialMs: 50, maxMs: 200 }, log });
      closers.unshift(async () => void (await reporter.drain(1_000)));
      return reporter;
    }

    function assertOnceInOrder(got: ReceivedSyslog[], events: ActivityEvent[]): void {
      assert.deepEqual(got.map(executionId), events.map((e) => e.execution_id), 'every activity exactly once, in order');
    }

    for (const protocol of ['tcp', 'tls'] as const) {
      test(`${protocol}: activities reported while rsyslog is down all arrive once, in order, after it is back`, async () => {
        const tag = `cafkit-down-${protocol}`;
        const port = protocol === 'tcp' ? rsyslog.tcpPort : rsyslog.tlsPort;
        const s = sink({ protocol, port, tag, tls: { ca: rsyslog.ca }, timeout_ms: 2_000 });
        const reporter = reporterFor(s);
        const first = records.event();
        reporter.report(first);
        await received(tag, 1);

        await rsyslog.stop();
        const down = Array.from({ length: 20 }, (_, i) => records.event({ status: i % 3 === 0 ? 'failed' : 'succeeded' }));
        for (const event of down) reporter.report(event);
        await eventually(() => (reporter.stats()['syslog']!.failed_attempts >= 2 ? true : undefined), 'the reporter to retry syslog', WAIT_MS);
        assert.equal(rsyslog.messages().filter((m) => m.appName === tag).length, 1, 'nothing arrived while rsyslog was down');

        await rsyslog.start();
        const got = await received(tag, 1 + down.length);
        assertOnceInOrder(got, [first, ...down]);
        // rsyslog can have the lines before the sink's write callback has run: wait for the reporter's count.
        const stats = await eventually(() => {
          const now = reporter.stats()['syslog']!;
          return now.delivered === 1 + down.length ? now : undefined;
        }, 'the reporter to count every delivery', WAIT_MS).catch(() => reporter.stats()['syslog']!);
        assert.equal(stats.delivered, 1 + down.length);
        assert.equal(stats.queued, 0);
      });

      test(`${protocol}: the first write after a graceful stop and start goes through a new connection, nothing lost`, async () => {
        const tag = `cafkit-restart-${protocol}`;
        const port = protocol === 'tcp' ? rsyslog.tcpPort : rsyslog.tlsPort;
        const s = sink({ protocol, port, tag, tls: { ca: rsyslog.ca }, timeout_ms: 2_000 });
        const reporter = reporterFor(s);
        const first = records.event();
        reporter.report(first);
        await received(tag, 1);

        await rsyslog.stop();
        await rsyslog.start();
        const later = Array.from({ length: 10 }, () => records.event());
        for (const event of later) reporter.report(event);
        const got = await received(tag, 1 + later.length);
        assertOnceInOrder(got, [first, ...later]);
        const stats = await eventually(() => {
          const now = reporter.stats()['syslog']!;
          return now.delivered === 1 + later.length ? now : undefined;
        }, 'the reporter to count every delivery', WAIT_MS).catch(() => reporter.stats()['syslog']!);
        assert.equal(stats.delivered, 1 + later.length);
        assert.equal(stats.failed_attempts, 0, 'the connection the server closed was dropped, not written into');
      });
    }

    test('local socket: logger exits while the socket is gone (deliver throws), and a new one delivers once it is back', async () => {
      const tag = 'cafkit-local-restart';
      const s = sink({ remote: false, socket: rsyslog.socket, tag, timeout_ms: 2_000 });
      const reporter = reporterFor(s);
      const first = records.event();
      reporter.report(first);
      await received(tag, 1);

      await rsyslog.stop();
      await assert.rejects(s.deliver(records.event()), /syslog local .*log\.sock/);
      const down = Array.from({ length: 5 }, () => records.event());
      for (const event of down) reporter.report(event);
      await eventually(() => (reporter.stats()['syslog']!.failed_attempts >= 2 ? true : undefined), 'the reporter to retry syslog', WAIT_MS);

      await rsyslog.start();
      const got = await received(tag, 1 + down.length);
      assertOnceInOrder(got, [first, ...down]);
    });
  });
});
