import { childLog, silentLog, type Log } from '../log/log.js';
import { conditionsMet, type ObjectChange } from './conditions.js';
import type { Invocation, InvocationLog } from './invocations.js';
import type { ObjectType } from './model.js';
import type { EmulatorStore } from './store.js';
import type { TriggerSide } from './trigger.js';

/** Which object changed, and under which incident. */
export interface ChangedObject {
  type: ObjectType;
  id: number;
  incidentId: number;
}

/** Options of {@link AutomaticActions}. */
export interface AutomaticOptions {
  /**
   * The CAF guide's infinite-loop guard (default true): a request carrying
   * an invocation's context token does not fire that invocation's action.
   * Switch it off in a test to watch the loop it prevents.
   */
  loopGuard?: boolean;
  /**
   * The longest chain of automatic invocations, each fired by a request
   * carrying the previous one's token, before the emulator stops firing
   * (default 50). The platform has no such limit; it keeps a looping test
   * from running forever.
   */
  loopLimit?: number;
}

/**
 * Automatic actions: when an object (incident, note, artifact, task) is
 * created or changed through the REST API, every enabled automatic action on
 * that object type whose conditions hold sends a message to each of its
 * destinations, as on the platform.
 *
 * This is where the CAF guide's infinite-loop guard lives: a request that
 * carries the `X-Co3ContextToken` of an invocation does not fire that
 * invocation's action again. A processor that forgets the header makes its
 * own automatic action fire on every save it does, which a test sees as a
 * growing Action Status list (each new invocation's `caused_by` names the
 * one before it).
 */
export class AutomaticActions {
  private readonly log: Log;
  private readonly loopGuard: boolean;
  private readonly loopLimit: number;
  private warnedNoBroker = false;

  constructor(private readonly deps: { store: EmulatorStore; trigger: TriggerSide; invocations: InvocationLog; log?: Log } & AutomaticOptions) {
    this.log = childLog(deps.log ?? silentLog, { part: 'emulator-automatic' });
    this.loopGuard = deps.loopGuard ?? true;
    this.loopLimit = deps.loopLimit ?? 50;
  }

  /**
   * Fires what a change calls for and answers the invocations it created.
   * Never throws: a failure to send is logged, and the REST call that caused
   * it still succeeds, as on the platform.
   */
  async changed(object: ChangedObject, change: ObjectChange, contextToken: string | undefined): Promise<Invocation[]> {
    const { store, trigger, invocations } = this.deps;
    const candidates = store.actions().filter((a) => a.type === 0 && a.enabled && a.object_type === object.type);
    if (candidates.length === 0) return [];
    const type = store.type(object.type);
    const origin = invocations.get(invocations.forToken(contextToken) ?? -1);
    const fired: Invocation[] = [];
    for (const action of candidates) {
      if (!conditionsMet(action, type, change)) continue;
      if (origin?.action_id === action.id && this.loopGuard) {
        this.log.debug('automatic action not fired: the request carries the context token of its own invocation', { action: action.name, invocation: origin.id });
        continue;
      }
      const chain = origin ? this.chainLength(origin.id) : 0;
      if (chain >= this.loopLimit) {
        this.log.warn('automatic action not fired: the chain of invocations that caused this change reached the loop limit', {
          action: action.name,
          invocation: origin?.id,
          chain,
          loopLimit: this.loopLimit,
        });
        continue;
      }
      if (!trigger.enabled) {
        if (!this.warnedNoBroker) this.log.warn('automatic actions are not sent: the emulator has no broker', { action: action.name });
        this.warnedNoBroker = true;
        continue;
      }
      for (const destination of action.message_destinations) {
        try {
          fired.push(
            await trigger.trigger(
              { action: action.id, destination, incident: object.incidentId, objectType: object.type, objectId: object.id },
              origin ? { causedBy: origin.id } : {},
            ),
          );
        } catch (error) {
          this.log.warn('automatic action could not be sent', { action: action.name, destination, error: (error as Error).message });
        }
      }
    }
    return fired;
  }

  /** How many invocations the chain ending in `id` holds (following `caused_by`). */
  private chainLength(id: number): number {
    let length = 0;
    const seen = new Set<number>();
    for (let at: number | undefined = id; at !== undefined && !seen.has(at); at = this.deps.invocations.get(at)?.caused_by) {
      seen.add(at);
      length++;
    }
    return length;
  }
}
