import type { ActivityEvent } from './record.js';

/**
 * A downstream system the reporter delivers events to (a store, syslog,
 * a webhook...). `deliver` may throw; the reporter retries with backoff.
 */
export interface ActivitySink {
  /** Names the sink in logs, metrics and channel selection (`file`, `sqlite`, `syslog`...). */
  readonly name: string;
  /** Which events this sink wants; default: every event. Stores take only final events (with the signed record). */
  accepts?(event: ActivityEvent): boolean;
  deliver(event: ActivityEvent): Promise<void>;
  /**
   * Delivers several events, in order, as one unit (one fsync, one
   * transaction). A sink that has it gets everything queued at once; on a
   * failure the whole batch is retried, so delivering an event twice must be
   * harmless (stores skip a record they already hold).
   */
  deliverBatch?(events: readonly ActivityEvent[]): Promise<void>;
  /**
   * With `deliverBatch`: once an event is waiting, wait this long for more
   * before delivering (an email that gathers the activities of a few
   * seconds). Default 0: deliver what is queued at once.
   */
  readonly batchWindowMs?: number;
  /** With `deliverBatch`: most events in one batch (default 500). */
  readonly maxBatch?: number;
  close?(): Promise<void>;
}
