import { UniqueViolationError, type Db, type Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { generateToken, hashToken, type Role } from "../auth/tokens.js";
import { findTokenByHash, type TokenRecord } from "../auth/auth-dal.js";
import { recordAudit, type AuditActor } from "../audit/audit-service.js";
import type { Schemas } from "../contract-types.js";

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

/** The token's owner: organization `$n`, or none (platform admins). Spelled out so an index applies. */
function ownerIs(organizationId: string | null, param: number): string {
  return organizationId === null ? "organization_id is null" : `organization_id = $${param}`;
}

/** Active tokens of an organization, or the platform-admin tokens when `organizationId` is null. */
export async function listTokens(q: Queryable, organizationId: string | null, afterId: string | undefined, limit: number): Promise<TokenRecord[]> {
  const { rows } = await q.query<TokenRecord>(
    `select ${COLUMNS} from api_tokens
     where ${ownerIs(organizationId, 3)} and revoked_at is null and ($1::text is null or id > $1)
     order by id limit $2`,
    [afterId ?? null, limit + 1, ...(organizationId === null ? [] : [organizationId])],
  );
  return rows;
}

export async function findActiveToken(q: Queryable, id: string): Promise<TokenRecord | null> {
  const { rows } = await q.query<TokenRecord>(`select ${COLUMNS} from api_tokens where id = $1 and revoked_at is null`, [id]);
  return rows[0] ?? null;
}

/**
 * Revokes (rather than deletes) so the audit trail can still name the token. `organizationId`
 * null revokes only a platform-admin token.
 */
export async function revokeToken(tx: Queryable, organizationId: string | null, id: string, actor: AuditActor, requestId: string): Promise<boolean> {
  const { rowCount } = await tx.query(`update api_tokens set revoked_at = now() where id = $1 and ${ownerIs(organizationId, 2)} and revoked_at is null`, [
    id,
    ...(organizationId === null ? [] : [organizationId]),
  ]);
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

export interface BootstrapOutcome {
  created: boolean;
  /** The generated token, when none was configured and no platform admin existed: shown once. */
  token?: string;
  /**
   * KEYPLANE_BOOTSTRAP_TOKEN names a token that was revoked (or that belongs to an organization):
   * it is not brought back, since an operator revoked it on purpose.
   */
  refused?: "revoked" | "not_platform_admin";
}

/**
 * KEYPLANE_BOOTSTRAP_TOKEN: make sure a platform-admin token with exactly this value exists, unless
 * that token was revoked. Without one, the first start (no platform admin yet) generates a token
 * and returns it once.
 */
export async function ensureBootstrapToken(db: Db, configured: string | undefined): Promise<BootstrapOutcome> {
  try {
    return await db.transaction((tx) => bootstrap(tx, configured));
  } catch (error) {
    // Another instance starting at the same moment inserted the same token first: look again.
    if (error instanceof UniqueViolationError) return db.transaction((tx) => bootstrap(tx, configured));
    throw error;
  }
}

async function bootstrap(tx: Queryable, configured: string | undefined): Promise<BootstrapOutcome> {
  const system: AuditActor = { tokenId: null, role: null };
  if (configured) {
    const existing = await findTokenByHash(tx, hashToken(configured));
    if (existing?.revoked_at) return { created: false, refused: "revoked" };
    if (existing && existing.role !== "platform_admin") return { created: false, refused: "not_platform_admin" };
    if (existing) return { created: false };
    await createToken(tx, { organizationId: null, role: "platform_admin", name: "bootstrap" }, system, "bootstrap", configured);
    return { created: true };
  }
  const { rows } = await tx.query("select 1 from api_tokens where role = 'platform_admin' and revoked_at is null limit 1");
  if (rows.length > 0) return { created: false };
  const { token } = await createToken(tx, { organizationId: null, role: "platform_admin", name: "bootstrap" }, system, "bootstrap");
  return { created: true, token };
}
