import type { z } from 'zod';
import type { ActionData } from '../wire/action-data.js';
import type { RestClient } from '../rest/client.js';
import type { Log } from '../log/log.js';

/** What a handler may return: nothing, a message, or a message with results. */
export type HandlerResult = void | undefined | string | { message?: string; results?: unknown };

/** What a handler gets besides the message. `S` is the processor's settings type. */
export interface HandlerContext<S = unknown> {
  /** This processor's settings (`settings.<name>` in the config file), validated by its schema. */
  settings: S;
  /** REST client that already sends this message's `X-Co3ContextToken`. */
  rest: RestClient;
  /** Sends an informational reply (`complete: false`), shown in the Action Status list. */
  progress(text: string): Promise<void>;
  log: Log;
  /** Aborted when the handler times out or the processor shuts down past its deadline. */
  signal: AbortSignal;
  /** The select field's label for an id, through the message's `type_info`. */
  label(type: string, field: string, id: unknown): string | undefined;
  /**
   * Runs `fn` as a named step of this action: its start, end, outcome and the
   * output variables it returns are recorded in the activity.
   *
   * @example
   * const ticket = await ctx.step('create ticket', () => helpdesk.create(...)); // returns { ticket_id }
   */
  step<T extends Record<string, unknown> | void>(name: string, fn: () => Promise<T> | T): Promise<T>;
  /** The invocation this message belongs to (e.g. `invid:80`). */
  correlationId: string;
  orgId: number;
  /** The destination's programmatic name. */
  destination: string;
  /** The action's name, as the platform knows it. */
  action: string;
  /** Message headers as received (the context token among them: do not log them). */
  headers: Readonly<Record<string, string>>;
  /**
   * Set when an earlier run of this invocation started and never finished:
   * the processor was killed or lost its database mid-action, and the
   * message came back. That run may already have made some of its changes;
   * a handler whose effects are not idempotent (adding a note, creating a
   * ticket) looks for them before repeating them. Needs a durable
   * completed-reply store (activities in SQLite or MariaDB, the default).
   *
   * @example
   * if (ctx.rerun) {
   *   const notes = await ctx.rest.get<Note[]>(`/incidents/${id}/comments`);
   *   const mine = notes.find((n) => n.text === text && n.create_date >= ctx.rerun!.firstStartedAt - 60_000);
   *   if (mine) return { message: 'Note added', results: { note_id: mine.id } };
   * }
   */
  rerun?: { firstStartedAt: number } | undefined;
}

/** An action handler. */
export type Handler<S = unknown> = (message: ActionData, context: HandlerContext<S>) => Promise<HandlerResult> | HandlerResult;

/** A destination a processor listens on: a programmatic name, or a topic. */
export type DestinationRef = string | { name: string; kind: 'queue' | 'topic' };

/** A processor: its destination(s), its settings schema, and a handler per action name. */
export interface ProcessorDefinition<S = unknown> {
  /** Names the processor in logs and its settings section; defaults to the file name. */
  name?: string;
  destination: DestinationRef | DestinationRef[];
  /**
   * A zod schema for the processor's settings, read from `settings.<name>`
   * in the config file (with `${ENV}` substitution for secrets).
   */
  settings?: z.ZodType<S>;
  actions: Record<string, Handler<S>>;
  /** Steps each action declares up front, by action name: they show as pending until they run. */
  steps?: Record<string, readonly string[]>;
}

/**
 * Declares a processor. A processor author writes only this.
 *
 * @example
 * export default defineProcessor({
 *   destination: 'incident_ops',
 *   settings: z.object({ url: z.string().url() }),
 *   actions: {
 *     Echo: (message, ctx) => ({ message: `Echoed to ${ctx.settings.url}`, results: message.properties }),
 *   },
 * });
 */
export function defineProcessor<S = Record<string, unknown>>(definition: ProcessorDefinition<S>): ProcessorDefinition<S> {
  return definition;
}

/** A destination reference in its full form. */
export function normaliseDestination(ref: DestinationRef): { name: string; kind: 'queue' | 'topic' } {
  return typeof ref === 'string' ? { name: ref, kind: 'queue' } : ref;
}
