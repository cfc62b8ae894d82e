import { ALL_ORGANIZATIONS } from "./scope.js";

export type ChangeListener = (organizationId: string) => void;

/**
 * Which organizations' rows changed, for the service's caches. Drivers announce their own commits
 * at once (a cache of this process never serves what this process just changed) and, on
 * PostgreSQL, other processes' commits as their notifications arrive. While `live` is false a
 * change could go unannounced, so caches must not keep anything.
 */
export class ChangeFeed {
  #listeners = new Set<ChangeListener>();
  #live: boolean;

  constructor(
    live: boolean,
    /** Called when the first listener subscribes: where the PostgreSQL driver starts to LISTEN. */
    private readonly onFirstListener: () => void = () => {},
  ) {
    this.#live = live;
  }

  get live(): boolean {
    return this.#live;
  }

  /** How many listeners are subscribed: a gauge of held waits, and how tests see that none leaked. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.onFirstListener();
    return () => this.#listeners.delete(listener);
  }

  /** `organizationId` '*' (ALL_ORGANIZATIONS): anything may have changed. */
  announce(organizationId: string): void {
    for (const listener of this.#listeners) listener(organizationId);
  }

  /** Going down or coming back both announce '*': what happened meanwhile is unknown. */
  setLive(live: boolean): void {
    if (live === this.#live) return;
    this.#live = live;
    this.announce(ALL_ORGANIZATIONS);
  }
}

/** The channel the triggers of migration 0006 notify, with the changed row's organization id. */
export const CHANGE_CHANNEL = "keyplane_changes";
