// e2e: scripts/rsyslog + test/support/rsyslog.ts: a private rsyslogd with its
// own configuration (never /etc/rsyslog.conf, never /dev/log), a second start
// keeps the same process, stop() ends it by its pid and closes its ports, and
// start() brings it back on the same ports with what it had received.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isRsyslogProcess, startRsyslog, type RsyslogInstance } from '../support/rsyslog.js';
import { assertGone } from '../support/server-process.js';
import { eventually } from '../support/stack.js';

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

/** Sends one LF-framed message over plain TCP. */
function sendTcp(port: number, message: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end(`${message}\n`));
    socket.once('error', reject);
    socket.once('close', () => resolvePromise());
  });
}

describe('scripts/rsyslog private server', () => {
  let rs: RsyslogInstance | undefined;
  const r = (): RsyslogInstance => {
    assert.ok(rs, 'rsyslog did not start');
    return rs;
  };

  before(async () => {
    rs = await startRsyslog();
  });

  after(async () => {
    if (!rs) return;
    try {
      await rs.dispose();
    } catch (err) {
      const pid = rs.pid();
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
      throw err;
    }
  });

  test('runs its own configuration from the instance folder, with the system socket off', () => {
    const x = r();
    const pid = x.pid();
    assert.ok(pid !== undefined);
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(args.includes('-n') && args.includes(join(x.dir, 'rsyslog.conf')) && args.includes(join(x.dir, 'rsyslogd.pid')), args.join(' '));
    assert.ok(!args.includes('/etc/rsyslog.conf'));
    const conf = readFileSync(join(x.dir, 'rsyslog.conf'), 'utf8');
    assert.match(conf, /module\(load="imuxsock" SysSock\.Use="off"\)/);
    assert.doesNotMatch(conf, /\/dev\/log|\$IncludeConfig|include\(/);
    assert.equal(x.socket, join(x.dir, 'log.sock'));
    assert.equal(x.env.CAFKIT_RSYSLOG_TCP_PORT, String(x.tcpPort));
    assert.equal(new Set([x.tcpPort, x.tlsPort, x.tlsAuthPort]).size, 3);
  });

  test('start() on a running instance keeps the same process', async () => {
    const x = r();
    const pid = x.pid();
    await x.start();
    assert.equal(x.pid(), pid);
  });

  test('stop() ends the process and closes its ports; start() again serves the same ports and keeps the output', async () => {
    const x = r();
    await sendTcp(x.tcpPort, '<14>1 - - script-test - - - before stop');
    await eventually(() => x.messages().some((m) => m.msg === 'before stop') || undefined, 'the first message', 10_000);

    const pid = x.pid();
    assert.ok(pid !== undefined);
    await x.stop();
    assertGone(pid, (p) => isRsyslogProcess(p), () => x.logTail(20));
    assert.equal(x.pid(), undefined);
    for (const port of [x.tcpPort, x.tlsPort, x.tlsAuthPort]) assert.equal(await portAnswers(port), false, `port ${port} answers after stop()`);
    assert.equal(existsSync(x.socket), false, 'the local socket is gone');
    await x.stop(); // idempotent

    await x.start();
    const again = x.pid();
    assert.ok(again !== undefined && again !== pid, 'a new rsyslogd');
    await sendTcp(x.tcpPort, '<14>1 - - script-test - - - after start');
    const msgs = await eventually(() => {
      const got = x.messages().filter((m) => m.appName === 'script-test').map((m) => m.msg);
      return got.length >= 2 ? got : undefined;
    }, 'the second message', 10_000);
    assert.deepEqual(msgs, ['before stop', 'after start']);
  });
});
