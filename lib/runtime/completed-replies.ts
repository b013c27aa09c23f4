import type { Acknowledgement } from '../wire/acknowledgement.js';

/** A final reply kept so a redelivered message gets it again instead of a second run. */
export interface StoredReply {
  replyTo: string;
  correlationId: string;
  reply: Acknowledgement;
  completedAt: number;
}

/**
 * Where completed replies are remembered. In memory here; a durable,
 * shared store plugs in behind the same interface.
 */
export interface CompletedReplies {
  get(key: string): Promise<StoredReply | undefined>;
  put(key: string, value: StoredReply): Promise<void>;
  /**
   * A store shared by several processor instances can also hand out claims:
   * `claimed` (run it), the stored reply (it completed meanwhile), or `busy`
   * (another live instance is running it; its lease has not expired).
   */
  claim?(key: string, owner: string, leaseMs: number): Promise<'claimed' | 'busy' | { completed: StoredReply }>;
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
