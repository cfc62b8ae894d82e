import type { Request } from "express";
import type { Db } from "../db/index.js";
import { findTokenByHash, touchToken } from "./auth-dal.js";
import { hashesEqual, hashToken, looksLikeToken } from "./tokens.js";
import type { Actor } from "../http/context.js";

export type AuthFailure = "missing" | "malformed" | "unknown" | "expired" | "revoked";

// last_used_at is informational; writing it on every request would put a write on the resolve
// hot path, so it is refreshed at most once a minute per token.
const TOUCH_INTERVAL_MS = 60_000;

export class Authenticator {
  private readonly lastTouched = new Map<string, number>();

  constructor(private readonly db: Db) {}

  async authenticate(req: Request): Promise<{ actor: Actor } | { failure: AuthFailure }> {
    const header = req.get("authorization");
    if (!header) return { failure: "missing" };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !looksLikeToken(match[1])) return { failure: "malformed" };
    const hash = hashToken(match[1]);
    const record = await findTokenByHash(this.db, hash);
    // The lookup is by hash; the explicit comparison keeps the check constant-time even if the
    // index lookup ever changes to a prefix or range scan.
    if (!record || !hashesEqual(Buffer.from(record.token_hash), hash)) return { failure: "unknown" };
    if (record.revoked_at) return { failure: "revoked" };
    if (record.expires_at && new Date(record.expires_at).getTime() <= Date.now()) return { failure: "expired" };
    this.maybeTouch(record.id);
    return { actor: { tokenId: record.id, role: record.role, organizationId: record.organization_id } };
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
