import type { Db, Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { generateToken, hashToken, type Role } from "../auth/tokens.js";
import { findTokenByHash, type TokenRecord } from "../auth/auth-dal.js";
import { recordAudit, type AuditActor } from "../audit/audit-service.js";
import type { Schemas } from "../http/validation.js";


export interface NewToken {
  organizationId: string | null;
  role: Role;
  name: string;
  expiresAt?: string | null;
}

export function tokenToApi(row: TokenRecord): Schemas["Token"] {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: row.id,
    organization_id: row.organization_id,
    role: row.role,
    name: row.name,
    created_at: new Date(row.created_at).toISOString(),
    expires_at: iso(row.expires_at),
    last_used_at: iso(row.last_used_at),
    created_by: row.created_by,
  };
}

const COLUMNS = "id, organization_id, role, name, token_hash, created_at, expires_at, last_used_at, revoked_at, created_by";

/** Creates a token and returns its one-time plaintext alongside the stored record. */
export async function createToken(
  tx: Queryable,
  input: NewToken,
  actor: AuditActor,
  requestId: string,
  plaintext = generateToken(),
): Promise<{ token: string; record: TokenRecord }> {
  const id = newId("tok");
  const { rows } = await tx.query<TokenRecord>(
    `insert into api_tokens (id, organization_id, role, name, token_hash, created_at, expires_at, created_by)
     values ($1,$2,$3,$4,$5,now(),$6,$7) returning ${COLUMNS}`,
    [id, input.organizationId, input.role, input.name, hashToken(plaintext), input.expiresAt ?? null, actor.tokenId],
  );
  await recordAudit(tx, {
    organizationId: input.organizationId,
    actor,
    action: "token.create",
    targetType: "token",
    targetId: id,
    outcome: "success",
    requestId,
    details: { role: input.role, name: input.name, expires_at: input.expiresAt ?? null },
  });
  return { token: plaintext, record: rows[0] };
}

export async function listTokens(q: Queryable, organizationId: string, afterId: string | undefined, limit: number): Promise<TokenRecord[]> {
  const { rows } = await q.query<TokenRecord>(
    `select ${COLUMNS} from api_tokens where organization_id = $1 and revoked_at is null and ($2::text is null or id > $2)
     order by id limit $3`,
    [organizationId, afterId ?? null, limit + 1],
  );
  return rows;
}

/** Revokes (rather than deletes) so the audit trail can still name the token. */
export async function revokeToken(tx: Queryable, organizationId: string, id: string, actor: AuditActor, requestId: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    "update api_tokens set revoked_at = now() where organization_id = $1 and id = $2 and revoked_at is null",
    [organizationId, id],
  );
  if (!rowCount) return false;
  await recordAudit(tx, {
    organizationId,
    actor,
    action: "token.revoke",
    targetType: "token",
    targetId: id,
    outcome: "success",
    requestId,
  });
  return true;
}

/**
 * KEYPLANE_BOOTSTRAP_TOKEN: make sure a platform-admin token with exactly this value exists.
 * Without one, the first start (no platform admin yet) generates a token and returns it once.
 */
export async function ensureBootstrapToken(db: Db, configured: string | undefined): Promise<{ created: boolean; token?: string }> {
  return db.transaction(async (tx) => {
    const system: AuditActor = { tokenId: null, role: null };
    if (configured) {
      const existing = await findTokenByHash(tx, hashToken(configured));
      if (existing && existing.role === "platform_admin" && !existing.revoked_at) return { created: false };
      if (existing) await tx.query("update api_tokens set revoked_at = now() where id = $1", [existing.id]);
      await createToken(tx, { organizationId: null, role: "platform_admin", name: "bootstrap" }, system, "bootstrap", configured);
      return { created: true };
    }
    const { rows } = await tx.query("select 1 from api_tokens where role = 'platform_admin' and revoked_at is null limit 1");
    if (rows.length > 0) return { created: false };
    const { token } = await createToken(tx, { organizationId: null, role: "platform_admin", name: "bootstrap" }, system, "bootstrap");
    return { created: true, token };
  });
}
