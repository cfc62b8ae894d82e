// Long-polls of the environment (`wait` with If-None-Match): a request whose copy is current is
// held until a change of its organization changes the ETag, or until its time is up. Nothing
// polls: a held request re-reads only when the change feed names its organization (this
// process's commits at once, other instances' through PostgreSQL notifications). Platform keys
// are read at start, so they never change while a request waits.
import { ALL_ORGANIZATIONS, type ChangeFeed } from "../db/index.js";
import { TooManyRequestsError, UnauthenticatedError } from "../errors.js";
import { ifNoneMatchMatches, type TagCondition } from "../versioning.js";
import type { CallMeta } from "../auth/actor.js";
import type { EnvironmentResult, EnvironmentScope, Resolver } from "./resolve-service.js";

export interface WaitLimits {
  /** Held requests one token may have at a time. */
  perToken: number;
  /** Held requests of the whole process: each is an open connection and a change listener. */
  total: number;
}

const DEFAULT_LIMITS: WaitLimits = { perToken: 4, total: 1_000 };
const RETRY_AFTER_SECONDS = 5;
/** While the change feed is down a change can go unannounced: a held request then re-reads this often. */
const RECHECK_WITHOUT_FEED_MS = 5_000;

export interface EnvironmentRequest extends EnvironmentScope {
  ifNoneMatch?: TagCondition;
  /** Seconds to hold the request while If-None-Match still names the current ETag; 0 answers at once. */
  waitSeconds?: number;
}

/** Who waits: the request's caller, whether its client is still connected, and whether its token still holds. */
export interface WaitingCaller {
  meta: CallMeta;
  /** Aborted when the client goes away: nobody is left to answer. */
  clientGone: AbortSignal;
  /** Checks the request's token again (revoked or expired meanwhile: false). */
  stillAuthenticated: () => Promise<boolean>;
}

export class EnvironmentWatch {
  readonly #heldByToken = new Map<string, number>();
  #held = 0;
  /**
   * ETag reads begun since the last change of their organization, by organization, then scope:
   * the waiters of one scope woken by one change share a single read instead of one each.
   */
  readonly #tagReads = new Map<string, Map<string, Promise<string>>>();

  constructor(
    private readonly resolver: Resolver,
    private readonly changes: ChangeFeed,
    /** Aborted when the service begins to stop: held requests answer (304) at once. */
    private readonly stopping: AbortSignal,
    private readonly limits: WaitLimits = DEFAULT_LIMITS,
  ) {}

  /** Requests held right now. */
  get held(): number {
    return this.#held;
  }

  /**
   * The environment as `Resolver.environment` answers it (and audits it: once, whatever the wait),
   * after holding the request while If-None-Match names the current ETag. Null when the client
   * left during the wait: there is nobody to answer and nothing was read for anyone.
   */
  async environment(organizationId: string, request: EnvironmentRequest, caller: WaitingCaller): Promise<EnvironmentResult | null> {
    const { waitSeconds = 0, ...input } = request;
    const { ifNoneMatch } = input;
    const { meta, clientGone } = caller;
    if (ifNoneMatch !== undefined && waitSeconds > 0) {
      // Only a read begun after the wake-up's change may be shared; the checks before the wait
      // (which no notification has invalidated for this waiter yet) read afresh.
      const unchanged = async (shared: boolean) =>
        ifNoneMatchMatches(ifNoneMatch, await (shared ? this.#sharedTag(organizationId, input) : this.resolver.environmentTag(organizationId, input)));
      if (await unchanged(false)) {
        const release = this.#claim(meta.actor.tokenId);
        try {
          await this.#holdWhile(unchanged, organizationId, waitSeconds * 1000, clientGone);
        } finally {
          release();
        }
        if (clientGone.aborted) return null;
        // Revoking a leaked token and rotating the key is the usual response to a leak: a request
        // held since before the revocation must not carry the new key away.
        if (!(await caller.stillAuthenticated())) throw new UnauthenticatedError("The token was revoked or expired while the request waited.");
      }
    }
    return this.resolver.environment(organizationId, input, meta);
  }

  #sharedTag(organizationId: string, scope: EnvironmentScope): Promise<string> {
    const key = `${scope.projectId ?? ""}\n${scope.environment ?? ""}`;
    let reads = this.#tagReads.get(organizationId);
    const begun = reads?.get(key);
    if (begun) return begun;
    if (!reads) this.#tagReads.set(organizationId, (reads = new Map<string, Promise<string>>()));
    const read = this.resolver.environmentTag(organizationId, scope).finally(() => {
      const current = this.#tagReads.get(organizationId);
      if (current?.get(key) !== read) return;
      current.delete(key);
      if (current.size === 0) this.#tagReads.delete(organizationId);
    });
    reads.set(key, read);
    return read;
  }

  /** A change was announced: reads begun before it may not have seen it, so later checks must not join them. */
  #forgetReads(organizationId: string): void {
    if (organizationId === ALL_ORGANIZATIONS) this.#tagReads.clear();
    else this.#tagReads.delete(organizationId);
  }

  #claim(tokenId: string): () => void {
    const mine = this.#heldByToken.get(tokenId) ?? 0;
    if (mine >= this.limits.perToken) {
      throw new TooManyRequestsError(
        `This token already has ${mine} environment requests waiting for a change; let one finish before starting another.`,
        RETRY_AFTER_SECONDS,
      );
    }
    if (this.#held >= this.limits.total) {
      throw new TooManyRequestsError("Too many environment requests are waiting for a change on this instance; retry later.", RETRY_AFTER_SECONDS);
    }
    this.#heldByToken.set(tokenId, mine + 1);
    this.#held += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held -= 1;
      const left = (this.#heldByToken.get(tokenId) ?? 1) - 1;
      if (left > 0) this.#heldByToken.set(tokenId, left);
      else this.#heldByToken.delete(tokenId);
    };
  }

  /**
   * Re-checks `unchanged` on every change of the organization until it is false, `ms` have passed,
   * the client has gone or the service stops. Every listener and timer is removed on the way out.
   */
  async #holdWhile(unchanged: (shared: boolean) => Promise<boolean>, organizationId: string, ms: number, clientGone: AbortSignal): Promise<void> {
    // A change announced while a check reads the database sets `pending`, so it is checked again.
    let pending = false;
    let over = false;
    let wake: (() => void) | undefined;
    const fire = () => {
      pending = true;
      wake?.();
    };
    const end = () => {
      over = true;
      fire();
    };
    const unsubscribe = this.changes.subscribe((changed) => {
      if (changed !== organizationId && changed !== ALL_ORGANIZATIONS) return;
      this.#forgetReads(changed);
      fire();
    });
    const deadline = setTimeout(end, ms);
    let recheck: NodeJS.Timeout | undefined;
    clientGone.addEventListener("abort", end);
    this.stopping.addEventListener("abort", end);
    try {
      if (clientGone.aborted || this.stopping.aborted) return;
      // The first check covers a change committed between the caller's check and the subscription.
      let shared = false;
      while (await unchanged(shared)) {
        shared = true;
        if (!pending) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (!this.changes.live) recheck = setTimeout(fire, RECHECK_WITHOUT_FEED_MS);
          });
        }
        clearTimeout(recheck);
        wake = undefined;
        pending = false;
        if (over) return;
      }
    } finally {
      unsubscribe();
      clearTimeout(deadline);
      clearTimeout(recheck);
      clientGone.removeEventListener("abort", end);
      this.stopping.removeEventListener("abort", end);
    }
  }
}
