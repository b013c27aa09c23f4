import { startEmulator, type EmulatorHandle, type RecordedRequest, type SeedData } from '../emulator/index.js';
import { RestClient } from '../rest/client.js';
import { completedKey, Dispatcher } from '../runtime/dispatcher.js';
import { ActionCatalog } from '../runtime/action-catalog.js';
import { MemoryCompletedReplies, type ClaimResult } from '../runtime/completed-replies.js';
import { Limiter } from '../runtime/limiter.js';
import { buildRoutes } from '../runtime/routes.js';
import { normaliseDestination, type ProcessorDefinition } from '../runtime/processor.js';
import { readAcknowledgement, type Acknowledgement } from '../wire/acknowledgement.js';
import type { ActionDataInput } from '../wire/action-data.js';
import { actionQueueName, Headers } from '../wire/headers.js';
import { silentLog, type Log } from '../log/log.js';
import { MemoryTransport } from './memory-transport.js';

/** Options of {@link testProcessor}. */
export interface KitOptions {
  /** The processor's settings, as they would be under `settings.<name>` in the config file. */
  settings?: unknown;
  orgId?: number;
  /** Starting data of the REST double (default: the emulator's seed). */
  seed?: SeedData;
  log?: Log;
}

/** What one run of a handler produced. */
export interface RunResult {
  /** `completed` and `error` as in the platform's Action Status list; `dead-lettered` for a message that could not be run. */
  status: 'completed' | 'error' | 'dead-lettered';
  /** The final reply. */
  reply: Acknowledgement | undefined;
  /** The final reply's text. */
  message: string;
  /** The final reply's `results`. */
  results: unknown;
  /** Informational replies (`ctx.progress`), in order. */
  progress: string[];
  /** Every reply, in order. */
  replies: Acknowledgement[];
  /** REST calls the handler made, each with the context token it carried. */
  calls: RecordedRequest[];
  /** The context token this run's message carried (every REST call should send it). */
  contextToken: string;
  deadLetterReason?: string;
}

/** A processor under test, with its REST double. */
export interface ProcessorKit {
  /** Runs `action` on `message` through the same pipeline as production (validation, routing, replies, ack). */
  /**
   * Runs one invocation. `rerun` makes it look like the processor died
   * during an earlier run that began at `firstStartedAt` (the handler sees
   * `ctx.rerun`): test that a handler finds what that run already did.
   */
  run(action: string, message: ActionDataInput | string, options?: { destination?: string; rerun?: { firstStartedAt: number } }): Promise<RunResult>;
  /** The in-process platform emulator the handler talks to. */
  emulator: EmulatorHandle;
  /** A REST client on the emulator (no context token), to set up data before a run. */
  rest: RestClient;
  close(): Promise<void>;
}

const API_KEY = { id: 'cafkit-testing', secret: 'cafkit-testing-secret' };

/**
 * Runs a processor's handlers in process, against the platform emulator as
 * the REST double, and reports what they replied and which REST calls they
 * made.
 *
 * @example
 * const kit = await testProcessor(processor, { settings: { url: helpdesk.url } });
 * const run = await kit.run('Create Ticket', build.message({ note: build.note() }));
 * assert.equal(run.status, 'completed');
 * assert.ok(run.calls.every((c) => c.contextToken === run.contextToken));
 * await kit.close();
 */
export async function testProcessor(processor: ProcessorDefinition<any>, options: KitOptions = {}): Promise<ProcessorKit> {
  const orgId = options.orgId ?? 201;
  const name = processor.name ?? 'processor';
  const emulator = await startEmulator({ orgId, apiKeys: [API_KEY], seed: options.seed, log: options.log });
  const rest = new RestClient({ url: emulator.url, orgId, apiKey: API_KEY, retries: 0, retryBaseMs: 10 });
  const transport = new MemoryTransport();
  const { routes, destinations } = buildRoutes([{ ...processor, name }], options.settings === undefined ? {} : { [name]: options.settings });
  const completed = new KitCompletedReplies();
  const dispatcher = new Dispatcher({
    transport,
    rest,
    catalog: new ActionCatalog(0),
    completed,
    limiter: new Limiter(25),
    routes,
    orgId,
    log: options.log ?? silentLog,
    maxBodyBytes: 5 * 1024 * 1024,
    deadLetterPrefix: 'DLQ.',
    handlerTimeoutMs: 0,
    serializePerIncident: false,
  });
  let runs = 0;

  const ensureAction = (action: string, destination: string, objectType: string): number => {
    if (!emulator.store.destinations().some((d) => d.programmatic_name === destination)) {
      emulator.store.createDestination({ name: destination, programmatic_name: destination } as never);
    }
    const existing = emulator.store.actions().find((a) => a.name === action);
    if (existing) return existing.id;
    return emulator.store.createAction({ name: action, type: 1, object_type: objectType, message_destinations: [destination] } as never).id;
  };

  return {
    emulator,
    rest,
    async run(action, message, runOptions = {}) {
      const destination = runOptions.destination ?? normaliseDestination(destinations[0] ?? { name: 'test', kind: 'queue' }).name;
      const n = ++runs;
      let body: string;
      if (typeof message === 'string') {
        body = message;
      } else {
        const objectType = message.artifact ? 'artifact' : message.note ? 'note' : message.task ? 'task' : 'incident';
        body = JSON.stringify({ ...message, action_id: ensureAction(action, destination, objectType) });
      }
      const contextToken = `kit-token-${n}`;
      const correlationId = `kit:${n}`;
      if (runOptions.rerun) completed.reruns.set(completedKey(actionQueueName(orgId, destination), correlationId, contextToken), runOptions.rerun.firstStartedAt);
      const mark = emulator.requests().length;
      const sentMark = transport.sent.length;
      const { message: delivery, acked } = transport.delivery({ kind: 'queue', name: actionQueueName(orgId, destination) }, body, {
        [Headers.correlationId]: correlationId,
        [Headers.replyTo]: `/queue/acks.${orgId}.${destination}`,
        [Headers.contextToken]: contextToken,
        [Headers.payload]: 'ActionDataDTO',
      });
      dispatcher.accept(delivery);
      await acked;
      const sent = transport.sent.slice(sentMark);
      const dead = sent.find((m) => m.destination.name.startsWith('DLQ.'));
      const replies = sent.filter((m) => m.destination.name.startsWith('acks.')).map((m) => readAcknowledgement(m.body, m.headers));
      const reply = replies.filter((r) => r.complete).at(-1);
      return {
        status: dead ? 'dead-lettered' : reply?.message_type === 0 ? 'completed' : 'error',
        reply,
        message: reply?.message ?? '',
        results: reply?.results,
        progress: replies.filter((r) => !r.complete).map((r) => r.message),
        replies,
        calls: emulator.requests().slice(mark).filter((r) => r.path.startsWith('/rest/')),
        contextToken,
        deadLetterReason: dead?.headers[Headers.deadLetterReason],
      };
    },
    async close() {
      await dispatcher.drain(5000);
      rest.close();
      await emulator.close();
    },
  };
}

/** Completed replies in memory that hand out claims like a durable store, so a run can be made a re-run. */
class KitCompletedReplies extends MemoryCompletedReplies {
  /** First start times of the invocations to present as re-runs, by completed-reply key. */
  readonly reruns = new Map<string, number>();

  constructor() {
    super(1000);
  }

  async claim(key: string): Promise<ClaimResult> {
    const done = await this.get(key);
    if (done) return { completed: done };
    const firstStartedAt = this.reruns.get(key);
    return { claimed: firstStartedAt === undefined ? { rerun: false, firstStartedAt: Date.now() } : { rerun: true, firstStartedAt } };
  }
}
