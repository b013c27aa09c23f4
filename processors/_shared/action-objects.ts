import { ActionError, type ActionData } from '../../lib/index.js';

/**
 * The objects an action message is about, checked: a handler that needs an
 * incident or an artifact and gets a message without one answers with an
 * error saying so, not a TypeError.
 *
 * @example
 * const incidentId = incidentOf(message);
 * const { id, incidentId } = artifactOf(message);
 */

/** The incident's id. */
export function incidentOf(message: ActionData): number {
  const id = message.incident?.id;
  if (id === undefined) throw new ActionError('this action needs an incident, and the message has none');
  return id;
}

/** The artifact the action runs on: its id, its incident, and the fields the message carries. */
export function artifactOf(message: ActionData): { id: number; incidentId: number; fields: Record<string, unknown> } {
  const artifact = message.artifact;
  if (!artifact) throw new ActionError('this action runs on artifacts, and the message has none');
  const incidentId = typeof artifact['inc_id'] === 'number' ? artifact['inc_id'] : incidentOf(message);
  return { id: artifact.id, incidentId, fields: artifact };
}

/** A text action field, trimmed; `undefined` when empty or absent. */
export function textField(message: ActionData, name: string): string | undefined {
  const value = message.properties[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') throw new ActionError(`action field ${name} holds ${JSON.stringify(value)}, not text`);
  const text = String(value).trim();
  return text === '' ? undefined : text;
}
