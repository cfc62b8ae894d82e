// Resolution runs on every AI call an organization makes and its answer changes rarely, so the
// chosen candidate row (and the model aliases in scope) is kept in memory between changes. It holds what the database holds (the
// secret still encrypted under its data key, the data key wrapped), never a plaintext: every
// resolve still decrypts, checks and audits. Entries go when the database announces a change to
// their organization (db.changes: this process's commits at once, other instances' through
// PostgreSQL notifications), when a served previous version's grace period ends, and after
// MAX_AGE_MS in any case. While the change feed is down nothing is kept.
import { ALL_ORGANIZATIONS, type ChangeFeed } from "../db/index.js";
import type { CandidateRow } from "./resolve-dal.js";

const MAX_AGE_MS = 5_000;
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  row: T;
  until: number;
}

/** Rows of one kind, per organization and key, dropped when their organization changes. */
export class OrganizationCache<T> {
  readonly #byOrganization = new Map<string, Map<string, Entry<T>>>();
  #size = 0;
  // Bumped by every change: a row loaded while one happened may predate it and is not kept.
  #generation = 0;

  constructor(
    private readonly changes: ChangeFeed,
    private readonly maxAgeMs = MAX_AGE_MS,
    /** When a row stops being servable regardless of changes (epoch ms). */
    private readonly servableUntil: (row: T) => number = () => Infinity,
  ) {
    changes.subscribe((organizationId) => this.#forget(organizationId));
  }

  /** The cached row for (organization, key), else `load()`'s, kept when it is safe to keep. */
  async get(organizationId: string, key: string, load: () => Promise<T | null>): Promise<T | null> {
    const now = Date.now();
    const cached = this.#byOrganization.get(organizationId)?.get(key);
    if (cached && cached.until > now) return cached.row;
    const generation = this.#generation;
    const row = await load();
    // No row: the organization does not exist (yet); not worth an entry an unknown id could fill.
    if (row && this.changes.live && generation === this.#generation) this.#keep(organizationId, key, row, now);
    return row;
  }

  #keep(organizationId: string, key: string, row: T, now: number): void {
    const until = Math.min(now + this.maxAgeMs, this.servableUntil(row));
    if (this.#size >= MAX_ENTRIES) this.#forget(ALL_ORGANIZATIONS);
    let entries = this.#byOrganization.get(organizationId);
    if (!entries) this.#byOrganization.set(organizationId, (entries = new Map<string, Entry<T>>()));
    if (!entries.has(key)) this.#size += 1;
    entries.set(key, { row, until });
  }

  #forget(organizationId: string): void {
    this.#generation += 1;
    if (organizationId === ALL_ORGANIZATIONS) {
      this.#byOrganization.clear();
      this.#size = 0;
      return;
    }
    this.#size -= this.#byOrganization.get(organizationId)?.size ?? 0;
    this.#byOrganization.delete(organizationId);
  }
}

export class CandidateCache extends OrganizationCache<CandidateRow> {
  constructor(changes: ChangeFeed, maxAgeMs = MAX_AGE_MS) {
    // A previous version is servable only until its grace period ends.
    super(changes, maxAgeMs, (row) => (row.served_usable && row.grace_expires_at ? row.grace_expires_at.getTime() : Infinity));
  }
}
