/** Header names the platform uses on action messages and replies. */
export const Headers = {
  contextToken: 'Co3ContextToken',
  correlationId: 'correlation-id',
  replyTo: 'reply-to',
  payload: 'Co3MessagePayload',
  contentType: 'Co3ContentType',
  invocationComplete: 'Co3InvocationComplete',
  /** Set by cafkit on dead-lettered copies. */
  deadLetterReason: 'cafkit-dead-letter-reason',
  deadLetterOrigin: 'cafkit-original-destination',
} as const;

/** Programmatic names: letters, digits and underscores only. */
export const PROGRAMMATIC_NAME = /^[A-Za-z0-9_]+$/;

/** The queue (or topic) name the platform uses for a destination. */
export function actionQueueName(orgId: number, programmaticName: string): string {
  return `actions.${orgId}.${programmaticName}`;
}
