import type { ActivityRecord } from '../activity/record.js';
import type { Acknowledgement } from '../wire/acknowledgement.js';

/** A final reply kept so a redelivered message gets it again instead of a second run. */
export interface StoredReply {
  replyTo: string;
  correlationId: string;
  reply: Acknowledgement;
  completedAt: number;
}

/**
 * A claim granted: the run is this instance's. `rerun` when the invocation
 * was claimed before by a run that never finished (the processor died, or
 * lost its lease): that run may have had effects, and the handler is told.
 */
export interface ClaimedRun {
  rerun: boolean;
  /** When the first run of this invocation was claimed (epoch ms). */
  firstStartedAt: number;
}

/** What a claim finds: the run is yours, it completed elsewhere, or another live instance runs it. */
export type ClaimResult = { claimed: ClaimedRun } | { completed: StoredReply } | 'busy';

/**
 * Where completed replies are remembered. In memory here; a durable,
 * shared store plugs in behind the same interface.
 */
export interface CompletedReplies {
  get(key: string): Promise<StoredReply | undefined>;
  /**
   * Stores the final reply; with `record`, a store that keeps activities
   * stores that run's signed record too, in the same commit where it can:
   * once the message is acknowledged, its record is as durable as its reply.
   */
  put(key: string, value: StoredReply, record?: ActivityRecord): Promise<void>;
  /**
   * A store shared by several processor instances can also hand out claims:
   * `claimed` (run it), the stored reply (it completed meanwhile), or `busy`
   * (another live instance is running it; its lease has not expired).
   * Owners are instance ids that survive a restart, so an instance takes
   * back its own unfinished claims at once.
   */
  claim?(key: string, owner: string, leaseMs: number): Promise<ClaimResult>;
  /** Extends a running claim; false when it was lost. */
  renew?(key: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Gives a claim back without completing (the run did not happen). */
  release?(key: string, owner: string): Promise<boolean>;
}

/** A bounded in-memory store, oldest entries forgotten first. */
export class MemoryCompletedReplies implements CompletedReplies {
  private readonly entries = new Map<string, StoredReply>();

  constructor(private readonly capacity = 10_000) {}

  async get(key: string): Promise<StoredReply | undefined> {
    return this.entries.get(key);
  }

  async put(key: string, value: StoredReply): Promise<void> {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
