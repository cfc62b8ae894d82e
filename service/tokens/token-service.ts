import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { isUniqueViolation, type Db, type Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { NotFoundError, UnauthenticatedError, ValidationError } from "../errors.js";
import { recordAudit, type AuditActor } from "../audit/audit-service.js";
import type { Role, Schemas } from "../contract-types.js";
import * as dal from "./token-dal.js";

export const ROLES = ["platform_admin", "admin", "member", "resolver"] as const satisfies readonly Role[];

const TOKEN_PREFIX = "kp_";

/** A new bearer token: `kp_` + 32 random bytes, base64url. Shown once, stored only as a hash. */
function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Constant-time comparison of two token hashes. */
export function hashesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function looksLikeToken(value: string): boolean {
  return value.startsWith(TOKEN_PREFIX) && value.length >= TOKEN_PREFIX.length + 32 && value.length <= 512;
}

export interface NewToken {
  organizationId: string | null;
  /** Confine the token to this project of its organization. */
  projectId?: string | null;
  role: Role;
  name: string;
  /** An RFC 3339 date-time, already normalised to UTC. */
  expiresAt?: string | null;
}

function iso(value: Date | null): string | null {
  return value ? new Date(value).toISOString() : null;
}

export function tokenToApi(row: dal.TokenRecord): Schemas["Token"] {
  return {
    id: row.id,
    organization_id: row.organization_id,
    project_id: row.project_id,
    role: row.role,
    name: row.name,
    created_at: new Date(row.created_at).toISOString(),
    expires_at: iso(row.expires_at),
    last_used_at: iso(row.last_used_at),
    created_by: row.created_by,
  };
}

/**
 * Creates a token and returns its one-time plaintext alongside the stored record.
 * @throws ValidationError (`body.expires_at`) when the expiry is not in the future.
 */
export async function createToken(
  tx: Queryable,
  input: NewToken,
  actor: AuditActor,
  requestId: string,
  plaintext = generateToken(),
): Promise<{ token: string; record: dal.TokenRecord }> {
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && Date.parse(expiresAt) <= Date.now()) {
    throw new ValidationError([{ path: "body.expires_at", message: "must be in the future" }]);
  }
  const projectId = input.projectId ?? null;
  // Confinement is enforced where a project is chosen per call (resolve, environment); the
  // management API has no such choice everywhere, so an admin or member cannot be confined.
  if (projectId !== null && input.role !== "resolver") {
    throw new ValidationError([{ path: "body.project_id", message: "only resolver tokens can be confined to a project" }]);
  }
  if (projectId !== null && (input.organizationId === null || !(await dal.projectExists(tx, input.organizationId, projectId)))) {
    throw new ValidationError([{ path: "body.project_id", message: "is not a project of this organization" }]);
  }
  const record = await dal.insertToken(tx, {
    id: newId("tok"),
    organization_id: input.organizationId,
    project_id: projectId,
    role: input.role,
    name: input.name,
    token_hash: hashToken(plaintext),
    expires_at: expiresAt,
    created_by: actor.tokenId,
  });
  await recordAudit(tx, {
    organizationId: input.organizationId,
    actor,
    action: "token.create",
    targetType: "token",
    targetId: record.id,
    outcome: "success",
    requestId,
    details: { role: input.role, name: input.name, expires_at: expiresAt, ...(projectId === null ? {} : { project_id: projectId }) },
  });
  return { token: plaintext, record };
}

/**
 * Active tokens of an organization, newest first, or the platform-admin tokens when
 * `organizationId` is null, oldest first: past `lastId` (the last one the previous page showed),
 * one more than `limit`, to tell whether another page follows.
 */
export async function listTokens(q: Queryable, organizationId: string | null, lastId: string | undefined, limit: number): Promise<Schemas["Token"][]> {
  return (await dal.listTokens(q, organizationId, lastId, limit)).map(tokenToApi);
}

/** The calling token's identity. @throws UnauthenticatedError when it was revoked since it was verified. */
export async function whoami(q: Queryable, tokenId: string): Promise<Schemas["Whoami"]> {
  const token = await dal.findActiveToken(q, tokenId);
  if (!token) throw new UnauthenticatedError();
  return {
    id: token.id,
    role: token.role,
    organization_id: token.organization_id,
    project_id: token.project_id,
    name: token.name,
    expires_at: iso(token.expires_at),
  };
}

/**
 * Revokes (rather than deletes) so the audit trail can still name the token. `organizationId`
 * null revokes only a platform-admin token.
 * @throws NotFoundError when that owner has no active token `id`.
 */
export async function revokeToken(tx: Queryable, organizationId: string | null, id: string, actor: AuditActor, requestId: string): Promise<void> {
  if (!(await dal.revokeToken(tx, organizationId, id))) throw new NotFoundError("token");
  await recordAudit(tx, {
    organizationId,
    actor,
    action: "token.revoke",
    targetType: "token",
    targetId: id,
    outcome: "success",
    requestId,
  });
}

/** Revokes an active token whoever owns it, as an operator at the database may; null when there is none. */
export async function revokeActiveToken(tx: Queryable, id: string, actor: AuditActor, requestId: string): Promise<dal.TokenRecord | null> {
  const token = await dal.findActiveToken(tx, id);
  if (token) await revokeToken(tx, token.organization_id, id, actor, requestId);
  return token;
}

/** Rows one statement of the exchanged-token retention deletes at most: short locks, bounded WAL per statement. */
const PRUNE_BATCH = 10_000;

/**
 * Deletes the tokens issued by the identity exchange that have been expired or revoked for more
 * than `retentionDays`, `batch` rows per statement, each committed on its own; returns how many.
 * Tokens people created are never deleted: revoking them keeps the row, so the audit trail and
 * KEYPLANE_BOOTSTRAP_TOKEN can still name them.
 */
export async function pruneEndedExchangedTokens(db: Db, retentionDays: number, batch = PRUNE_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await dal.deleteEndedExchangedTokens(db, retentionDays, batch);
    total += deleted;
    if (deleted < batch) return total;
  }
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
    if (isUniqueViolation(error, "api_tokens_token_hash_key")) return db.transaction((tx) => bootstrap(tx, configured));
    throw error;
  }
}

async function bootstrap(tx: Queryable, configured: string | undefined): Promise<BootstrapOutcome> {
  const system: AuditActor = { tokenId: null, role: null };
  const platformAdmin: NewToken = { organizationId: null, role: "platform_admin", name: "bootstrap" };
  if (configured) {
    const existing = await dal.findTokenByHash(tx, hashToken(configured));
    if (existing?.revoked_at) return { created: false, refused: "revoked" };
    if (existing && existing.role !== "platform_admin") return { created: false, refused: "not_platform_admin" };
    if (existing) return { created: false };
    await createToken(tx, platformAdmin, system, "bootstrap", configured);
    return { created: true };
  }
  if (await dal.platformAdminExists(tx)) return { created: false };
  const { token } = await createToken(tx, platformAdmin, system, "bootstrap");
  return { created: true, token };
}
