import { z } from 'zod';

/**
 * Faults the emulator injects into `/rest`, to test what the CAF guide's
 * "Testing Considerations" ask for: conflicting edits, a slow or failing
 * platform, a platform that is down. Strict, so a misspelt fault is a 400
 * rather than a test that silently injects nothing.
 */
export const FaultConfigSchema = z.strictObject({
  /**
   * The next N PUTs of objects with a `vers` (incidents, message
   * destinations, fields, actions) answer 409, even with the current `vers`.
   */
  conflicts: z.number().int().nonnegative().optional(),
  /** Added to every `/rest` response (ms). */
  latencyMs: z.number().int().nonnegative().max(600_000).optional(),
  /** The next `count` `/rest` requests answer `status` (default 503). */
  errors: z
    .strictObject({
      count: z.number().int().nonnegative(),
      status: z.number().int().min(500, { error: 'must be a 5xx status' }).max(599, { error: 'must be a 5xx status' }).optional(),
    })
    .optional(),
  /** `/rest` requests get their socket destroyed without a response. */
  down: z.boolean().optional(),
});
/** A fault configuration (what `PUT /emulator/faults` takes and `GET` shows). */
export type FaultConfig = z.infer<typeof FaultConfigSchema>;

/** What the fault layer decided for one `/rest` request, in the order it applies. */
export type FaultDecision =
  | { kind: 'down' }
  | { kind: 'error'; status: number; latencyMs: number }
  | { kind: 'pass'; latencyMs: number };

/**
 * The live fault state. Counters go down as faults are used; `/emulator/*`
 * control endpoints never consult it.
 *
 * @example
 * const faults = new Faults({ conflicts: 1 });
 * faults.takeConflict(); // true
 * faults.takeConflict(); // false
 */
export class Faults {
  private config: FaultConfig = {};

  constructor(initial: FaultConfig = {}) {
    this.set(initial);
  }

  /** Replaces the whole configuration (validated; throws a ZodError when invalid). */
  set(config: FaultConfig): void {
    this.config = structuredClone(FaultConfigSchema.parse(config));
  }

  /** The current configuration, with counters as they are now. */
  get(): FaultConfig {
    return structuredClone(this.config);
  }

  /** Decides what happens to the next `/rest` request, using up an error if one is due. */
  decide(): FaultDecision {
    if (this.config.down) return { kind: 'down' };
    const latencyMs = this.config.latencyMs ?? 0;
    const errors = this.config.errors;
    if (errors && errors.count > 0) {
      errors.count--;
      return { kind: 'error', status: errors.status ?? 503, latencyMs };
    }
    return { kind: 'pass', latencyMs };
  }

  /** Uses up one forced conflict; true when this PUT must answer 409. */
  takeConflict(): boolean {
    const left = this.config.conflicts ?? 0;
    if (left <= 0) return false;
    this.config.conflicts = left - 1;
    return true;
  }
}
