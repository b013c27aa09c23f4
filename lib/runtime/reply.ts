import type { SendOptions, Transport } from '../broker/transport.js';
import { MessageType, type Acknowledgement } from '../wire/acknowledgement.js';
import { Headers } from '../wire/headers.js';
import type { HandlerResult } from './processor.js';

/** The complete, successful reply for a handler's return value. */
export function successReply(result: HandlerResult, action: string): Acknowledgement {
  if (typeof result === 'string') return { message_type: MessageType.info, message: result, complete: true };
  const message = result?.message ?? `Action "${action}" completed`;
  const reply: Acknowledgement = { message_type: MessageType.info, message, complete: true };
  if (result?.results !== undefined) reply.results = result.results;
  return reply;
}

/** The complete error reply. */
export function errorReply(message: string): Acknowledgement {
  return { message_type: MessageType.error, message, complete: true };
}

/** An informational reply: the action goes on. */
export function progressReply(message: string): Acknowledgement {
  return { message_type: MessageType.info, message, complete: false };
}

/**
 * Sends a reply, persistent, to the message's `reply-to` with its
 * `correlation-id`. By default only the first reply to each reply queue on
 * a connection asks for a receipt (see {@link SendOptions.confirm}).
 */
export function sendReply(
  transport: Transport,
  replyTo: string,
  correlationId: string | undefined,
  reply: Acknowledgement,
  options: { confirm?: boolean | 'first' } = {},
): Promise<void> {
  // Only what the platform reads: every extra header is escaped and serialised per reply.
  const headers: Record<string, string> = correlationId ? { [Headers.correlationId]: correlationId } : {};
  return transport.send(replyTo, JSON.stringify(reply), { headers, persistent: true, confirm: options.confirm ?? 'first', text: true });
}
