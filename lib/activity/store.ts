import type { ActivityRecord } from './record.js';

/**
 * Where signed records are kept (JSON Lines file, SQLite, MariaDB/MySQL).
 * Records are appended in chain order and read back in the same order.
 */
export interface ActivityStore {
  /** Stores a record; resolves once it is durable. */
  append(record: ActivityRecord): Promise<void>;
  /** Every stored record, in order of (chain_id, seq). */
  read(): AsyncIterable<ActivityRecord>;
  close(): Promise<void>;
}
