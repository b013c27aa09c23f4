import type { RestClient } from '../rest/client.js';

interface ActionEntity {
  id: number;
  name: string;
}

/**
 * Resolves `action_id` to the action's name through `GET /actions`. The
 * list is cached; an id it does not know makes it refresh once (a new
 * action, just installed), with concurrent misses sharing one refresh. An
 * id still unknown after that is not looked up again for `minRefreshMs`,
 * so a flood of bad ids cannot hammer the platform.
 */
export class ActionCatalog {
  private names = new Map<number, string>();
  private refreshing: Promise<void> | undefined;
  private readonly misses = new Map<number, number>();

  constructor(private readonly minRefreshMs = 1000) {}

  /**
   * The action's name, or `undefined` if the platform does not know the id.
   * `rest` is the client of the message being handled, so a refresh carries
   * its context token like every other call made for that message.
   */
  async resolve(actionId: number, rest: RestClient): Promise<string | undefined> {
    const known = this.names.get(actionId);
    if (known !== undefined) return known;
    const missedAt = this.misses.get(actionId);
    if (missedAt !== undefined && Date.now() - missedAt < this.minRefreshMs) return undefined;
    await this.refresh(rest);
    const name = this.names.get(actionId);
    if (name === undefined) {
      if (this.misses.size > 10_000) this.misses.clear();
      this.misses.set(actionId, Date.now());
    }
    return name;
  }

  /** Reloads the list now (or joins the reload under way). */
  refresh(rest: RestClient): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const list = await rest.get<{ entities?: ActionEntity[] }>('/actions');
        this.names = new Map((list.entities ?? []).map((a) => [a.id, a.name]));
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
