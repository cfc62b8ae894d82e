import type { Request } from "express";
import { ALL_ORGANIZATIONS, type Db } from "../db/index.js";
import { findTokenByHash, touchToken, type TokenRecord } from "../tokens/token-dal.js";
import { hashesEqual, hashToken, looksLikeToken } from "../tokens/token-service.js";
import type { Actor } from "./actor.js";

export type AuthFailure = "missing" | "malformed" | "unknown" | "expired" | "revoked";

// last_used_at is informational; writing it on every request would put a write on the resolve
// hot path, so it is refreshed at most once a minute per token.
const TOUCH_INTERVAL_MS = 60_000;

// Verified tokens are remembered briefly so the hot path (resolve) does not pay a database round
// trip per request for the same token. A revocation through this process takes effect at once
// (forget); through another instance of the service, when its change notification arrives (the
// cached tokens of that organization are dropped), and within TOKEN_CACHE_TTL_MS in any case.
// Expiry is checked on every request against the cached record. Unknown tokens are never cached.
const TOKEN_CACHE_TTL_MS = 5_000;
const TOKEN_CACHE_MAX = 10_000;

export class Authenticator {
  private readonly lastTouched = new Map<string, number>();
  private readonly verified = new Map<string, { record: TokenRecord; until: number }>();

  constructor(private readonly db: Db) {
    db.changes.subscribe((organizationId) => {
      if (organizationId === ALL_ORGANIZATIONS) this.verified.clear();
      else for (const [key, entry] of this.verified) if (entry.record.organization_id === organizationId) this.verified.delete(key);
    });
  }

  async authenticate(req: Request): Promise<{ actor: Actor } | { failure: AuthFailure }> {
    const header = req.get("authorization");
    if (!header) return { failure: "missing" };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !looksLikeToken(match[1])) return { failure: "malformed" };
    const hash = hashToken(match[1]);
    const record = await this.lookup(hash);
    // The lookup is by hash; the explicit comparison keeps the check constant-time even if the
    // index lookup ever changes to a prefix or range scan.
    if (!record || !hashesEqual(Buffer.from(record.token_hash), hash)) return { failure: "unknown" };
    if (record.revoked_at) return { failure: "revoked" };
    if (record.expires_at && new Date(record.expires_at).getTime() <= Date.now()) return { failure: "expired" };
    this.maybeTouch(record.id);
    return { actor: { tokenId: record.id, role: record.role, organizationId: record.organization_id, projectId: record.project_id } };
  }

  /** Drops a token from the cache, e.g. right after it was revoked. */
  forget(tokenId: string): void {
    for (const [key, entry] of this.verified) if (entry.record.id === tokenId) this.verified.delete(key);
  }

  private async lookup(hash: Buffer): Promise<TokenRecord | null> {
    const key = hash.toString("hex");
    const now = Date.now();
    const cached = this.verified.get(key);
    if (cached && cached.until > now) return cached.record;
    const record = await findTokenByHash(this.db, hash);
    if (record && !record.revoked_at) {
      this.verified.delete(key);
      this.verified.set(key, { record, until: now + TOKEN_CACHE_TTL_MS });
      if (this.verified.size > TOKEN_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    }
    return record;
  }

  private maybeTouch(tokenId: string): void {
    const now = Date.now();
    if ((this.lastTouched.get(tokenId) ?? 0) + TOUCH_INTERVAL_MS > now) return;
    this.lastTouched.set(tokenId, now);
    if (this.lastTouched.size > 10_000) this.lastTouched.clear();
    touchToken(this.db, tokenId).catch(() => {
      // Best effort: an unreachable database will surface on the request's own queries.
    });
  }
}
