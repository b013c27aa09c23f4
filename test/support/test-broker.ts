// The broker the runtime's end-to-end tests run on, chosen by
// CAFKIT_TEST_TRANSPORT, so that one suite covers every transport:
//
//   stomp+ssl  (default) ActiveMQ, STOMP over TLS: the platform's own broker
//   wss        RabbitMQ, STOMP over a TLS WebSocket (web-stomp)
//   amqps      RabbitMQ, AMQP 1.0 over TLS
//
// scripts/run-tests runs the runtime's files once per value. Whatever the
// transport, the emulator's trigger side publishes over the same one: on
// RabbitMQ 3.10 custom STOMP headers (the context token) do not cross to
// AMQP 1.0 receivers, and the platform's messages must arrive whole.
import { readFileSync } from 'node:fs';
import { startBroker } from './activemq.js';
import { startRabbitMq } from './rabbitmq.js';
import type { ServerInstance } from './server-process.js';
import { transportFor } from '../../lib/broker/transport-for.js';
import type { Transport } from '../../lib/broker/transport.js';

/** The transports the runtime's end-to-end suite runs on. */
export const TEST_TRANSPORTS = ['stomp+ssl', 'wss', 'amqps'] as const;
export type TestTransport = (typeof TEST_TRANSPORTS)[number];

/** The transport named by CAFKIT_TEST_TRANSPORT (default `stomp+ssl`); names the accepted values otherwise. */
export function testTransport(): TestTransport {
  const value = process.env['CAFKIT_TEST_TRANSPORT'] || 'stomp+ssl';
  if (!(TEST_TRANSPORTS as readonly string[]).includes(value)) {
    throw new Error(`CAFKIT_TEST_TRANSPORT="${value}": expected one of ${TEST_TRANSPORTS.join(', ')}`);
  }
  return value as TestTransport;
}

/** How test titles name a transport, e.g. "ActiveMQ STOMP/TLS". */
export function transportLabel(transport: TestTransport = testTransport()): string {
  return { 'stomp+ssl': 'ActiveMQ STOMP/TLS', wss: 'RabbitMQ STOMP over wss', amqps: 'RabbitMQ AMQP 1.0/TLS' }[transport];
}

/** A login on the broker. */
export interface BrokerUser {
  user: string;
  password: string;
}

/** A private broker speaking the chosen transport; stop()/start() keep its ports, users and queues. */
export interface TestBroker extends ServerInstance {
  transport: TestTransport;
  label: string;
  /** The TLS URL for the transport; its certificate names `localhost`. */
  url: string;
  /** The unencrypted port of the same protocol (127.0.0.1), for man-in-the-middle tests of TLS. */
  plainPort: number;
  /** The URL's path (`/ws` for the WebSocket), to build URLs to another port. */
  path: string;
  /** The virtual host the broker wants (RabbitMQ: `/`); undefined for ActiveMQ. */
  vhost?: string;
  /** The dev CA that signed the broker's certificate. */
  ca: string;
  /** The certs folder (rogue.pem, wronghost.pem, expired.pem, rogue-ca.pem…). */
  certsDir: string;
  orgId: number;
  /** May read the org's action queues and send replies and dead letters. */
  processor: BrokerUser;
  /** May send actions and read replies and dead letters. */
  platform: BrokerUser;
  /** ActiveMQ only: may read everything, ActiveMQ.DLQ.* included. */
  admin?: BrokerUser;
}

/** Starts the broker for `transport` (default: CAFKIT_TEST_TRANSPORT). */
export async function startTestBroker(transport: TestTransport = testTransport()): Promise<TestBroker> {
  const label = transportLabel(transport);
  if (transport === 'stomp+ssl') {
    const broker = await startBroker();
    return { ...broker, transport, label, path: '', vhost: undefined };
  }
  const rabbit = await startRabbitMq();
  const url = transport === 'wss' ? rabbit.urls.wss : rabbit.urls.amqps;
  return {
    ...rabbit,
    admin: undefined,
    transport,
    label,
    url,
    plainPort: transport === 'wss' ? rabbit.ports.ws : rabbit.ports.amqp,
    path: new URL(url).pathname.replace(/^\/$/, ''),
    vhost: '/',
  };
}

/** A transport to the broker as `who` (default the platform), not yet connected. */
export function brokerLink(broker: TestBroker, who: 'platform' | 'processor' | 'admin' = 'platform'): Transport {
  const login = broker[who];
  if (!login) throw new Error(`the ${broker.label} test broker has no ${who} user`);
  const { user, password } = login;
  return transportFor({ url: broker.url, login: user, passcode: password, vhost: broker.vhost, tls: { ca: readFileSync(broker.ca, 'utf8') } });
}
