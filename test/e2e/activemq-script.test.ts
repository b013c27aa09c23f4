// e2e: scripts/activemq + test/support/activemq.ts against a real ActiveMQ 5.17
// broker: TLS with the dev CA, STOMP 1.2 authentication, the per-org
// authorization map, persistence across stop/start, and stop-by-pid.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { isBrokerProcess, startBroker } from '../support/activemq.js';
import type { BrokerInstance } from '../support/activemq.js';
import { assertGone } from '../support/server-process.js';

const DEADLINE_MS = 10_000;

// ---- tiny raw STOMP frame helper ------------------------------------------------

interface Frame {
  command: string;
  headers: Record<string, string>;
  body: string;
}

function unescapeHeader(value: string): string {
  return value.replace(/\\([rnc\\])/g, (_m, c: string) =>
    c === 'r' ? '\r' : c === 'n' ? '\n' : c === 'c' ? ':' : '\\',
  );
}

function escapeHeader(value: string): string {
  return value.replace(/[\\\r\n:]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\r' ? '\\r' : c === '\n' ? '\\n' : '\\c',
  );
}

function parseFrame(raw: string): Frame {
  const text = raw.replace(/^(\r?\n)+/, ''); // heart-beat EOLs between frames
  const headerEnd = text.search(/\r?\n\r?\n/);
  const head = headerEnd === -1 ? text : text.slice(0, headerEnd);
  const body = headerEnd === -1 ? '' : text.slice(headerEnd).replace(/^\r?\n\r?\n/, '');
  const [command = '', ...lines] = head.split(/\r?\n/);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i === -1) continue;
    const key = unescapeHeader(line.slice(0, i));
    if (!(key in headers)) headers[key] = unescapeHeader(line.slice(i + 1)); // first one wins (STOMP 1.2)
  }
  return { command, headers, body };
}

class RawStomp {
  private buffer = '';
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;
  private failure: Error | undefined;

  private constructor(private readonly socket: TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nul: number;
      while ((nul = this.buffer.indexOf('\0')) !== -1) {
        const raw = this.buffer.slice(0, nul);
        this.buffer = this.buffer.slice(nul + 1);
        if (raw.replace(/[\r\n]/g, '') !== '') this.frames.push(parseFrame(raw));
      }
      this.wake();
    });
    socket.on('error', (err) => {
      this.failure = err;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** TLS connection verified against the dev CA with host name `localhost`. */
  static open(broker: BrokerInstance): Promise<RawStomp> {
    return new Promise((resolvePromise, reject) => {
      const socket = connect({
        host: broker.host,
        port: broker.sslPort,
        ca: readFileSync(broker.ca),
        servername: 'localhost',
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`TLS connect to ${broker.url} timed out`));
      }, DEADLINE_MS);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolvePromise(new RawStomp(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  send(command: string, headers: Record<string, string>, body = ''): void {
    const lines = Object.entries(headers).map(([k, v]) =>
      command === 'CONNECT' ? `${k}:${v}` : `${escapeHeader(k)}:${escapeHeader(v)}`,
    );
    this.socket.write(`${command}\n${lines.join('\n')}\n\n${body}\0`);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Next frame from the broker; rejects on close or after the deadline. */
  async next(what = 'frame', timeoutMs = DEADLINE_MS): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) return frame;
      if (this.failure) throw this.failure;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolvePromise) => {
        const timer = setTimeout(resolvePromise, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolvePromise();
        };
      });
    }
  }

  /** Resolves when the broker has closed the connection (or the deadline passes). */
  async closedByPeer(timeoutMs = DEADLINE_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolvePromise) => {
        const timer = setTimeout(resolvePromise, deadline - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolvePromise();
        };
      });
    }
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

async function login(broker: BrokerInstance, user: string, password: string): Promise<{ stomp: RawStomp; reply: Frame }> {
  const stomp = await RawStomp.open(broker);
  stomp.send('CONNECT', {
    'accept-version': '1.2',
    host: 'localhost',
    login: user,
    passcode: password,
  });
  return { stomp, reply: await stomp.next('CONNECT reply') };
}

async function connected(broker: BrokerInstance, who: { user: string; password: string }): Promise<RawStomp> {
  const { stomp, reply } = await login(broker, who.user, who.password);
  assert.equal(reply.command, 'CONNECTED', `login as ${who.user}: ${JSON.stringify(reply)}`);
  return stomp;
}

// ---- tests --------------------------------------------------------------------------

describe('scripts/activemq private broker', () => {
  let broker: BrokerInstance | undefined;
  const open: RawStomp[] = [];
  const track = (s: RawStomp): RawStomp => {
    open.push(s);
    return s;
  };
  const b = (): BrokerInstance => {
    assert.ok(broker, 'broker did not start');
    return broker;
  };

  before(async () => {
    broker = await startBroker({ orgId: 201 });
  });

  after(async () => {
    for (const s of open) s.close();
    if (broker) {
      try {
        await broker.dispose();
      } catch (err) {
        // make sure the JVM goes even if the script failed
        const pid = broker.pid();
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
        throw err;
      }
    }
  });

  test('instance description comes from broker.env', () => {
    const br = b();
    assert.match(br.url, /^stomp\+ssl:\/\/localhost:\d+$/);
    assert.match(br.plainUrl, /^stomp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(br.host, 'localhost');
    assert.notEqual(br.sslPort, br.plainPort);
    assert.equal(br.orgId, 201);
    assert.equal(br.processor.user, 'cafkit-processor');
    assert.equal(br.platform.user, 'co3-platform');
    assert.equal(br.admin.user, 'admin');
    for (const pw of [br.processor.password, br.platform.password, br.admin.password]) {
      assert.match(pw, /^[0-9a-f]{64}$/);
    }
    assert.equal(br.certsDir, join(br.ca, '..'));
    assert.ok(br.pid(), 'pid of the running broker');
  });

  test('TLS port verifies against ca.pem for host name localhost', async () => {
    const br = b();
    const socket = connect({ host: br.host, port: br.sslPort, ca: readFileSync(br.ca), servername: 'localhost' });
    try {
      await handshake(socket);
      assert.equal(socket.authorized, true, String(socket.authorizationError));
      assert.equal(socket.getPeerCertificate().subject.CN, 'localhost');
    } finally {
      socket.destroy();
    }
  });

  test('TLS port does not verify against an unrelated CA', async () => {
    const br = b();
    const socket = connect({
      host: br.host,
      port: br.sslPort,
      ca: readFileSync(join(br.certsDir, 'rogue-ca.pem')),
      servername: 'localhost',
      rejectUnauthorized: false,
    });
    try {
      await handshake(socket);
      assert.equal(socket.authorized, false);
    } finally {
      socket.destroy();
    }
  });

  test('STOMP CONNECT: processor user gets CONNECTED, wrong password gets ERROR', async () => {
    const br = b();
    const ok = await login(br, br.processor.user, br.processor.password);
    track(ok.stomp);
    assert.equal(ok.reply.command, 'CONNECTED', JSON.stringify(ok.reply));
    assert.equal(ok.reply.headers.version, '1.2');

    const bad = await login(br, br.processor.user, `${br.processor.password}x`);
    track(bad.stomp);
    assert.equal(bad.reply.command, 'ERROR', JSON.stringify(bad.reply));
    assert.match(bad.reply.headers.message ?? '', /invalid/i);
  });

  test('authorization: processor reads actions, writes acks and DLQ.actions, cannot write actions', async () => {
    const br = b();
    const org = br.orgId;
    const processor = track(await connected(br, br.processor));

    processor.send('SUBSCRIBE', { id: 'sub-1', destination: `/queue/actions.${org}.x`, ack: 'client-individual', receipt: 'r-sub' });
    const subReply = await processor.next('RECEIPT for SUBSCRIBE');
    assert.equal(subReply.command, 'RECEIPT', JSON.stringify(subReply));
    assert.equal(subReply.headers['receipt-id'], 'r-sub');

    for (const dest of [`/queue/acks.${org}.x`, `/queue/DLQ.actions.${org}.x`]) {
      processor.send('SEND', { destination: dest, receipt: `r-${dest}`, 'content-type': 'text/plain' }, 'hello');
      const reply = await processor.next(`RECEIPT for SEND ${dest}`);
      assert.equal(reply.command, 'RECEIPT', `${dest}: ${JSON.stringify(reply)}`);
      assert.equal(reply.headers['receipt-id'], `r-${dest}`);
    }

    // the platform user may write actions; the subscribed processor receives it
    const platform = track(await connected(br, br.platform));
    platform.send('SEND', { destination: `/queue/actions.${org}.x`, receipt: 'r-plat', persistent: 'true' }, '{"n":1}');
    const platReply = await platform.next('RECEIPT for platform SEND');
    assert.equal(platReply.command, 'RECEIPT', JSON.stringify(platReply));
    const msg = await processor.next('MESSAGE on actions queue');
    assert.equal(msg.command, 'MESSAGE', JSON.stringify(msg));
    assert.equal(msg.body, '{"n":1}');
    assert.equal(msg.headers.destination, `/queue/actions.${org}.x`);
    assert.ok(msg.headers.ack, 'STOMP 1.2 MESSAGE has an ack header');
    processor.send('ACK', { id: msg.headers.ack ?? '', receipt: 'r-ack' });
    const ackReply = await processor.next('RECEIPT for ACK');
    assert.equal(ackReply.command, 'RECEIPT', JSON.stringify(ackReply));

    // the processor may not write to the actions queue (own connection: ERROR may close it)
    const denied = track(await connected(br, br.processor));
    denied.send('SEND', { destination: `/queue/actions.${org}.x`, receipt: 'r-denied' }, 'nope');
    const err = await denied.next('ERROR for unauthorized SEND');
    assert.equal(err.command, 'ERROR', JSON.stringify(err));
    assert.match(`${err.headers.message ?? ''} ${err.body}`, /not authorized/i);

    // nor read another org's actions
    const otherOrg = track(await connected(br, br.processor));
    otherOrg.send('SUBSCRIBE', { id: 'sub-2', destination: `/queue/actions.${org + 1}.x`, receipt: 'r-other' });
    const otherReply = await otherOrg.next('reply to SUBSCRIBE of another org');
    assert.equal(otherReply.command, 'ERROR', JSON.stringify(otherReply));
  });

  test('a persistent message survives stop()/start() of the same instance', async () => {
    const br = b();
    const dest = `/queue/actions.${br.orgId}.persist`;
    const platform = await connected(br, br.platform);
    platform.send('SEND', { destination: dest, receipt: 'r-p', persistent: 'true' }, 'kept');
    assert.equal((await platform.next('RECEIPT for persistent SEND')).command, 'RECEIPT');
    platform.close();

    const before = br.pid();
    await br.stop();
    assert.equal(br.pid(), undefined);
    await br.start();
    const afterPid = br.pid();
    assert.ok(afterPid !== undefined && afterPid !== before, 'a new broker JVM');

    const processor = track(await connected(br, br.processor));
    processor.send('SUBSCRIBE', { id: 'sub-p', destination: dest, ack: 'auto' });
    const msg = await processor.next('persisted MESSAGE');
    assert.equal(msg.command, 'MESSAGE', JSON.stringify(msg));
    assert.equal(msg.body, 'kept');
  });

  test('stop() leaves no process with the broker pid', async () => {
    const br = b();
    const pid = br.pid();
    assert.ok(pid !== undefined, 'broker running before stop');
    await br.stop();
    assertGone(pid, (p) => isBrokerProcess(p), () => br.logTail(20));
    assert.equal(br.pid(), undefined);
  });
});

/** Resolves when the TLS handshake completes, rejects on a socket error or after the deadline. */
function handshake(socket: TLSSocket): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error('TLS handshake timed out')), DEADLINE_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
