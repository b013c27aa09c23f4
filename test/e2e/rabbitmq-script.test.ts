// e2e: scripts/rabbitmq + test/support/rabbitmq.ts against a real RabbitMQ
// node (Debian rabbitmq-server): every listener answers on loopback with the
// right protocol (STOMP, STOMP over WebSocket, AMQP 1.0 and 0-9-1, each plain
// and over TLS with the dev CA), the generated users log in and guest does
// not, a second start keeps the same node, stop() leaves neither the node nor
// its epmd running, and start() again brings back the same users.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import rhea, { type ConnectionOptions, type EventContext } from 'rhea';
import WebSocket from 'ws';
import { isEpmdProcess, isRabbitMqProcess, startRabbitMq, type RabbitMqInstance, type RabbitMqUser } from '../support/rabbitmq.js';
import { assertGone } from '../support/server-process.js';

/** Every client exchange here ends within this; a hung listener fails the test instead of hanging it. */
const CLIENT_TIMEOUT_MS = 10_000;

function withTimeout<T>(what: string, run: (resolve: (v: T) => void, reject: (e: Error) => void) => () => void): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    let cleanup = (): void => undefined;
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${CLIENT_TIMEOUT_MS} ms`));
    }, CLIENT_TIMEOUT_MS);
    cleanup = run(
      (v) => {
        clearTimeout(timer);
        cleanup();
        resolvePromise(v);
      },
      (e) => {
        clearTimeout(timer);
        cleanup();
        reject(e);
      },
    );
  });
}

function portAnswers(port: number): Promise<boolean> {
  return withTimeout(`connect 127.0.0.1:${port}`, (resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
    return () => socket.destroy();
  });
}

/** A TLS handshake to 127.0.0.1:port, verified against `ca` for the name localhost; the server's certificate. */
function tlsHandshake(port: number, ca: string): Promise<X509Certificate> {
  return withTimeout(`TLS to ${port}`, (resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca), rejectUnauthorized: true });
    socket.once('secureConnect', () => {
      assert.equal(socket.authorized, true, String(socket.authorizationError));
      resolve(new X509Certificate(socket.getPeerCertificate().raw));
    });
    socket.once('error', reject);
    return () => socket.destroy();
  });
}

function connectFrame(who: RabbitMqUser): string {
  return `CONNECT\naccept-version:1.2\nhost:/\nlogin:${who.user}\npasscode:${who.password}\nheart-beat:0,0\n\n\0`;
}

/** The command and headers of a STOMP frame's text. */
function parseFrame(frame: string): { command: string; headers: Record<string, string>; body: string } {
  const text = frame.split('\0')[0] ?? '';
  const split = text.indexOf('\n\n');
  const head = split >= 0 ? text.slice(0, split) : text;
  const body = split >= 0 ? text.slice(split + 2) : '';
  const [command = '', ...lines] = head.replace(/^\n+/, '').split('\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1);
  }
  return { command, headers, body };
}

/** STOMP CONNECT over a raw socket (plain or TLS): the server's first frame. */
function stompLogin(open: () => Socket | TLSSocket, who: RabbitMqUser): Promise<ReturnType<typeof parseFrame>> {
  return withTimeout('STOMP CONNECT', (resolve, reject) => {
    const socket = open();
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\0');
      if (end >= 0) resolve(parseFrame(received.slice(0, end)));
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`connection closed before a frame; got ${JSON.stringify(received)}`)));
    socket.write(connectFrame(who));
    return () => {
      socket.removeAllListeners('close');
      socket.destroy();
    };
  });
}

/** A WebSocket upgrade on `url` with subprotocol v12.stomp, then STOMP CONNECT: the negotiated protocol and the first frame. */
function wsStompLogin(url: string, ca: string, who: RabbitMqUser): Promise<{ protocol: string } & ReturnType<typeof parseFrame>> {
  return withTimeout(`WebSocket ${url}`, (resolve, reject) => {
    const ws = new WebSocket(url, ['v12.stomp'], { ca: readFileSync(ca), rejectUnauthorized: true });
    ws.once('open', () => ws.send(connectFrame(who)));
    ws.once('message', (data: WebSocket.RawData) => resolve({ protocol: ws.protocol, ...parseFrame(Buffer.from(data as Buffer).toString('utf8')) }));
    ws.once('error', reject);
    ws.once('close', (code, reason) => reject(new Error(`WebSocket closed (${code} ${reason.toString()}) before a frame`)));
    return () => {
      ws.removeAllListeners('close');
      ws.terminate();
    };
  });
}

/** An AMQP 1.0 connection with SASL PLAIN (rhea): `open` when the node opened it, else the error it gave. */
function amqpOpen(options: ConnectionOptions): Promise<{ open: boolean; error?: string }> {
  return withTimeout(`AMQP 1.0 to ${JSON.stringify((options as { port?: number }).port)}`, (resolve) => {
    const container = rhea.create_container({ id: 'cafkit-script-test' });
    const connection = container.connect({ reconnect: false, ...options });
    const failed = (context: EventContext): void => {
      const err = context.error ?? context.connection.error;
      resolve({ open: false, error: err instanceof Error ? err.message : JSON.stringify(err) });
    };
    connection.once('connection_open', () => resolve({ open: true }));
    connection.once('connection_error', failed);
    connection.once('disconnected', failed);
    // rhea raises 'error' on the container when nobody handles it on the connection
    connection.on('error', failed);
    return () => {
      connection.removeAllListeners();
      connection.on('error', () => undefined);
      connection.on('disconnected', () => undefined);
      if (connection.is_open()) connection.close();
      else connection.socket?.destroy?.();
    };
  });
}

/** AMQP 0-9-1 protocol header: the node answers with Connection.Start (method frame, class 10, method 10). */
function amqp091Start(port: number): Promise<Buffer> {
  return withTimeout(`AMQP 0-9-1 to ${port}`, (resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 11) resolve(received);
    });
    socket.once('error', reject);
    return () => socket.destroy();
  });
}

/** Local addresses of the listening TCP sockets, by port, from /proc/net/tcp{,6} (loopback shown as 127.0.0.1 / ::1). */
function listeningAddresses(): Map<number, string[]> {
  const byPort = new Map<number, string[]>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || local === undefined) continue; // 0A: LISTEN
      const [hex = '', portHex = ''] = local.split(':');
      const addr = hex === '0100007F' ? '127.0.0.1' : hex === '00000000000000000000000001000000' ? '::1' : hex;
      const port = Number.parseInt(portHex, 16);
      byPort.set(port, [...(byPort.get(port) ?? []), addr]);
    }
  }
  return byPort;
}

describe('scripts/rabbitmq private node', () => {
  let mq: RabbitMqInstance | undefined;
  const m = (): RabbitMqInstance => {
    assert.ok(mq, 'RabbitMQ did not start');
    return mq;
  };

  before(async () => {
    const t0 = Date.now();
    mq = await startRabbitMq();
    console.log(`# rabbitmq: first start took ${String(Date.now() - t0)} ms`);
  });

  after(async () => {
    if (!mq) return;
    try {
      await mq.dispose();
    } catch (err) {
      // make sure the node and its epmd go even if the script failed
      for (const pid of [mq.pid(), mq.epmdPid()]) if (pid !== undefined) process.kill(pid, 'SIGKILL');
      throw err;
    }
  });

  test('instance description comes from rabbitmq.env; the node runs as rabbitmq with its own config, data and epmd', () => {
    const x = m();
    assert.equal(x.urls.stomp, `stomp://127.0.0.1:${x.ports.stomp}`);
    assert.equal(x.urls.stompSsl, `stomp+ssl://localhost:${x.ports.stomps}`);
    assert.equal(x.urls.ws, `ws://127.0.0.1:${x.ports.ws}/ws`);
    assert.equal(x.urls.wss, `wss://localhost:${x.ports.wss}/ws`);
    assert.equal(x.urls.amqp, `amqp://127.0.0.1:${x.ports.amqp}`);
    assert.equal(x.urls.amqps, `amqps://localhost:${x.ports.amqps}`);
    assert.equal(new Set(Object.values(x.ports)).size, 8);
    assert.equal(x.processor.user, 'cafkit-processor');
    assert.equal(x.platform.user, 'cafkit-platform');
    assert.match(x.processor.password, /^[0-9a-f]{48}$/);
    assert.match(x.platform.password, /^[0-9a-f]{48}$/);
    assert.notEqual(x.processor.password, x.platform.password);
    assert.match(x.nodeName, /^cafkit-[0-9a-f]{12}@localhost$/);
    assert.equal(statSync(join(x.dir, 'rabbitmq.env')).mode & 0o777, 0o600);

    const pid = x.pid();
    assert.ok(pid !== undefined, 'pid of the running node');
    assert.equal(x.env.CAFKIT_RABBITMQ_PID, String(pid));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    if (process.getuid?.() === 0) {
      const rabbitUid = /^rabbitmq:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[1];
      assert.match(status, new RegExp(`^Uid:\\s+${rabbitUid}\\s`, 'm'), 'the node runs as the rabbitmq user');
    }
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    for (const e of [
      `RABBITMQ_NODENAME=${x.nodeName}`,
      `RABBITMQ_CONFIG_FILE=${join(x.dir, 'etc', 'rabbitmq.conf')}`,
      `RABBITMQ_MNESIA_BASE=${join(x.dir, 'mnesia')}`,
      `RABBITMQ_LOG_BASE=${join(x.dir, 'log')}`,
      `ERL_EPMD_PORT=${x.ports.epmd}`,
      `HOME=${join(x.dir, 'home')}`,
    ]) assert.ok(environ.includes(e), `${e} not in the node's environment`);
    const plugins = readFileSync(join(x.dir, 'etc', 'enabled_plugins'), 'utf8');
    for (const p of ['rabbitmq_amqp1_0', 'rabbitmq_stomp', 'rabbitmq_web_stomp']) assert.ok(plugins.includes(p), plugins);
    assert.ok(x.epmdPid() !== undefined, 'the instance runs its own epmd');
    assert.match(readFileSync(x.env.CAFKIT_RABBITMQ_LOG ?? '', 'utf8'), /Server startup complete; 3 plugins started/);
  });

  test('every listener answers on 127.0.0.1, and listens on loopback only', async () => {
    const x = m();
    for (const [name, port] of Object.entries(x.ports)) assert.equal(await portAnswers(port), true, `${name} port ${port} does not answer`);
    const listening = listeningAddresses();
    for (const [name, port] of Object.entries(x.ports)) {
      const addrs = listening.get(port) ?? [];
      assert.ok(addrs.includes('127.0.0.1'), `${name} port ${port}: ${addrs.join(', ')}`);
      for (const a of addrs) assert.ok(a === '127.0.0.1' || a === '::1', `${name} port ${port} listens on ${a}`);
    }
  });

  test('the TLS listeners present the dev broker certificate, verified against the dev CA for localhost', async () => {
    const x = m();
    const broker = new X509Certificate(readFileSync(join(x.certsDir, 'broker.pem')));
    for (const port of [x.ports.amqps, x.ports.stomps, x.ports.wss]) {
      const cert = await tlsHandshake(port, x.ca);
      assert.equal(cert.fingerprint256, broker.fingerprint256, `port ${port}`);
    }
  });

  test('STOMP and STOMP over TLS: both users get CONNECTED; guest and a wrong password get ERROR', async () => {
    const x = m();
    const plain = () => netConnect({ host: '127.0.0.1', port: x.ports.stomp });
    const tls = () => tlsConnect({ host: '127.0.0.1', port: x.ports.stomps, servername: 'localhost', ca: readFileSync(x.ca) });
    for (const open of [plain, tls]) {
      for (const who of [x.processor, x.platform]) {
        const frame = await stompLogin(open, who);
        assert.equal(frame.command, 'CONNECTED', `${who.user}: ${JSON.stringify(frame)}`);
        assert.equal(frame.headers.version, '1.2');
      }
    }
    for (const who of [{ user: 'guest', password: 'guest' }, { user: x.processor.user, password: `${x.processor.password}x` }]) {
      const frame = await stompLogin(plain, who);
      assert.equal(frame.command, 'ERROR', `${who.user} must be refused: ${JSON.stringify(frame)}`);
      assert.equal(frame.body.trim(), `Access refused for user '${who.user}'`);
    }
  });

  test('STOMP over WebSocket: ws and wss upgrade on /ws with v12.stomp and the processor gets CONNECTED; guest gets ERROR', async () => {
    const x = m();
    for (const url of [x.urls.ws, x.urls.wss]) {
      const r = await wsStompLogin(url, x.ca, x.processor);
      assert.equal(r.protocol, 'v12.stomp', url);
      assert.equal(r.command, 'CONNECTED', `${url}: ${JSON.stringify(r)}`);
    }
    const guest = await wsStompLogin(x.urls.ws, x.ca, { user: 'guest', password: 'guest' });
    assert.equal(guest.command, 'ERROR');
    assert.equal(guest.body.trim(), "Access refused for user 'guest'");
  });

  test('AMQP 1.0 (SASL PLAIN) opens plain and over TLS for both users; guest and a wrong password are refused', async () => {
    const x = m();
    const plain = { host: '127.0.0.1', port: x.ports.amqp } as const;
    const tls = { host: 'localhost', port: x.ports.amqps, transport: 'tls', servername: 'localhost', ca: readFileSync(x.ca), rejectUnauthorized: true } as const;
    for (const where of [plain, tls]) {
      for (const who of [x.processor, x.platform]) {
        const r = await amqpOpen({ ...where, username: who.user, password: who.password });
        assert.deepEqual(r, { open: true }, `${who.user} on ${where.port}`);
      }
    }
    for (const who of [{ user: 'guest', password: 'guest' }, { user: x.processor.user, password: `${x.processor.password}x` }]) {
      const r = await amqpOpen({ ...plain, username: who.user, password: who.password });
      assert.equal(r.open, false, `${who.user} must be refused`);
      // (the node answers a failed SASL PLAIN only after about 3 s)
      assert.match(r.error ?? '', /Failed to authenticate/, `${who.user}`);
    }
  });

  test('AMQP 0-9-1 is served on the same port (Connection.Start)', async () => {
    const x = m();
    const frame = await amqp091Start(x.ports.amqp);
    assert.equal(frame[0], 1, 'a method frame');
    assert.equal(frame.readUInt16BE(7), 10, 'class connection');
    assert.equal(frame.readUInt16BE(9), 10, 'method start');
  });

  test('start() on a running instance keeps the same node and epmd', async () => {
    const x = m();
    const pid = x.pid();
    const epmd = x.epmdPid();
    assert.ok(pid !== undefined && epmd !== undefined);
    await x.start();
    assert.equal(x.pid(), pid);
    assert.equal(x.epmdPid(), epmd);
  });

  test('stop() leaves neither the node nor its epmd; start() again keeps the ports and the users', async () => {
    const x = m();
    const pid = x.pid();
    const epmd = x.epmdPid();
    assert.ok(pid !== undefined && epmd !== undefined, 'node and epmd running before stop');
    let t0 = Date.now();
    await x.stop();
    console.log(`# rabbitmq: stop took ${String(Date.now() - t0)} ms`);
    assertGone(pid, (p) => isRabbitMqProcess(p), () => x.logTail(20));
    assertGone(epmd, (p) => isEpmdProcess(p), () => x.logTail(20));
    assert.equal(x.pid(), undefined);
    assert.equal(x.epmdPid(), undefined);
    for (const [name, port] of Object.entries(x.ports)) assert.equal(await portAnswers(port), false, `${name} port ${port} still answers after stop()`);

    t0 = Date.now();
    await x.start();
    console.log(`# rabbitmq: later start took ${String(Date.now() - t0)} ms`);
    const again = x.pid();
    assert.ok(again !== undefined && again !== pid, 'a new node process');
    const env = readFileSync(join(x.dir, 'rabbitmq.env'), 'utf8');
    assert.ok(env.includes(`CAFKIT_RABBITMQ_PROCESSOR_PASSWORD=${x.processor.password}\n`), 'same processor password');
    assert.ok(env.includes(`CAFKIT_RABBITMQ_STOMP_PORT=${x.ports.stomp}\n`), 'same ports');
    const frame = await stompLogin(() => netConnect({ host: '127.0.0.1', port: x.ports.stomp }), x.processor);
    assert.equal(frame.command, 'CONNECTED', JSON.stringify(frame));
    assert.deepEqual(await amqpOpen({ host: '127.0.0.1', port: x.ports.amqp, username: x.platform.user, password: x.platform.password }), { open: true });
    assert.equal((await stompLogin(() => netConnect({ host: '127.0.0.1', port: x.ports.stomp }), { user: 'guest', password: 'guest' })).command, 'ERROR');

    const epmdAgain = x.epmdPid();
    await x.stop();
    assertGone(again, (p) => isRabbitMqProcess(p), () => x.logTail(20));
    if (epmdAgain !== undefined) assertGone(epmdAgain, (p) => isEpmdProcess(p), () => x.logTail(20));
    assert.equal(x.epmdPid(), undefined);
  });
});
