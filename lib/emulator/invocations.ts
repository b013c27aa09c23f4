import type { Acknowledgement } from '../wire/acknowledgement.js';
import { MessageType } from '../wire/acknowledgement.js';
import type { ObjectType } from './model.js';

/** Where an invocation is, as the platform's Action Status list shows it. */
export type InvocationStatus = 'pending' | 'completed' | 'error';
/** What {@link InvocationLog.waitFor} waits for; `done` is completed or error. */
export type WaitStatus = InvocationStatus | 'done';

/** One reply shown under an invocation. */
export interface InvocationMessage {
  at: number;
  message_type: Acknowledgement['message_type'];
  text: string;
  complete: boolean;
  results?: unknown;
}

/** An action invocation: one message sent, and the replies it got. */
export interface Invocation {
  id: number;
  /** `invid:<id>`, the `correlation-id` header replies must echo. */
  correlation_id: string;
  action_id: number;
  action_name: string;
  /** Programmatic name of the destination it was sent to. */
  destination: string;
  object: { type: ObjectType; id: number };
  incident_id: number;
  status: InvocationStatus;
  messages: InvocationMessage[];
  /** The (converted) action field values sent. */
  properties: Record<string, unknown>;
  created_at: number;
  completed_at?: number;
  /** First 6 characters of the context token: enough to tell tokens apart, useless to replay. */
  context_token_hint: string;
  /** Complete replies that arrived after the invocation was already complete (a processor bug). */
  duplicateCompletions: number;
  /**
   * For automatic actions fired by a REST request that carried a context
   * token: the invocation that token belongs to. A chain of these is a loop.
   */
  caused_by?: number;
}

/** A reply whose `correlation-id` names no invocation. */
export interface UnmatchedReply {
  at: number;
  /** Programmatic name of the destination whose reply queue it came on. */
  destination: string;
  correlation_id: string | undefined;
  message_type: Acknowledgement['message_type'];
  text: string;
  complete: boolean;
  results?: unknown;
}

/** Raised by {@link InvocationLog.waitFor} when the time is up; carries the invocation as it was. */
export class InvocationTimeoutError extends Error {
  override name = 'InvocationTimeoutError';
  constructor(
    readonly invocation: Invocation,
    status: WaitStatus,
    timeoutMs: number,
    minMessages = 0,
  ) {
    const wanted = minMessages > 0 ? `"${status}" with ${minMessages} replies` : `"${status}"`;
    super(`invocation ${invocation.id} (${invocation.action_name}) did not reach ${wanted} within ${timeoutMs} ms; it is: ${JSON.stringify(invocation)}`);
  }
}

interface Waiter {
  id: number;
  check(): void;
}

/**
 * The Action Status list: invocations, the replies they got, and the replies
 * nobody asked for. Waiters are woken by changes, not by polling.
 *
 * @example
 * const inv = log.create({ ... }, token);
 * log.reply('invid:1', ack, 'incident_ops');
 * await log.waitFor(inv.id, { status: 'completed', timeoutMs: 5000 });
 */
export class InvocationLog {
  private readonly byId = new Map<number, Invocation>();
  private readonly byToken = new Map<string, number>();
  private readonly unmatchedReplies: UnmatchedReply[] = [];
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  private nextId = 1;

  /** Records a new, pending invocation; `token` is remembered so REST calls carrying it can be matched. */
  create(init: Omit<Invocation, 'id' | 'correlation_id' | 'status' | 'messages' | 'created_at' | 'context_token_hint' | 'duplicateCompletions'>, token: string): Invocation {
    const id = this.nextId++;
    const invocation: Invocation = {
      id,
      correlation_id: `invid:${id}`,
      ...init,
      status: 'pending',
      messages: [],
      created_at: Date.now(),
      context_token_hint: token.slice(0, 6),
      duplicateCompletions: 0,
    };
    this.byId.set(id, invocation);
    this.byToken.set(token, id);
    return structuredClone(invocation);
  }

  /** Forgets an invocation whose message could not be sent. */
  remove(id: number): void {
    this.byId.delete(id);
    for (const [token, invocationId] of this.byToken) if (invocationId === id) this.byToken.delete(token);
  }

  /** An invocation, or undefined. */
  get(id: number): Invocation | undefined {
    const invocation = this.byId.get(id);
    return invocation && structuredClone(invocation);
  }

  /** Invocations, newest first, optionally of one incident. */
  list(filter: { incident?: number } = {}): Invocation[] {
    const all = [...this.byId.values()].filter((i) => filter.incident === undefined || i.incident_id === filter.incident);
    return structuredClone(all.sort((a, b) => b.id - a.id));
  }

  /** The invocation whose message carried this context token. */
  forToken(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.byToken.get(token);
  }

  /**
   * Marks an invocation complete without a reply: what the platform does for
   * destinations that do not expect acknowledgements.
   */
  completeWithoutReply(id: number): void {
    const invocation = this.byId.get(id);
    if (!invocation || invocation.status !== 'pending') return;
    invocation.status = 'completed';
    invocation.completed_at = Date.now();
    this.changed();
  }

  /**
   * Files a reply under its invocation. Replies after completion are still
   * shown (the platform shows unexpected replies) and complete ones counted
   * in `duplicateCompletions`. Returns false when the correlation id is not
   * one of ours; the reply then goes to the unmatched list.
   */
  reply(correlationId: string | undefined, ack: Acknowledgement, destination: string, at = Date.now()): boolean {
    const message: InvocationMessage = {
      at,
      message_type: ack.message_type,
      text: ack.message,
      complete: ack.complete,
      ...(ack.results !== undefined ? { results: ack.results } : {}),
    };
    const match = correlationId === undefined ? undefined : /^invid:(\d+)$/.exec(correlationId);
    const invocation = match ? this.byId.get(Number(match[1])) : undefined;
    if (!invocation) {
      this.unmatchedReplies.push({ ...message, destination, correlation_id: correlationId });
      this.changed();
      return false;
    }
    invocation.messages.push(message);
    if (ack.complete) {
      const repliedBefore = invocation.messages.slice(0, -1).some((m) => m.complete);
      if (invocation.status === 'pending') {
        invocation.status = ack.message_type === MessageType.error ? 'error' : 'completed';
        invocation.completed_at = at;
      } else if (repliedBefore) {
        invocation.duplicateCompletions++;
      }
    }
    this.changed();
    return true;
  }

  /** Replies whose correlation id matched no invocation. */
  unmatched(): UnmatchedReply[] {
    return structuredClone(this.unmatchedReplies);
  }

  /**
   * Resolves once the invocation reaches `status` (default `done`) and has
   * at least `minMessages` replies (to see replies that come after the
   * completing one). Rejects
   * at once when it can no longer get there (it ended in the other final
   * status), with {@link InvocationTimeoutError} after `timeoutMs` (default
   * 30 s), or when `signal` aborts.
   */
  waitFor(id: number, options: { status?: WaitStatus; minMessages?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Invocation> {
    const status = options.status ?? 'done';
    const minMessages = options.minMessages ?? 0;
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise<Invocation>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (error: Error | undefined, invocation?: Invocation) => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(invocation!);
      };
      const waiter: Waiter = {
        id,
        check: () => {
          if (this.closed) return finish(new Error(`the emulator closed while waiting for invocation ${id}`));
          const current = this.byId.get(id);
          if (!current) return finish(new Error(`there is no invocation ${id} (known: ${[...this.byId.keys()].join(', ') || 'none'})`));
          if (reached(current.status, status) && current.messages.length >= minMessages) return finish(undefined, structuredClone(current));
          if (current.status !== 'pending' && !reached(current.status, status)) {
            return finish(new Error(`invocation ${id} (${current.action_name}) ended "${current.status}", not "${status}": ${JSON.stringify(current)}`));
          }
        },
      };
      const onAbort = () => finish(options.signal?.reason instanceof Error ? options.signal.reason : new Error('wait aborted'));
      if (options.signal?.aborted) return onAbort();
      this.waiters.add(waiter);
      waiter.check();
      if (!this.waiters.has(waiter)) return;
      options.signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => {
        const current = this.byId.get(id);
        finish(current ? new InvocationTimeoutError(structuredClone(current), status, timeoutMs, minMessages) : new Error(`there is no invocation ${id}`));
      }, timeoutMs);
    });
  }

  /** Rejects every pending wait; used when the emulator closes. */
  close(): void {
    this.closed = true;
    this.changed();
  }

  private changed(): void {
    for (const waiter of [...this.waiters]) waiter.check();
  }
}

function reached(current: InvocationStatus, wanted: WaitStatus): boolean {
  return wanted === 'done' ? current !== 'pending' : current === wanted;
}
