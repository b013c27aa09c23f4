/** Capped exponential backoff with jitter, for reconnects. */
export interface BackoffOptions {
  /** First delay (ms). Default 1000. */
  initialMs?: number;
  /** Upper bound (ms). Default 60000. */
  maxMs?: number;
  /** Growth factor per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay randomised either way. Default 0.2. */
  jitter?: number;
}

/**
 * Delay before reconnect attempt `attempt` (1-based).
 * Jitter keeps many processors from hammering a broker that just came back.
 *
 * @example
 * backoffDelay(3, { initialMs: 1000, maxMs: 60000 }); // about 4000 ms
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialMs = 1000, maxMs = 60_000, factor = 2, jitter = 0.2 } = options;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  const spread = base * jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(maxMs, Math.round(base + spread)));
}
