import { canonicalRecordText } from './signer.js';
import { openMigrated } from './migrations.js';
import { ActivityRecordSchema, type ActivityEvent, type ActivityRecord } from './record.js';
import type { ActivitySink } from './sink.js';
import type { SqlConnection } from './sql-dialect.js';
import type { ActivityStore } from './store.js';

/** A different record already holds this record's place (its `(chain_id, seq)` or its `id`). */
export class DuplicateRecordError extends Error {
  override name = 'DuplicateRecordError';
  constructor(
    readonly chainId: string,
    readonly seq: number,
    readonly id: string,
  ) {
    super(`a different activity record is already stored as chain ${chainId} seq ${seq} or id ${id}`);
  }
}

/** How a {@link SqlActivityStore} names itself and treats its connection. */
export interface SqlActivityStoreOptions {
  /** The sink's name, for the reporter. Default: `sqlite` or `mysql`. */
  name?: string;
  /** `close()` closes the connection too. Default false for a connection passed in, true for {@link openActivityStore}. */
  ownsConnection?: boolean;
}

const COLUMNS = ['id', 'execution_id', 'chain_id', 'seq', 'correlation_id', 'org_id', 'destination', 'action_name', 'status', 'received_at', 'ended_at', 'key_id', 'record', 'incident_id', 'processor'];
const INSERT = `INSERT INTO activities (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
const PAGE = 500;

/**
 * Signed activity records in SQLite or MariaDB/MySQL (table `activities`),
 * one code path for both. Each row keeps the record's canonical JSON
 * verbatim in `record`, with copies of the fields worth querying in columns.
 * `(chain_id, seq)` is unique: a second, different record for the same place
 * is refused; the same record again (a redelivery) is accepted and stored
 * once.
 *
 * Also an {@link ActivitySink} taking only final events (the ones carrying
 * the signed record). A refused record fails its delivery, which the
 * reporter retries and logs, holding that sink's queue: two different
 * records for one place in a chain need an operator, not a silent drop.
 *
 * @example
 * const store = await openActivityStore('sqlite:/var/lib/cafkit/activities.db');
 * await store.append(record);
 * for await (const r of store.read()) console.log(r.chain_id, r.seq);
 */
export class SqlActivityStore implements ActivityStore, ActivitySink {
  readonly name: string;
  private readonly ownsConnection: boolean;

  /** A store on a connection whose schema is migrated (see {@link migrate}). */
  constructor(
    readonly connection: SqlConnection,
    options: SqlActivityStoreOptions = {},
  ) {
    this.name = options.name ?? connection.dialect.name;
    this.ownsConnection = options.ownsConnection ?? false;
  }

  /** Final events only: the ones with a signed record. */
  accepts(event: ActivityEvent): boolean {
    return event.record !== undefined;
  }

  /** Appends the event's record; events without one are ignored. */
  async deliver(event: ActivityEvent): Promise<void> {
    if (event.record) await this.append(event.record);
  }

  /** Appends the records of `events` in order; issued together, they share one commit. */
  async deliverBatch(events: readonly ActivityEvent[]): Promise<void> {
    await Promise.all(events.flatMap((event) => (event.record ? [this.append(event.record)] : [])));
  }

  /**
   * Stores `record`; resolves once committed.
   *
   * @throws {DuplicateRecordError} a different record has the same `(chain_id, seq)` or `id`.
   */
  async append(record: ActivityRecord): Promise<void> {
    const text = canonicalRecordText(record);
    try {
      await this.connection.run(INSERT, [
        record.id, record.execution_id, record.chain_id, record.seq, record.correlation_id, record.org_id, record.destination,
        record.action_name, record.status, record.received_at, record.ended_at, record.key_id, text,
        record.object_ids['incident'] ?? null, record.processor.name,
      ]);
    } catch (error) {
      if (!this.connection.dialect.isUniqueViolation(error)) throw error;
      const existing = await this.connection.all<{ record: string }>(
        'SELECT record FROM activities WHERE id = ? OR (chain_id = ? AND seq = ?)',
        [record.id, record.chain_id, record.seq],
      );
      // Delivery is at least once: the very same record again is not a conflict.
      if (existing.length === 1 && existing[0]?.record === text) return;
      throw new DuplicateRecordError(record.chain_id, record.seq, record.id);
    }
  }

  /**
   * Every record in order of `(chain_id, seq)`, read a page at a time.
   *
   * @throws {Error} a stored record no longer fits the schema (naming its id).
   */
  async *read(): AsyncIterable<ActivityRecord> {
    let after: { chainId: string; seq: number } | undefined;
    for (;;) {
      const rows = after
        ? await this.connection.all<Row>(
          `SELECT id, chain_id, seq, record FROM activities WHERE chain_id > ? OR (chain_id = ? AND seq > ?) ORDER BY chain_id, seq LIMIT ${PAGE}`,
          [after.chainId, after.chainId, after.seq],
        )
        : await this.connection.all<Row>(`SELECT id, chain_id, seq, record FROM activities ORDER BY chain_id, seq LIMIT ${PAGE}`);
      for (const row of rows) yield parseRow(row);
      const last = rows.at(-1);
      if (!last || rows.length < PAGE) return;
      after = { chainId: last.chain_id, seq: Number(last.seq) };
    }
  }

  /** The records of `chainId` after `seq`, in order, a page at a time. */
  async *recordsAfter(chainId: string, seq: number): AsyncIterable<ActivityRecord> {
    for (let after = seq; ;) {
      const rows = await this.connection.all<Row>(`SELECT id, chain_id, seq, record FROM activities WHERE chain_id = ? AND seq > ? ORDER BY seq LIMIT ${PAGE}`, [chainId, after]);
      for (const row of rows) yield parseRow(row);
      const last = rows.at(-1);
      if (!last || rows.length < PAGE) return;
      after = Number(last.seq);
    }
  }

  /** The record with the highest `seq` of `chainId`, to resume signing after a restart. */
  async lastRecord(chainId: string): Promise<ActivityRecord | undefined> {
    const rows = await this.connection.all<Row>('SELECT id, chain_id, seq, record FROM activities WHERE chain_id = ? ORDER BY seq DESC LIMIT 1', [chainId]);
    return rows[0] ? parseRow(rows[0]) : undefined;
  }

  /** Closes the connection if this store owns it. */
  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }
}

interface Row {
  id: string;
  chain_id: string;
  seq: number | string;
  record: string;
}

function parseRow(row: Row): ActivityRecord {
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch (error) {
    throw new Error(`activity ${row.id}: stored record is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = ActivityRecordSchema.safeParse(value);
  if (!parsed.success) throw new Error(`activity ${row.id}: stored record is not a valid activity record: ${parsed.error.message}`);
  // The parsed JSON itself, not the schema's copy: verification checks what was stored.
  return value as ActivityRecord;
}

/**
 * Opens a SQL activity store by URL (`sqlite:/path/to/file.db`,
 * `mysql://user:password@host:3306/db`, `mariadb://…`; see
 * `parseDatabaseUrl`), migrating its schema first. The store owns the
 * connection; {@link SqlActivityStore.connection} can be shared with a
 * `SqlCompletedReplies`.
 *
 * @example
 * const store = await openActivityStore(process.env.CAFKIT_ACTIVITY_DB ?? 'sqlite:./data/activities.db');
 */
export async function openActivityStore(url: string, options: Omit<SqlActivityStoreOptions, 'ownsConnection'> = {}): Promise<SqlActivityStore> {
  return new SqlActivityStore(await openMigrated(url), { ...options, ownsConnection: true });
}
