import type { ActionData } from '../wire/action-data.js';
import type { RestClient } from '../rest/client.js';
import type { Log } from '../log/log.js';

/** What a handler may return: nothing, a message, or a message with results. */
export type HandlerResult = void | undefined | string | { message?: string; results?: unknown };

/** What a handler gets besides the message. */
export interface HandlerContext {
  /** REST client that already sends this message's `X-Co3ContextToken`. */
  rest: RestClient;
  /** Sends an informational reply (`complete: false`), shown in the Action Status list. */
  progress(text: string): Promise<void>;
  log: Log;
  /** Aborted when the handler times out or the processor shuts down past its deadline. */
  signal: AbortSignal;
  /** The select field's label for an id, through the message's `type_info`. */
  label(type: string, field: string, id: unknown): string | undefined;
  /** The invocation this message belongs to (e.g. `invid:80`). */
  correlationId: string;
  orgId: number;
  /** The destination's programmatic name. */
  destination: string;
  /** The action's name, as the platform knows it. */
  action: string;
  /** Message headers as received (the context token among them: do not log them). */
  headers: Readonly<Record<string, string>>;
}

/** An action handler. */
export type Handler = (message: ActionData, context: HandlerContext) => Promise<HandlerResult> | HandlerResult;

/** A destination a processor listens on: a programmatic name, or a topic. */
export type DestinationRef = string | { name: string; kind: 'queue' | 'topic' };

/** A processor: its destination(s) and a handler per action name. */
export interface ProcessorDefinition {
  /** A name for logs; defaults to the file name. */
  name?: string;
  destination: DestinationRef | DestinationRef[];
  actions: Record<string, Handler>;
}

/**
 * Declares a processor. A processor author writes only this.
 *
 * @example
 * export default defineProcessor({
 *   destination: 'incident_ops',
 *   actions: {
 *     Echo: (message) => ({ message: 'Echoed', results: message.properties }),
 *   },
 * });
 */
export function defineProcessor(definition: ProcessorDefinition): ProcessorDefinition {
  return definition;
}

/** A destination reference in its full form. */
export function normaliseDestination(ref: DestinationRef): { name: string; kind: 'queue' | 'topic' } {
  return typeof ref === 'string' ? { name: ref, kind: 'queue' } : ref;
}
