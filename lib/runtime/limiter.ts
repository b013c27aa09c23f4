/**
 * Bounds how many handlers run at once and, optionally, runs at most one at
 * a time per key (an incident), so a processor does not conflict with itself.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly capacity: number) {}

  /** Handlers running now. */
  get active(): number {
    return this.running;
  }

  /** Handlers waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a slot is free (and after earlier tasks of the same key). */
  run<T>(task: () => Promise<T>, key?: string): Promise<T> {
    if (key === undefined) return this.withSlot(task);
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.withSlot(task), () => this.withSlot(task));
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  private async withSlot<T>(task: () => Promise<T>): Promise<T> {
    // A freed slot is handed straight to the next waiter, so a newcomer cannot take it in between.
    if (this.running >= this.capacity) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
