import type { StateListener, TransportState } from './transport.js';

/**
 * A transport's connection state, its listeners, and the promise of its
 * first connection: the part every transport has the same. Transports keep
 * the wire logic and call {@link ConnectionState.set} at each transition.
 *
 * @example
 * private readonly conn = new ConnectionState();
 * get state() { return this.conn.state; }
 * onState(listener) { return this.conn.onState(listener); }
 */
export class ConnectionState {
  private current: TransportState = 'disconnected';
  private readonly listeners = new Set<StateListener>();
  private first: { resolve: () => void; promise: Promise<void> } | undefined;

  get state(): TransportState {
    return this.current;
  }

  onState(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a transition and tells every listener; `connected` also settles {@link firstConnected}. */
  set(state: TransportState, detail?: Parameters<StateListener>[1]): void {
    this.current = state;
    for (const listener of this.listeners) listener(state, detail);
    if (state === 'connected') this.first?.resolve();
  }

  /**
   * Resolves once the transport has connected for the first time (at once
   * when it is connected now); rejects when `signal` aborts first. The
   * transport starts dialling after asking, so the promise exists before
   * any connection can report.
   */
  firstConnected(signal?: AbortSignal): Promise<void> {
    if (this.current === 'connected') return Promise.resolve();
    if (!this.first) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.first = { resolve, promise };
    }
    const pending = this.first.promise;
    if (!signal) return pending;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('connect aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}
