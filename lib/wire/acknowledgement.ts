import { z } from 'zod';

/** `message_type` values of an ActionAcknowledgementDTO. */
export const MessageType = { info: 0, error: 1 } as const;

/**
 * A reply to an action message (the platform's ActionAcknowledgementDTO).
 * `results` is what deployed frameworks add for a handler's return value.
 */
export const AcknowledgementSchema = z.looseObject({
  message_type: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  message: z.string(),
  complete: z.boolean(),
  results: z.unknown().optional(),
});

/** A reply as sent on the wire. */
export type Acknowledgement = z.infer<typeof AcknowledgementSchema>;

/**
 * Reads a reply body the way the platform does: JSON when it parses as an
 * ActionAcknowledgementDTO, otherwise plain text, which means success unless
 * the `Co3InvocationComplete: false` header marks it informational.
 */
export function readAcknowledgement(body: string, headers: Record<string, string | undefined>): Acknowledgement {
  try {
    const parsed = AcknowledgementSchema.safeParse(JSON.parse(body));
    if (parsed.success) return parsed.data;
  } catch {
    // Plain text is a valid reply.
  }
  const complete = String(headers['Co3InvocationComplete'] ?? 'true').toLowerCase() !== 'false';
  return { message_type: MessageType.info, message: body, complete };
}
