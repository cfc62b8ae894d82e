import { StatementParameters, type Queryable } from "../db/index.js";
import type { Schemas } from "../contract-types.js";

export interface IdentityBindingRow {
  id: string;
  organization_id: string;
  name: string;
  issuer: string;
  audience: string;
  jwks_uri: string | null;
  subject: string;
  claims: Record<string, string>;
  role: Schemas["IdentityRole"];
  project_id: string | null;
  ttl_seconds: number;
  active: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  created_by: string | null;
}

const COLUMNS =
  "id, organization_id, name, issuer, audience, jwks_uri, subject, claims, role, project_id, ttl_seconds, active, version, created_at, updated_at, created_by";

export type NewIdentityBinding = Omit<IdentityBindingRow, "version" | "created_at" | "updated_at">;

export async function insertBinding(tx: Queryable, b: NewIdentityBinding): Promise<void> {
  await tx.query(
    `insert into identity_bindings (id, organization_id, name, issuer, audience, jwks_uri, subject, claims, role, project_id, ttl_seconds, active, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13)`,
    [
      b.id,
      b.organization_id,
      b.name,
      b.issuer,
      b.audience,
      b.jwks_uri,
      b.subject,
      JSON.stringify(b.claims),
      b.role,
      b.project_id,
      b.ttl_seconds,
      b.active,
      b.created_by,
    ],
  );
}

export async function findBinding(q: Queryable, organizationId: string, id: string, forUpdate = false): Promise<IdentityBindingRow | null> {
  const { rows } = await q.query<IdentityBindingRow>(
    `select ${COLUMNS} from identity_bindings where organization_id = $1 and id = $2${forUpdate ? " for update" : ""}`,
    [organizationId, id],
  );
  return rows[0] ?? null;
}

/** Ordered by id (ULIDs sort by creation): one more than `limit`, to tell whether another page follows. */
export async function listBindings(q: Queryable, organizationId: string, afterId: string | undefined, limit: number): Promise<IdentityBindingRow[]> {
  const { rows } = await q.query<IdentityBindingRow>(
    `select ${COLUMNS} from identity_bindings where organization_id = $1 and ($2::text is null or id > $2) order by id limit $3`,
    [organizationId, afterId ?? null, limit + 1],
  );
  return rows;
}

/**
 * The organization's active bindings of one issuer, in the order an exchange tries them: by id, the
 * list's key, so the list shows that order. Not created_at: a create retried after a serialization
 * failure keeps its id but gets a later created_at.
 */
export async function activeBindingsOfIssuer(q: Queryable, organizationId: string, issuer: string): Promise<IdentityBindingRow[]> {
  const { rows } = await q.query<IdentityBindingRow>(
    `select ${COLUMNS} from identity_bindings where organization_id = $1 and issuer = $2 and active order by id limit 100`,
    [organizationId, issuer],
  );
  return rows;
}

export type IdentityBindingPatch = Partial<
  Pick<IdentityBindingRow, "name" | "audience" | "jwks_uri" | "subject" | "claims" | "role" | "project_id" | "ttl_seconds" | "active">
>;

const PATCHABLE = ["name", "audience", "jwks_uri", "subject", "claims", "role", "project_id", "ttl_seconds", "active"] as const;

/** Applies a patch and bumps the optimistic-concurrency version. */
export async function updateBinding(tx: Queryable, organizationId: string, id: string, patch: IdentityBindingPatch): Promise<void> {
  const params = new StatementParameters();
  const sets: string[] = [];
  for (const column of PATCHABLE) {
    if (patch[column] === undefined) continue;
    sets.push(column === "claims" ? `claims = ${params.add(JSON.stringify(patch.claims))}::jsonb` : `${column} = ${params.add(patch[column])}`);
  }
  await tx.query(
    `update identity_bindings set ${[...sets, "version = version + 1", "updated_at = now()"].join(", ")}
     where organization_id = ${params.add(organizationId)} and id = ${params.add(id)}`,
    params.values,
  );
}

export async function deleteBinding(tx: Queryable, organizationId: string, id: string): Promise<void> {
  await tx.query("delete from identity_bindings where organization_id = $1 and id = $2", [organizationId, id]);
}

export async function projectExists(q: Queryable, organizationId: string, projectId: string): Promise<boolean> {
  const { rows } = await q.query("select 1 from projects where organization_id = $1 and id = $2", [organizationId, projectId]);
  return rows.length > 0;
}

/**
 * Marks a token as issued through a binding (the token itself is created by the token service), and
 * as exchanged for good: the retention deletes it after it ends, even once the binding is gone.
 */
export async function recordTokenBinding(tx: Queryable, tokenId: string, bindingId: string): Promise<void> {
  await tx.query("update api_tokens set identity_binding_id = $1, exchanged = true where id = $2", [bindingId, tokenId]);
}

/** Revokes the live tokens a binding issued; returns their ids. */
export async function revokeBindingTokens(tx: Queryable, organizationId: string, bindingId: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `update api_tokens set revoked_at = now()
     where organization_id = $1 and identity_binding_id = $2 and revoked_at is null and (expires_at is null or expires_at > now())
     returning id`,
    [organizationId, bindingId],
  );
  return rows.map((r) => r.id);
}
