import type { ClaimResult, CompletedReplies, StoredReply } from '../runtime/completed-replies.js';
import { AcknowledgementSchema } from '../wire/acknowledgement.js';
import { openMigrated } from './migrations.js';
import type { ActivityRecord } from './record.js';
import type { SqlActivityStore } from './sql-store.js';
import type { SqlConnection } from './sql-dialect.js';

/** How a {@link SqlCompletedReplies} tells time and treats its connection. */
export interface SqlCompletedRepliesOptions {
  /** Epoch milliseconds; leases compare against it. Default `Date.now`. */
  now?: () => number;
  /** `close()` closes the connection too. Default false. */
  ownsConnection?: boolean;
  /** The activity store on the same database, for records stored with their reply (see {@link SqlCompletedReplies.put}). */
  records?: SqlActivityStore;
}

interface Row {
  status: string;
  reply: string | null;
  reply_to: string | null;
  correlation_id: string | null;
  completed_at: number | string | null;
  owner: string | null;
  claimed_at: number | string | null;
  lease_until: number | string | null;
}

const TABLE = 'completed_replies';
const SELECT = 'SELECT status, reply, reply_to, correlation_id, completed_at, owner, claimed_at, lease_until FROM completed_replies WHERE `key` = ?';

/**
 * Completed replies kept in SQLite or MariaDB/MySQL (table
 * `completed_replies`), shared by every instance using the same database,
 * so a redelivered invocation gets its stored reply instead of a second run,
 * after a restart too. Keys are `<destination>|<correlation id>`.
 *
 * `claim` marks an invocation as being run, with a lease, so two instances
 * handed the same invocation do not both run it: the first claims it, the
 * other is told `busy` until the lease runs out (the first instance died) or
 * `put` completes it. Leases use each host's clock: keep hosts in NTP sync.
 *
 * @example
 * const replies = new SqlCompletedReplies(store.connection);
 * const claim = await replies.claim(key, instanceId, 5 * 60_000);
 * if (claim === 'busy') retryLater();
 * else if ('completed' in claim) resend(claim.completed);
 * else { ...run (claim.claimed.rerun: an earlier run did not finish)...; await replies.put(key, stored); }
 */
export class SqlCompletedReplies implements CompletedReplies {
  private readonly now: () => number;
  private readonly ownsConnection: boolean;
  private readonly records: SqlActivityStore | undefined;

  /** Replies on a connection whose schema is migrated (see `migrate`). */
  constructor(
    readonly connection: SqlConnection,
    options: SqlCompletedRepliesOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.ownsConnection = options.ownsConnection ?? false;
    this.records = options.records;
  }

  /** Opens the database a URL names (as `openActivityStore` does), migrated, owning the connection. */
  static async open(url: string, options: Omit<SqlCompletedRepliesOptions, 'ownsConnection'> = {}): Promise<SqlCompletedReplies> {
    return new SqlCompletedReplies(await openMigrated(url), { ...options, ownsConnection: true });
  }

  /** The completed reply under `key`; undefined when none, or when it is only claimed. */
  async get(key: string): Promise<StoredReply | undefined> {
    const [row] = await this.connection.all<Row>(SELECT, [key]);
    return row?.status === 'completed' ? toStored(row) : undefined;
  }

  /**
   * Stores the final reply under `key`, completing any claim on it, and
   * `record` in the activity store given at construction. Issued together,
   * so with SQLite they share one commit; with MySQL both are committed
   * before this resolves.
   */
  async put(key: string, value: StoredReply, record?: ActivityRecord): Promise<void> {
    const columns = ['key', 'status', 'reply', 'reply_to', 'correlation_id', 'completed_at', 'lease_until'];
    const reply = this.connection.run(this.connection.dialect.upsert(TABLE, columns, ['key'], columns.slice(1)), [
      key, 'completed', JSON.stringify(value.reply), value.replyTo, value.correlationId, value.completedAt, null,
    ]);
    if (record && this.records) await Promise.all([reply, this.records.append(record)]);
    else await reply;
  }

  /**
   * Claims the run of `key` for `owner` until `leaseMs` from now, atomically
   * across every process on the database:
   * - nobody has it: a running claim is stored, `{ claimed }`, not a re-run;
   * - it completed: `{ completed }`, the reply to send again;
   * - `owner` already holds it (the same instance, restarted after dying
   *   mid-run): taken back with a new lease, `{ claimed }`, a re-run;
   * - another owner's lease is still valid: `'busy'`;
   * - another owner's lease has run out: taken over, `{ claimed }`, a re-run.
   * `claimed_at` keeps the first claim's time across take-overs.
   */
  async claim(key: string, owner: string, leaseMs: number): Promise<ClaimResult> {
    const now = this.now();
    const until = now + leaseMs;
    for (let attempt = 1; attempt <= 5; attempt++) {
      // A plain INSERT is atomic on its own: exactly one process creates the row.
      try {
        await this.connection.run(
          'INSERT INTO completed_replies (`key`, status, owner, claimed_at, lease_until) VALUES (?, ?, ?, ?, ?)',
          [key, 'running', owner, now, until],
        );
        return { claimed: { rerun: false, firstStartedAt: now } };
      } catch (error) {
        if (!this.connection.dialect.isUniqueViolation(error)) throw error;
      }
      // The row exists: lock it (an existing row, so no gap locks to deadlock on) and decide.
      const outcome = await this.connection.transaction<ClaimResult | undefined>(async (tx) => {
        const [row] = await tx.all<Row>(`${SELECT}${this.connection.dialect.forUpdate}`, [key]);
        if (!row) return undefined;
        if (row.status === 'completed') return { completed: toStored(row) };
        if (row.owner !== owner && Number(row.lease_until) > now) return 'busy';
        await tx.run('UPDATE completed_replies SET owner = ?, lease_until = ? WHERE `key` = ?', [owner, until, key]);
        return { claimed: { rerun: true, firstStartedAt: Number(row.claimed_at ?? now) } };
      });
      // undefined: the claim was released between the two steps; start over.
      if (outcome !== undefined) return outcome;
    }
    throw new Error(`could not claim ${key}: its claim keeps being released and re-created`);
  }

  /** Extends `owner`'s lease on `key` for a long run; false when `owner` no longer holds it. */
  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    const { changes } = await this.connection.run(
      "UPDATE completed_replies SET lease_until = ? WHERE `key` = ? AND owner = ? AND status = 'running'",
      [this.now() + leaseMs, key, owner],
    );
    return changes > 0;
  }

  /** Gives up `owner`'s running claim on `key` (the run ended without a final reply); false when it held none. */
  async release(key: string, owner: string): Promise<boolean> {
    const { changes } = await this.connection.run("DELETE FROM completed_replies WHERE `key` = ? AND owner = ? AND status = 'running'", [key, owner]);
    return changes > 0;
  }

  /** Forgets completed replies older than `completedBefore` (epoch ms); resolves to how many. */
  async prune(completedBefore: number): Promise<number> {
    const { changes } = await this.connection.run("DELETE FROM completed_replies WHERE status = 'completed' AND completed_at < ?", [completedBefore]);
    return changes;
  }

  /** Closes the connection if this store owns it. */
  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }
}

function toStored(row: Row): StoredReply {
  return {
    replyTo: row.reply_to ?? '',
    correlationId: row.correlation_id ?? '',
    reply: AcknowledgementSchema.parse(JSON.parse(row.reply ?? 'null')),
    completedAt: Number(row.completed_at),
  };
}
