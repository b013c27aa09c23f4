/**
 * Finds a reply that takes the broker connection down with it, so one bad
 * message cannot keep a processor reconnecting forever.
 *
 * Some brokers answer a SEND they refuse by closing the connection without
 * saying which frame was at fault (RabbitMQ's web-stomp: "STOMP died"; its
 * STOMP adapter right after the ERROR). The reply is then lost with every
 * other frame in flight, the message comes back, its stored reply is sent
 * again, and the connection drops again. A reply lost that way becomes a
 * suspect; a suspect is sent alone (no other reply in flight, and the others
 * wait), so a connection lost while it is out is its fault. After `limit`
 * losses (the first among others, the rest alone) the caller dead-letters
 * the message with the reason instead of sending the reply again.
 */
export class ReplyGate {
  private readonly strikes = new Map<string, { losses: number; cause: string }>();
  private inFlight = 0;
  /** Probes queued or running: new ordinary replies wait for them, so a probe is not starved. */
  private probes = 0;
  private probeRunning = false;
  private readonly waiters: Array<() => void> = [];

  /**
   * @param limit losses after which the reply is given up (default 3: one among others, two alone)
   * @param capacity suspects remembered; the oldest are forgotten first
   */
  constructor(
    private readonly limit = 3,
    private readonly capacity = 10_000,
  ) {}

  /** How the reply under `key` goes out: as usual, alone, or not at all (dead-letter it). */
  verdict(key: string): 'send' | 'alone' | 'give up' {
    const strikes = this.losses(key);
    if (strikes >= this.limit) return 'give up';
    return strikes > 0 ? 'alone' : 'send';
  }

  /** Losses so far of the reply under `key`. */
  losses(key: string): number {
    return this.strikes.get(key)?.losses ?? 0;
  }

  /** Why the connection dropped the last time the reply under `key` was lost. */
  cause(key: string): string | undefined {
    return this.strikes.get(key)?.cause;
  }

  /** Waits while a probe is queued or running, then counts one reply in flight until the returned release. */
  async enter(): Promise<() => void> {
    while (this.probes > 0) await this.wait();
    this.inFlight++;
    return this.once(() => this.inFlight--);
  }

  /** Waits until no other reply is in flight, then holds the gate until the returned release. */
  async enterAlone(): Promise<() => void> {
    this.probes++;
    while (this.inFlight > 0 || this.probeRunning) await this.wait();
    this.probeRunning = true;
    return this.once(() => {
      this.probeRunning = false;
      this.probes--;
    });
  }

  /** The connection dropped before the broker confirmed this reply; `alone` when it was the only one out. */
  lost(key: string, alone: boolean, cause: string): void {
    const strikes = this.losses(key);
    this.strikes.delete(key); // re-inserted last: the map's order is the eviction order
    this.strikes.set(key, { losses: alone ? strikes + 1 : Math.max(strikes, 1), cause });
    if (this.strikes.size > this.capacity) this.strikes.delete(this.strikes.keys().next().value!);
  }

  /** The broker took the reply (or the message was dealt with otherwise): forget it. */
  settled(key: string): void {
    this.strikes.delete(key);
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private once(release: () => void): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      for (const wake of this.waiters.splice(0)) wake();
    };
  }
}
