import type { CompletedReplies, StoredReply } from '../runtime/completed-replies.js';
import { AcknowledgementSchema } from '../wire/acknowledgement.js';
import { openMigrated } from './migrations.js';
import type { SqlConnection } from './sql-dialect.js';

/** What {@link SqlCompletedReplies.claim} found: the run is yours, already done, or someone else's. */
export type ClaimResult = 'claimed' | { completed: StoredReply } | 'busy';

/** How a {@link SqlCompletedReplies} tells time and treats its connection. */
export interface SqlCompletedRepliesOptions {
  /** Epoch milliseconds; leases compare against it. Default `Date.now`. */
  now?: () => number;
  /** `close()` closes the connection too. Default false. */
  ownsConnection?: boolean;
}

interface Row {
  status: string;
  reply: string | null;
  reply_to: string | null;
  correlation_id: string | null;
  completed_at: number | string | null;
  owner: string | null;
  lease_until: number | string | null;
}

const TABLE = 'completed_replies';
const SELECT = 'SELECT status, reply, reply_to, correlation_id, completed_at, owner, lease_until FROM completed_replies WHERE `key` = ?';

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
 * if (claim === 'claimed') { ...run...; await replies.put(key, stored); }
 * else if (claim !== 'busy') resend(claim.completed);
 */
export class SqlCompletedReplies implements CompletedReplies {
  private readonly now: () => number;
  private readonly ownsConnection: boolean;

  /** Replies on a connection whose schema is migrated (see `migrate`). */
  constructor(
    readonly connection: SqlConnection,
    options: SqlCompletedRepliesOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.ownsConnection = options.ownsConnection ?? false;
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

  /** Stores the final reply under `key`, completing any claim on it. */
  async put(key: string, value: StoredReply): Promise<void> {
    const columns = ['key', 'status', 'reply', 'reply_to', 'correlation_id', 'completed_at', 'lease_until'];
    await this.connection.run(this.connection.dialect.upsert(TABLE, columns, ['key'], columns.slice(1)), [
      key, 'completed', JSON.stringify(value.reply), value.replyTo, value.correlationId, value.completedAt, null,
    ]);
  }

  /**
   * Claims the run of `key` for `owner` until `leaseMs` from now, atomically
   * across every process on the database:
   * - nobody has it: a running claim is stored, `'claimed'`;
   * - it completed: `{ completed }`, the reply to send again;
   * - `owner` already holds it: the lease is renewed, `'claimed'`;
   * - another owner's lease is still valid: `'busy'`;
   * - another owner's lease has run out: taken over, `'claimed'`.
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
        return 'claimed';
      } catch (error) {
        if (!this.connection.dialect.isUniqueViolation(error)) throw error;
      }
      // The row exists: lock it (an existing row, so no gap locks to deadlock on) and decide.
      const outcome = await this.connection.transaction<ClaimResult | undefined>(async (tx) => {
        const [row] = await tx.all<Row>(`${SELECT}${this.connection.dialect.forUpdate}`, [key]);
        if (!row) return undefined;
        if (row.status === 'completed') return { completed: toStored(row) };
        if (row.owner !== owner && Number(row.lease_until) > now) return 'busy';
        await tx.run('UPDATE completed_replies SET owner = ?, claimed_at = ?, lease_until = ? WHERE `key` = ?', [owner, now, until, key]);
        return 'claimed';
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
