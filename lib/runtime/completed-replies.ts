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
