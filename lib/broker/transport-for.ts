import { AmqpTransport, type AmqpTransportOptions } from './amqp.js';
import { StompTransport } from './stomp-tls.js';
import type { Transport } from './transport.js';

/** The broker URL schemes cafkit speaks, and the transport each means. */
export const BROKER_SCHEMES = ['stomp+ssl', 'stomp+tls', 'stomp', 'wss', 'ws', 'amqps', 'amqp'] as const;

/**
 * The transport a broker URL names: STOMP over TLS (`stomp+ssl://`), STOMP
 * over a WebSocket (`wss://host:port/path`), or AMQP 1.0 (`amqps://`; on
 * RabbitMQ `amqp://` also serves AMQP 0-9-1, but here it always means 1.0).
 * The plain schemes (`stomp://`, `ws://`, `amqp://`) are for development and
 * are logged loudly. Everything above the transport is the same code.
 *
 * @example
 * const transport = transportFor({ url: 'amqps://broker:5671', login, passcode, tls: { ca } });
 */
export function transportFor(options: AmqpTransportOptions): Transport {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(options.url)?.[1]?.toLowerCase();
  if (scheme === 'amqps' || scheme === 'amqp') return new AmqpTransport(options);
  if (scheme !== undefined && (BROKER_SCHEMES as readonly string[]).includes(scheme)) return new StompTransport(options);
  throw new Error(`broker URL "${options.url}": the scheme must be one of ${BROKER_SCHEMES.map((s) => `${s}://`).join(', ')}`);
}
