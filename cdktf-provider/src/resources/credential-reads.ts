// Refresh reads every keyplane_credential of a configuration, and the engine asks for them a few at
// a time (10 in parallel by default). One GET each would make a plan's cost grow with the request
// count; instead, reads of one organization that arrive together are answered by one listing of
// the organization's credentials, which later reads of the same refresh reuse for a few seconds.
// A lone read stays a single GET, and anything the listing does not hold (created since, or gone)
// is asked for directly, so a missing credential is still confirmed by its own 404.
import type { Credential, KeyplaneClient, Versioned } from "../client/keyplane-client.js";
import { etagFor } from "../../../service/versioning.js";

/** How long a listing answers reads: one refresh, not a later step of the same run. */
const LISTING_TTL_MS = 5_000;
/** How long the first read of a burst waits for the others. */
const GATHER_MS = 2;

interface Listing {
  taken: number;
  byId: Promise<Map<string, Credential>>;
}

interface Pending {
  id: string;
  done: (value: Versioned<Credential> | null) => void;
  failed: (error: unknown) => void;
}

/** The reads of one configured provider (one per provider block and process). */
export class CredentialReads {
  readonly #listings = new Map<string, Listing>();
  readonly #gathering = new Map<string, Pending[]>();

  constructor(private readonly client: KeyplaneClient) {}

  read(organization: string, id: string, signal?: AbortSignal): Promise<Versioned<Credential> | null> {
    const listing = this.#listings.get(organization);
    if (listing && Date.now() - listing.taken < LISTING_TTL_MS) return this.#fromListing(listing, organization, id, signal);
    return new Promise((done, failed) => {
      const pending = this.#gathering.get(organization);
      if (pending) return void pending.push({ id, done, failed });
      this.#gathering.set(organization, [{ id, done, failed }]);
      setTimeout(() => this.#flush(organization, signal), GATHER_MS);
    });
  }

  /** After a write, the organization's listing no longer describes it. */
  forget(organization: string): void {
    this.#listings.delete(organization);
  }

  #flush(organization: string, signal?: AbortSignal): void {
    const pending = this.#gathering.get(organization) ?? [];
    this.#gathering.delete(organization);
    if (pending.length === 1) {
      const [{ id, done, failed }] = pending;
      this.client.getCredential(organization, id, signal).then(done, failed);
      return;
    }
    // Shared by every read of the burst, so not tied to one read's cancellation (the client's
    // own timeout bounds it).
    const listing: Listing = {
      taken: Date.now(),
      byId: this.client.listCredentials(organization).then((all) => new Map(all.map((c) => [c.id, c]))),
    };
    this.#listings.set(organization, listing);
    // A failed listing is not kept: the next read tries again.
    listing.byId.catch(() => {
      if (this.#listings.get(organization) === listing) this.#listings.delete(organization);
    });
    for (const { id, done, failed } of pending) this.#fromListing(listing, organization, id, signal).then(done, failed);
  }

  async #fromListing(listing: Listing, organization: string, id: string, signal?: AbortSignal): Promise<Versioned<Credential> | null> {
    const found = (await listing.byId).get(id);
    // A listing carries no ETags; each is the one the service would send for that version.
    if (found) return { body: found, etag: etagFor(found.version) };
    return this.client.getCredential(organization, id, signal);
  }
}
