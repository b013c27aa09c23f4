import { createHash } from 'node:crypto';
import { NotConnectedError, type InboundMessage, type Transport } from '../broker/transport.js';
import type { RestClient } from '../rest/client.js';
import { childLog, type Log } from '../log/log.js';
import { selectLabel, type ActionData } from '../wire/action-data.js';
import type { Acknowledgement } from '../wire/acknowledgement.js';
import type { ActionCatalog } from './action-catalog.js';
import type { ClaimedRun, CompletedReplies, StoredReply } from './completed-replies.js';
import { deadLetter } from './dead-letter.js';
import { HandlerTimeoutError } from './errors.js';
import { inspectDelivery, type InvalidDelivery } from './inbound.js';
import type { Limiter } from './limiter.js';
import type { Handler, HandlerContext } from './processor.js';
import type { ActivityHooks, Execution } from '../activity/execution.js';
import { errorReply, progressReply, sendReply, successReply } from './reply.js';
import { ReplyGate } from './reply-gate.js';

/**
 * Identifies an invocation for the completed-reply memory. A redelivery
 * carries the same headers, token included; a new invocation that reuses a
 * correlation id (a platform, or an emulator, whose counter restarted) has a
 * new token, so it runs. The token is hashed: it is a credential and the
 * memory may be a shared database.
 */
export function completedKey(queue: string, correlationId: string, contextToken: string | undefined): string {
  const token = contextToken ? `|${createHash('sha256').update(contextToken).digest('base64url').slice(0, 22)}` : '';
  return `${queue}|${correlationId}${token}`;
}

/** How an execution ended. */
type FinalStatus = 'succeeded' | 'failed' | 'timed_out';

/** What one run produced: the reply to store and send. */
interface RunOutcome {
  stored: StoredReply;
  /** Another instance completed it: the stored reply is sent, nothing ran here. */
  replayed?: boolean;
}

/** Where an action goes: its handler and its processor's settings. */
export interface Route {
  handler: Handler<any>;
  settings: unknown;
  /** Why the processor cannot run (its settings are missing); answered as an error. */
  problem?: string;
  /** The processor's name, for activity records. */
  processor?: string;
  /** Steps the action declares up front. */
  steps?: readonly string[];
}

/** Routes by destination programmatic name, then action name. */
export type Routes = Map<string, Map<string, Route>>;

/** What the dispatcher needs; built by the runtime. */
export interface DispatcherDeps {
  transport: Transport;
  rest: RestClient;
  catalog: ActionCatalog;
  completed: CompletedReplies;
  limiter: Limiter;
  routes: Routes;
  orgId: number;
  log: Log;
  maxBodyBytes: number;
  deadLetterPrefix: string;
  handlerTimeoutMs: number;
  serializePerIncident: boolean;
  /** Records every execution as a signed activity; absent when activities are off. */
  activity?: ActivityHooks;
  /** This instance, for claims in a shared completed-reply store. */
  owner?: string;
  /** How long a claim holds without renewal (ms); renewed every third of it while the handler runs. */
  claimLeaseMs?: number;
}

/** Counters for status output and the benchmark. */
export interface DispatchStats {
  received: number;
  succeeded: number;
  failed: number;
  deadLettered: number;
  /** Redeliveries answered from the completed-reply memory. */
  replayed: number;
  /** Replies that could not be sent because the broker was gone; the message will come back. */
  deferred: number;
}

/**
 * Runs each delivery through validation, routing and its handler, replies
 * to `reply-to` with the `correlation-id`, and acknowledges the message only
 * after the final reply is with the broker. A message that cannot be run is
 * answered with an error (where a reply-to exists), dead-lettered with the
 * reason, then acknowledged. A correlation id that already completed is
 * answered from memory, not run again.
 */
export class Dispatcher {
  readonly stats: DispatchStats = { received: 0, succeeded: 0, failed: 0, deadLettered: 0, replayed: 0, deferred: 0 };
  private readonly running = new Map<string, Promise<RunOutcome | undefined>>();
  private readonly controllers = new Set<AbortController>();
  private readonly replies = new ReplyGate();
  private active = 0;
  private readonly idle: Array<() => void> = [];
  private stopping = false;

  constructor(private readonly deps: DispatcherDeps) {}

  /** The organisation whose messages this dispatcher runs. */
  get orgId(): number {
    return this.deps.orgId;
  }

  /** Deliveries being worked on (running or waiting for a slot). */
  get inFlight(): number {
    return this.active;
  }

  /** Takes a delivery; never throws. */
  accept(delivery: InboundMessage): void {
    if (this.stopping) return; // left unacknowledged: the broker redelivers it after we disconnect
    this.active++;
    this.handle(delivery).then(this.settled, this.failed);
  }

  private readonly settled = (): void => {
    if (--this.active === 0) for (const wake of this.idle.splice(0)) wake();
  };

  private readonly failed = (error: unknown): void => {
    this.deps.log.error('unexpected failure handling a message; it stays unacknowledged for redelivery', { error: (error as Error).message });
    this.settled();
  };

  /** Stops starting handlers; resolves when the in-flight ones are done or the deadline passes. */
  async drain(deadlineMs: number): Promise<boolean> {
    this.stopping = true;
    if (this.active === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      new Promise<boolean>((resolve) => this.idle.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs))),
    ]);
    clearTimeout(timer);
    if (!finished) for (const controller of this.controllers) controller.abort(new Error('processor shutting down'));
    return finished;
  }

  private async handle(delivery: InboundMessage): Promise<void> {
    this.stats.received++;
    // Taken on arrival: the record says when the message came, not when a slot freed up.
    const receivedAt = this.deps.activity ? new Date().toISOString() : '';
    const inspected = inspectDelivery(delivery, this.deps.maxBodyBytes);
    if (!inspected.ok) return this.reject(delivery, inspected, receivedAt);

    const key = completedKey(delivery.destination.name, inspected.correlationId, inspected.contextToken);
    // A store that hands out claims answers "already completed" with the claim itself: one statement fewer per message.
    const done = this.deps.completed.claim ? undefined : await this.deps.completed.get(key);
    if (done) {
      this.stats.replayed++;
      this.deps.log.info('already completed; sending the stored reply again', { correlationId: inspected.correlationId });
      return this.finish(delivery, done);
    }
    // The same invocation redelivered while its first run is still going (e.g. after a reconnect): wait for that run.
    const existing = this.running.get(key);
    if (existing) {
      const outcome = await existing;
      if (outcome) {
        this.stats.replayed++;
        await this.finish(delivery, outcome.stored);
      }
      return;
    }
    const run = this.run(delivery, inspected.message, inspected.correlationId, inspected.replyTo, inspected.contextToken, key, receivedAt);
    this.running.set(key, run);
    let outcome: RunOutcome | undefined;
    try {
      outcome = await run;
    } finally {
      this.running.delete(key);
    }
    if (!outcome) return;
    if (outcome.replayed) this.stats.replayed++;
    await this.finish(delivery, outcome.stored);
  }

  /**
   * Claims an invocation in the shared store: the claim (a first run or a
   * re-run), or the reply it completed with elsewhere; waits while another
   * live instance holds it (until it completes or its lease runs out).
   * `undefined` when stopping.
   */
  private async claim(key: string): Promise<{ claimed: ClaimedRun } | { completed: StoredReply } | undefined> {
    const leaseMs = this.deps.claimLeaseMs ?? 60_000;
    for (;;) {
      const result = await this.deps.completed.claim!(key, this.owner, leaseMs);
      if (result !== 'busy') return result;
      if (this.stopping) return undefined;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, leaseMs / 4)));
    }
  }

  private get owner(): string {
    return this.deps.owner ?? 'cafkit';
  }

  private run(delivery: InboundMessage, message: ActionData, correlationId: string, replyTo: string, contextToken: string | undefined, key: string, receivedAt: string): Promise<RunOutcome | undefined> {
    const incidentKey = this.deps.serializePerIncident && message.incident ? `incident:${message.incident.id}` : undefined;
    const completed = this.deps.completed;
    return this.deps.limiter.run(async () => {
      if (this.stopping) return undefined; // not started: leave it for redelivery
      // Shared by several instances, another one may be running this invocation (a redelivery after its link dropped).
      // Claimed here, when a slot is free, so the lease runs only while the handler does.
      let rerun: ClaimedRun | undefined;
      if (completed.claim) {
        const claim = await this.claim(key);
        if (claim === undefined) return undefined;
        if ('completed' in claim) return { stored: claim.completed, replayed: true };
        if (claim.claimed.rerun) {
          rerun = claim.claimed;
          this.deps.log.warn('re-running an invocation whose earlier run did not finish (the processor stopped mid-action); its handler is told, to check for effects of that run', { correlationId, firstStartedAt: new Date(rerun.firstStartedAt).toISOString() });
        }
      }
      const leaseMs = this.deps.claimLeaseMs ?? 60_000;
      const renewal = completed.renew ? setInterval(() => void completed.renew!(key, this.owner, leaseMs).catch(() => undefined), leaseMs / 3) : undefined;
      try {
        return await this.runClaimed(delivery, message, correlationId, replyTo, contextToken, key, receivedAt, rerun);
      } finally {
        clearInterval(renewal);
      }
    }, incidentKey);
  }

  private async runClaimed(delivery: InboundMessage, message: ActionData, correlationId: string, replyTo: string, contextToken: string | undefined, key: string, receivedAt: string, rerun?: ClaimedRun): Promise<RunOutcome> {
    const execution = this.deps.activity?.open(this.programmaticName(delivery.destination.name), correlationId, receivedAt);
    execution?.parsed(message);
    if (rerun) execution?.rerun();
    const result = await this.execute(delivery, message, correlationId, replyTo, contextToken, execution, rerun);
    const stored: StoredReply = { replyTo, correlationId, reply: result.reply, completedAt: Date.now() };
    const error = result.reply.message_type === 0 ? null : result.reply.message;
    // Signed (and reported) before the reply goes out, and stored with it: a processor killed after the ack has its record stored too.
    execution?.replied(result.reply);
    const record = execution ? this.deps.activity!.seal(execution, result.status, error, { properties: message.properties }) : undefined;
    await this.deps.completed.put(key, stored, record);
    return { stored };
  }

  private async execute(
    delivery: InboundMessage,
    message: ActionData,
    correlationId: string,
    replyTo: string,
    contextToken: string | undefined,
    execution: Execution | undefined,
    rerun?: ClaimedRun,
  ): Promise<{ reply: Acknowledgement; status: FinalStatus }> {
    const destination = this.programmaticName(delivery.destination.name);
    const meta: Record<string, unknown> = { correlationId, destination, actionId: message.action_id };
    const log = this.deps.log;
    const rest = this.deps.rest.withContextToken(contextToken);
    const failed = (text: string) => {
      this.stats.failed++;
      return { reply: errorReply(text), status: 'failed' as const };
    };
    let action: string | undefined;
    try {
      action = await this.deps.catalog.resolve(message.action_id, rest);
    } catch (error) {
      log.error('could not resolve the action name', { ...meta, error: (error as Error).message });
      return failed(`could not resolve action id ${message.action_id} to a name: ${(error as Error).message}`);
    }
    if (action === undefined) {
      log.warn('unknown action id', meta);
      return failed(`action id ${message.action_id} is not known to the platform`);
    }
    meta['action'] = action;
    const route = this.deps.routes.get(destination)?.get(action);
    if (!route) {
      log.warn('no handler for this action', meta);
      return failed(`no handler for action "${action}" on destination "${destination}"`);
    }
    if (route.problem) {
      log.warn('processor not configured', { ...meta, problem: route.problem });
      return failed(route.problem);
    }
    execution?.started(action, route.processor ?? null, route.steps);
    const context = new Context(this, message, rest, correlationId, replyTo, destination, action, delivery.headers, meta, route.settings, execution, rerun ? { firstStartedAt: rerun.firstStartedAt } : undefined);
    const started = performance.now();
    try {
      const result = await this.withTimeout(route.handler(message, context), context);
      this.stats.succeeded++;
      // Per-action success is debug: at volume a line per action costs the broker CPU; the activity record is the audit trail.
      if (log.isLevelEnabled?.('debug') ?? true) log.debug('action succeeded', { ...meta, ms: Math.round(performance.now() - started) });
      return { reply: successReply(result, action), status: 'succeeded' };
    } catch (error) {
      this.stats.failed++;
      const text = error instanceof Error ? error.message : String(error);
      log.warn('action failed', { ...meta, error: text, ms: Math.round(performance.now() - started) });
      return { reply: errorReply(text), status: error instanceof HandlerTimeoutError ? 'timed_out' : 'failed' };
    } finally {
      context.release();
    }
  }

  private withTimeout<T>(work: Promise<T> | T, context: Context): Promise<T> | T {
    const ms = this.deps.handlerTimeoutMs;
    if (ms <= 0) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new HandlerTimeoutError(ms);
        context.abort(error);
        reject(error);
      }, ms);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /** Sends an informational reply; losing one must not fail the action. */
  async progress(replyTo: string, correlationId: string, text: string, meta: Record<string, unknown>, execution?: Execution): Promise<void> {
    const reply = progressReply(text);
    try {
      await sendReply(this.deps.transport, replyTo, correlationId, reply, { confirm: false });
      execution?.replied(reply);
    } catch (error) {
      this.deps.log.debug('progress message not sent', { ...meta, error: (error as Error).message });
    }
  }

  /** Registers a handler's abort controller, so a shutdown past its deadline can abort it. */
  track(controller: AbortController, on: boolean): void {
    if (on) this.controllers.add(controller);
    else this.controllers.delete(controller);
  }

  /** The dispatcher's log. */
  get log(): Log {
    return this.deps.log;
  }

  /**
   * Sends the final reply, then acknowledges, on the connection that
   * delivered the message. The broker reads one connection's frames in
   * order, so the ACK can be written right behind the SEND without waiting
   * for its receipt: a processor killed at any point has either delivered
   * both, or left the message unacknowledged for redelivery. The receipt is
   * still awaited, to catch a reply the broker refused; the message is then
   * dead-lettered with that reason, so it is not lost.
   */
  private async finish(delivery: InboundMessage, stored: StoredReply): Promise<void> {
    const key = `${delivery.destination.name}\n${stored.correlationId}\n${stored.replyTo}`;
    const verdict = this.replies.verdict(key);
    if (verdict === 'give up') {
      const reason = `the reply to ${stored.replyTo} never reached the broker: the connection dropped each of the ${this.replies.losses(key)} times it was sent, the last ones while it was the only reply in flight (the broker may refuse that destination; last: ${this.replies.cause(key)})`;
      this.deps.log.error(reason, { correlationId: stored.correlationId });
      this.replies.settled(key);
      return this.deadLetterAndAck(delivery, reason);
    }
    if (verdict === 'alone') return this.finishAlone(delivery, stored, key);
    const release = await this.replies.enter();
    try {
      if (!this.stillLive(delivery, stored)) return;
      const confirmed = sendReply(this.deps.transport, stored.replyTo, stored.correlationId, stored.reply);
      await this.ack(delivery, stored.correlationId);
      try {
        await confirmed;
        this.replies.settled(key);
      } catch (error) {
        if (error instanceof NotConnectedError) {
          // The reply and the ACK were written in order; if the ACK did not arrive either, the broker redelivers and the stored reply is sent again.
          this.replies.lost(key, false, error.message);
          this.deps.log.info('connection lost before the reply was confirmed', { correlationId: stored.correlationId });
          return;
        }
        await this.deadLetterCopy(delivery, this.refused(stored, error));
      }
    } finally {
      release();
    }
  }

  /** A suspect reply (see {@link ReplyGate}): sent alone, and acknowledged only once the broker confirmed it. */
  private async finishAlone(delivery: InboundMessage, stored: StoredReply, key: string): Promise<void> {
    const release = await this.replies.enterAlone();
    try {
      if (!this.stillLive(delivery, stored)) return;
      try {
        await sendReply(this.deps.transport, stored.replyTo, stored.correlationId, stored.reply);
      } catch (error) {
        if (error instanceof NotConnectedError) {
          this.replies.lost(key, true, error.message);
          this.deps.log.warn('connection lost again while this reply was the only one in flight', { correlationId: stored.correlationId, replyTo: stored.replyTo, losses: this.replies.losses(key) });
          return;
        }
        this.replies.settled(key);
        return await this.deadLetterAndAck(delivery, this.refused(stored, error));
      }
      this.replies.settled(key);
      await this.ack(delivery, stored.correlationId);
    } finally {
      release();
    }
  }

  /** Logs a reply the broker refused; returns the reason, for the dead-letter copy. */
  private refused(stored: StoredReply, error: unknown): string {
    const reason = `reply to ${stored.replyTo} was refused: ${(error as Error).message}`;
    this.deps.log.error(reason, { correlationId: stored.correlationId });
    return reason;
  }

  private stillLive(delivery: InboundMessage, stored: StoredReply): boolean {
    if (delivery.live) return true;
    this.stats.deferred++;
    this.deps.log.warn('broker connection changed before the reply was sent; it is kept and sent when the message is redelivered', { correlationId: stored.correlationId });
    return false;
  }

  private async reject(delivery: InboundMessage, invalid: InvalidDelivery, receivedAt: string): Promise<void> {
    this.deps.log.warn('message cannot be run; dead-lettering it', { reason: invalid.reason, correlationId: invalid.correlationId, destination: delivery.destination.name });
    const execution = this.deps.activity?.open(this.programmaticName(delivery.destination.name), invalid.correlationId ?? null, receivedAt);
    if (invalid.replyTo) {
      const reply = errorReply(`cafkit could not run this message: ${invalid.reason}`);
      try {
        await sendReply(this.deps.transport, invalid.replyTo, invalid.correlationId, reply);
        execution?.replied(reply);
      } catch (error) {
        this.deps.log.warn('error reply for a bad message not sent', { error: (error as Error).message });
      }
    }
    await this.deadLetterAndAck(delivery, invalid.reason);
    if (execution) this.deps.activity!.close(execution, 'dead_lettered', invalid.reason);
  }

  private async deadLetterAndAck(delivery: InboundMessage, reason: string): Promise<void> {
    // Without a dead-letter copy the message must not be acknowledged, or it would be lost.
    if (await this.deadLetterCopy(delivery, reason)) await this.ack(delivery, delivery.headers['correlation-id']);
  }

  private async deadLetterCopy(delivery: InboundMessage, reason: string): Promise<boolean> {
    try {
      const queue = await deadLetter(this.deps.transport, delivery, reason, this.deps.deadLetterPrefix);
      this.stats.deadLettered++;
      this.deps.log.info('dead-lettered', { queue, reason });
      return true;
    } catch (error) {
      this.deps.log.error('dead-letter queue refused the message', { error: (error as Error).message, reason, correlationId: delivery.headers['correlation-id'] });
      return false;
    }
  }

  private async ack(delivery: InboundMessage, correlationId: string | undefined): Promise<void> {
    const acked = await delivery.ack();
    if (!acked) this.deps.log.info('connection changed before the ack; the broker will redeliver and the stored reply will be sent again', { correlationId });
  }

  private programmaticName(queue: string): string {
    const prefix = `actions.${this.deps.orgId}.`;
    return queue.startsWith(prefix) ? queue.slice(prefix.length) : queue;
  }
}

/**
 * What a handler gets besides the message. A class, as one is made per
 * message; `progress` and `label` are bound so handlers may destructure them.
 */
class Context implements HandlerContext {
  readonly orgId: number;
  private handlerLog: Log | undefined;
  private controller: AbortController | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly message: ActionData,
    readonly rest: RestClient,
    readonly correlationId: string,
    private readonly replyTo: string,
    readonly destination: string,
    readonly action: string,
    readonly headers: Readonly<Record<string, string>>,
    private readonly meta: Record<string, unknown>,
    readonly settings: unknown,
    private readonly execution: Execution | undefined,
    readonly rerun: { firstStartedAt: number } | undefined,
  ) {
    this.orgId = dispatcher.orgId;
  }

  readonly progress = (text: string): Promise<void> => this.dispatcher.progress(this.replyTo, this.correlationId, text, this.meta, this.execution);

  readonly step = async <T extends Record<string, unknown> | void>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const execution = this.execution;
    if (!execution) return fn();
    const step = execution.stepStarted(name);
    try {
      const output = await fn();
      execution.stepEnded(step, { output: output && typeof output === 'object' ? (output as Record<string, unknown>) : undefined });
      return output;
    } catch (error) {
      execution.stepEnded(step, { error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  };

  readonly label = (type: string, field: string, id: unknown): string | undefined => selectLabel(this.message, type, field, id);

  /** Carries the invocation on every line; made only if the handler logs. */
  get log(): Log {
    return (this.handlerLog ??= childLog(this.dispatcher.log, this.meta));
  }

  /** Made only if the handler looks at it (or a timeout applies). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      this.dispatcher.track(this.controller, true);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    void this.signal;
    this.controller!.abort(reason);
  }

  release(): void {
    if (this.controller) this.dispatcher.track(this.controller, false);
  }
}
