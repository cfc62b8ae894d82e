import type { Queryable } from "../db/index.js";
import type { components } from "../generated/openapi.js";

export interface TokenRecord {
  id: string;
  organization_id: string | null;
  /** The project the token is confined to; null = its whole organization. */
  project_id: string | null;
  role: components["schemas"]["Role"];
  name: string;
  token_hash: Buffer;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_by: string | null;
}

const COLUMNS = "id, organization_id, project_id, role, name, token_hash, created_at, expires_at, last_used_at, revoked_at, created_by";

export async function insertToken(
  tx: Queryable,
  token: Pick<TokenRecord, "id" | "organization_id" | "project_id" | "role" | "name" | "token_hash" | "created_by"> & { expires_at: string | null },
): Promise<TokenRecord> {
  const { rows } = await tx.query<TokenRecord>(
    `insert into api_tokens (id, organization_id, project_id, role, name, token_hash, created_at, expires_at, created_by)
     values ($1,$2,$3,$4,$5,$6,now(),$7,$8) returning ${COLUMNS}`,
    [token.id, token.organization_id, token.project_id, token.role, token.name, token.token_hash, token.expires_at, token.created_by],
  );
  return rows[0];
}

export async function projectExists(q: Queryable, organizationId: string, projectId: string): Promise<boolean> {
  const { rows } = await q.query("select 1 from projects where organization_id = $1 and id = $2", [organizationId, projectId]);
  return rows.length > 0;
}

/** The token's owner: organization `$n`, or none (platform admins). Spelled out so an index applies. */
function ownerIs(organizationId: string | null, param: number): string {
  return organizationId === null ? "organization_id is null" : `organization_id = $${param}`;
}

/**
 * Active tokens of an organization, newest first, or the platform-admin tokens when
 * `organizationId` is null, oldest first (ids are ULIDs): those past `lastId`, the last one the
 * previous page showed, and one row more than `limit`, to tell whether another page follows.
 */
export async function listTokens(q: Queryable, organizationId: string | null, lastId: string | undefined, limit: number): Promise<TokenRecord[]> {
  const [past, order] = organizationId === null ? [">", "asc"] : ["<", "desc"];
  const { rows } = await q.query<TokenRecord>(
    `select ${COLUMNS} from api_tokens
     where ${ownerIs(organizationId, 3)} and revoked_at is null and ($1::text is null or id ${past} $1)
     order by id ${order} limit $2`,
    [lastId ?? null, limit + 1, ...(organizationId === null ? [] : [organizationId])],
  );
  return rows;
}

export async function findActiveToken(q: Queryable, id: string): Promise<TokenRecord | null> {
  const { rows } = await q.query<TokenRecord>(`select ${COLUMNS} from api_tokens where id = $1 and revoked_at is null`, [id]);
  return rows[0] ?? null;
}

export async function findTokenByHash(q: Queryable, hash: Buffer): Promise<TokenRecord | null> {
  const { rows } = await q.query<TokenRecord>(`select ${COLUMNS} from api_tokens where token_hash = $1`, [hash], { name: "keyplane_token_by_hash" });
  return rows[0] ?? null;
}

export async function platformAdminExists(q: Queryable): Promise<boolean> {
  const { rows } = await q.query("select 1 from api_tokens where role = 'platform_admin' and revoked_at is null limit 1");
  return rows.length > 0;
}

export async function touchToken(q: Queryable, id: string): Promise<void> {
  await q.query("update api_tokens set last_used_at = now() where id = $1", [id]);
}

/** Marks the token revoked; false when no active token `id` belongs to that owner. */
export async function revokeToken(tx: Queryable, organizationId: string | null, id: string): Promise<boolean> {
  const { rowCount } = await tx.query(`update api_tokens set revoked_at = now() where id = $1 and ${ownerIs(organizationId, 2)} and revoked_at is null`, [
    id,
    ...(organizationId === null ? [] : [organizationId]),
  ]);
  return Boolean(rowCount);
}

/**
 * Deletes up to `limit` tokens issued by the identity exchange that have been expired or revoked
 * for more than `retentionDays` (never a token a person created); returns how many. Bounded, so
 * that one statement never holds many row locks; rows another transaction holds are left for the
 * next run.
 */
export async function deleteEndedExchangedTokens(q: Queryable, retentionDays: number, limit: number): Promise<number> {
  const { rowCount } = await q.query(
    // `= any(array(…))`, not `in (…)`: the batch's ids are then looked up by primary key, where a
    // semi-join would scan the whole table for each batch.
    `delete from api_tokens where id = any(array(
       select id from api_tokens
        where exchanged and least(expires_at, revoked_at) < now() - make_interval(days => $1)
        limit $2 for update skip locked))`,
    [retentionDays, limit],
  );
  return rowCount ?? 0;
}
