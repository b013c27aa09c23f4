import type { RestClient } from '../rest/client.js';

interface ActionEntity {
  id: number;
  name: string;
}

/**
 * Resolves `action_id` to the action's name through `GET /actions`. The
 * list is cached and refreshed when an id is missing (a new action), with
 * concurrent misses sharing one refresh.
 */
export class ActionCatalog {
  private names = new Map<number, string>();
  private refreshing: Promise<void> | undefined;
  private lastRefresh = 0;

  constructor(private readonly minRefreshMs = 1000) {}

  /**
   * The action's name, or `undefined` if the platform does not know the id.
   * `rest` is the client of the message being handled, so a refresh carries
   * its context token like every other call made for that message.
   */
  async resolve(actionId: number, rest: RestClient): Promise<string | undefined> {
    const known = this.names.get(actionId);
    if (known !== undefined) return known;
    if (this.refreshing) await this.refreshing;
    else if (Date.now() - this.lastRefresh >= this.minRefreshMs || this.names.size === 0) await this.refresh(rest);
    return this.names.get(actionId);
  }

  /** Reloads the list now. */
  refresh(rest: RestClient): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const list = await rest.get<{ entities?: ActionEntity[] }>('/actions');
        this.names = new Map((list.entities ?? []).map((a) => [a.id, a.name]));
        this.lastRefresh = Date.now();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
