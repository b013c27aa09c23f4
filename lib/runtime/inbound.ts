import { ActionDataSchema, type ActionData } from '../wire/action-data.js';
import { Headers } from '../wire/headers.js';
import type { InboundMessage } from '../broker/transport.js';
import { describeIssues } from '../config/load.js';

/** A delivery that can be run. */
export interface ValidDelivery {
  ok: true;
  message: ActionData;
  correlationId: string;
  replyTo: string;
  contextToken: string | undefined;
}

/** A delivery that cannot be run, and why. */
export interface InvalidDelivery {
  ok: false;
  reason: string;
  /** Where an error reply can still go, if the message said. */
  replyTo: string | undefined;
  correlationId: string | undefined;
}

/**
 * Checks a delivery before anything runs: size, reply-to, correlation-id,
 * JSON, and the ActionDataDTO schema. The first problem found is the reason.
 */
export function inspectDelivery(delivery: InboundMessage, maxBodyBytes: number): ValidDelivery | InvalidDelivery {
  const replyTo = delivery.headers[Headers.replyTo] || undefined;
  const correlationId = delivery.headers[Headers.correlationId] || undefined;
  const invalid = (reason: string): InvalidDelivery => ({ ok: false, reason, replyTo, correlationId });
  if (delivery.size > maxBodyBytes) return invalid(`message body of ${delivery.size} bytes exceeds the limit of ${maxBodyBytes} bytes`);
  if (!replyTo) return invalid('message has no reply-to header');
  if (!correlationId) return invalid('message has no correlation-id header');
  let json: unknown;
  try {
    json = JSON.parse(delivery.body);
  } catch (error) {
    return invalid(`message body is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ActionDataSchema.safeParse(json);
  if (!parsed.success) return invalid(`message body is not an ActionDataDTO: ${describeIssues(parsed.error.issues).join('; ')}`);
  return { ok: true, message: parsed.data, correlationId, replyTo, contextToken: delivery.headers[Headers.contextToken] || undefined };
}
