// The published signing keys of identity token issuers, fetched through the outbound policy and
// cached. A token whose `kid` is not in the cached set makes the set be fetched again (the issuer
// may have rotated its keys), but at most once per REFRESH_COOLDOWN_MS per key set, so a stream of
// tokens with made-up `kid`s cannot turn into a stream of requests to the issuer.
import { createLocalJWKSet, type JSONWebKeySet, type JWK } from "jose";
import { Outbound } from "../outbound/outbound.js";
import { IdentityRejectedError } from "../errors.js";

/** Asymmetric algorithms only: `none` and HMAC (whose key would be public here) are never accepted. */
export const ALLOWED_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;

const MAX_AGE_MS = 10 * 60_000;
const REFRESH_COOLDOWN_MS = 30_000;
/** After a failed fetch, answer `jwks_unavailable` for this long without asking the issuer again. */
const FAILURE_BACKOFF_MS = 5_000;
const MAX_CACHED = 1_000;
const FETCH = { headers: { accept: "application/json" }, timeoutMs: 5_000, maxBodyBytes: 256 * 1024 };
// What a cached set keeps. The cache is shared by every organization and an admin chooses the
// key-set URLs of their bindings, so a set is kept small whatever its document held: real issuers
// publish a handful of keys, and verification reads only these members (an 8192-bit RSA modulus
// is 1,366 characters of base64url).
const MAX_KEYS = 32;
const PUBLIC_MEMBERS = ["kty", "kid", "alg", "use", "crv", "n", "e", "x", "y"] as const;
const MAX_MEMBER_LENGTH = 2_048;

export interface KeySource {
  issuer: string;
  /** null: the issuer's OpenID discovery document names the key set. */
  jwksUri: string | null;
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

interface Entry {
  resolver: KeyResolver | null;
  fetchedAt: number;
  failedAt: number | null;
  pending: Promise<KeyResolver> | null;
}

export class IssuerKeys {
  private readonly entries = new Map<string, Entry>();
  private readonly outbound: Outbound;
  private readonly allowInsecure: boolean;

  constructor(
    options: { allowPrivate: boolean; allowInsecure: boolean },
    private readonly now: () => number = () => Date.now(),
  ) {
    this.outbound = new Outbound({ allowPrivate: options.allowPrivate });
    this.allowInsecure = options.allowInsecure;
  }

  /** The key set of `source`, from the cache while fresh. @throws IdentityRejectedError `jwks_unavailable` */
  async resolver(source: KeySource): Promise<KeyResolver> {
    const entry = this.entry(source);
    if (entry.resolver && this.now() - entry.fetchedAt < MAX_AGE_MS) return entry.resolver;
    return this.load(entry, source);
  }

  /**
   * The key set fetched again when the cached one is old enough to have been rotated since; null
   * when it was fetched too recently (the unknown `kid` is then simply unknown).
   */
  async refreshed(source: KeySource): Promise<KeyResolver | null> {
    const entry = this.entry(source);
    if (entry.pending) return entry.pending;
    if (this.now() - entry.fetchedAt < REFRESH_COOLDOWN_MS) return null;
    return this.load(entry, source);
  }

  private entry(source: KeySource): Entry {
    const key = `${source.issuer}\n${source.jwksUri ?? ""}`;
    let entry = this.entries.get(key);
    if (!entry) {
      if (this.entries.size >= MAX_CACHED) this.entries.delete(this.entries.keys().next().value!);
      entry = { resolver: null, fetchedAt: 0, failedAt: null, pending: null };
      this.entries.set(key, entry);
    }
    return entry;
  }

  private load(entry: Entry, source: KeySource): Promise<KeyResolver> {
    if (entry.pending) return entry.pending;
    if (entry.failedAt !== null && this.now() - entry.failedAt < FAILURE_BACKOFF_MS) return Promise.reject(unavailable());
    entry.pending = this.fetchKeySet(source).then(
      (keys) => {
        entry.resolver = createLocalJWKSet(keys);
        entry.fetchedAt = this.now();
        entry.failedAt = null;
        entry.pending = null;
        return entry.resolver;
      },
      () => {
        entry.failedAt = this.now();
        entry.pending = null;
        throw unavailable();
      },
    );
    return entry.pending;
  }

  private async fetchKeySet(source: KeySource): Promise<JSONWebKeySet> {
    const jwksUri = source.jwksUri ?? (await this.discoverJwksUri(source.issuer));
    const document = await this.getJson(jwksUri);
    return publicKeySet(document);
  }

  private async discoverJwksUri(issuer: string): Promise<string> {
    const document = (await this.getJson(`${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`)) as { issuer?: unknown; jwks_uri?: unknown };
    // The document must speak for the issuer it was fetched for.
    if (document.issuer !== issuer || typeof document.jwks_uri !== "string") throw new Error("the discovery document names another issuer or no key set");
    return document.jwks_uri;
  }

  private async getJson(url: string): Promise<unknown> {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && !(this.allowInsecure && parsed.protocol === "http:")) throw new Error("not https");
    const response = await this.outbound.get(parsed, FETCH);
    if (response.status !== 200 || response.body === null) throw new Error(`answered ${response.status}`);
    const value: unknown = JSON.parse(response.body);
    if (typeof value !== "object" || value === null) throw new Error("not a JSON object");
    return value;
  }
}

/**
 * The signature keys of a key set document, each with only the members verification reads, at
 * most MAX_KEYS of them. Symmetric keys are dropped (an `oct` key in a public set would let anyone
 * sign with HMAC), and so are encryption keys and keys with a member too long to be a key's.
 * @throws Error when the document holds no key list
 */
export function publicKeySet(document: unknown): JSONWebKeySet {
  const keys = (document as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error("the key set has no keys");
  const usable: JWK[] = [];
  for (const key of keys as unknown[]) {
    if (usable.length === MAX_KEYS) break;
    if (typeof key !== "object" || key === null) continue;
    const jwk = key as Record<string, unknown>;
    if (jwk.kty === "oct" || jwk.use === "enc") continue;
    const kept = PUBLIC_MEMBERS.filter((member) => jwk[member] !== undefined);
    if (kept.some((member) => typeof jwk[member] !== "string" || jwk[member].length > MAX_MEMBER_LENGTH)) continue;
    usable.push(Object.fromEntries(kept.map((member) => [member, jwk[member]])));
  }
  return { keys: usable };
}

function unavailable(): IdentityRejectedError {
  return new IdentityRejectedError("jwks_unavailable", "The issuer's signing keys could not be fetched; retry shortly.");
}
