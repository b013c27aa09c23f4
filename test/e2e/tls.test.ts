import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { startTestBroker, transportLabel, type TestBroker } from '../support/test-broker.js';
import { transportFor } from '../../lib/broker/transport-for.js';
import { RestClient } from '../../lib/rest/client.js';
import { startEmulator } from '../../lib/emulator/index.js';

/**
 * A man in the middle: a TLS server presenting a chosen certificate that
 * forwards to the broker's plain port of the same protocol and records
 * every byte the client sends after the handshake.
 */
async function startMitm(certsDir: string, name: string, forwardPort: number) {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: readFileSync(path.join(certsDir, `${name}.pem`)), key: readFileSync(path.join(certsDir, `${name}-key.pem`)) }, (client) => {
    sockets.add(client);
    const upstream = net.connect(forwardPort, '127.0.0.1');
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      received.push(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('tlsClientError', () => {
    // The client hung up during the handshake: that is what these tests expect.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    bytes: () => Buffer.concat(received),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Tries one connection; resolves to the error the transport reported, or 'connected'. */
async function tryConnect(url: string, broker: TestBroker, tlsOptions: { ca: string; servername?: string }): Promise<string> {
  const transport = transportFor({ url, login: broker.processor.user, passcode: broker.processor.password, vhost: broker.vhost, tls: tlsOptions, reconnect: { initialMs: 60_000 }, connectTimeoutMs: 10_000 });
  try {
    return await new Promise<string>((resolve) => {
      transport.onState((state, detail) => {
        if (state === 'connected') resolve('connected');
        if (state === 'disconnected') resolve(detail?.error?.message ?? 'closed without error');
      });
      void transport.connect();
    });
  } finally {
    await transport.close();
  }
}

/** What a client of each transport writes first once TLS is up: the STOMP CONNECT, the WebSocket upgrade, the AMQP SASL header. */
const FIRST_BYTES = { 'stomp+ssl': /^CONNECT\n/, wss: /^GET \/ws HTTP\/1\.1\r\n/, amqps: /^AMQP\x03\x01\x00\x00/ } as const;

describe(`TLS verification of the broker and the REST API [${transportLabel()}]`, () => {
  let broker: TestBroker;
  let ca: string;
  /** The broker URL with the host and port of a man in the middle. */
  const via = (port: number) => `${broker.transport}://localhost:${port}${broker.path}`;

  before(async () => {
    broker = await startTestBroker();
    ca = readFileSync(broker.ca, 'utf8');
  });
  after(async () => {
    await broker?.dispose();
  });

  test('control: a trusted certificate for the right host name connects, and the proxy sees the protocol start', async () => {
    const mitm = await startMitm(broker.certsDir, 'broker', broker.plainPort);
    try {
      assert.equal(await tryConnect(via(mitm.port), broker, { ca }), 'connected');
      assert.match(mitm.bytes().toString('latin1'), FIRST_BYTES[broker.transport]);
    } finally {
      await mitm.close();
    }
  });

  for (const [name, expected] of [
    ['rogue', /self[- ]signed|unable to (get|verify)/i],
    ['wronghost', /does not match certificate's altnames|Hostname\/IP does not match/i],
    ['expired', /certificate has expired/i],
  ] as const) {
    test(`certificate "${name}" is refused before any byte of the protocol (no login, no credentials)`, async () => {
      const mitm = await startMitm(broker.certsDir, name, broker.plainPort);
      try {
        const outcome = await tryConnect(via(mitm.port), broker, { ca });
        assert.match(outcome, expected);
        assert.equal(mitm.bytes().length, 0, `the client sent ${mitm.bytes().length} bytes after the handshake`);
      } finally {
        await mitm.close();
      }
    });
  }

  test('the real broker is refused when its CA is not trusted', async () => {
    const outcome = await tryConnect(broker.url, broker, { ca: readFileSync(path.join(broker.certsDir, 'rogue-ca.pem'), 'utf8') });
    assert.match(outcome, /self[- ]signed|unable to (get|verify)/i);
  });

  test('the real broker is refused under a name its certificate does not carry ("testhost")', async () => {
    const outcome = await tryConnect(broker.url, broker, { ca, servername: 'testhost' });
    assert.match(outcome, /does not match|altnames/i);
  });

  test('the REST client refuses an untrusted certificate and sends no request', async () => {
    const emulator = await startEmulator({
      port: 0,
      tls: { cert: readFileSync(path.join(broker.certsDir, 'rogue.pem'), 'utf8'), key: readFileSync(path.join(broker.certsDir, 'rogue-key.pem'), 'utf8') },
      apiKeys: [{ id: 'k', secret: 'secret-value-1' }],
    });
    try {
      const rest = new RestClient({ url: emulator.url, orgId: 201, apiKey: { id: 'k', secret: 'secret-value-1' }, tls: { ca }, retries: 0 });
      await assert.rejects(rest.get('/actions'), /could not reach the platform: .*(self[- ]signed|unable to)/i);
      rest.close();
      assert.equal(emulator.requests().length, 0);
    } finally {
      await emulator.close();
    }
  });
});
