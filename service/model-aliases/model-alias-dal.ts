import { StatementParameters, type Queryable } from "../db/index.js";

type ModelParams = Record<string, string | number | boolean>;

export interface ModelAliasRow {
  id: string;
  organization_id: string;
  project_id: string | null;
  name: string;
  provider: string;
  model: string;
  credential_id: string | null;
  environment: string | null;
  params: ModelParams;
  fallbacks: string[];
  active: boolean;
  description: string | null;
  owner: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
  created_by: string | null;
  updated_by: string | null;
}

const COLUMNS = `id, organization_id, project_id, name, provider, model, credential_id, environment, params, fallbacks,
  active, description, owner, version, created_at, updated_at, created_by, updated_by`;

export type ModelAliasFields = Pick<
  ModelAliasRow,
  "name" | "provider" | "model" | "credential_id" | "environment" | "params" | "fallbacks" | "active" | "description" | "owner"
>;
const FIELD_COLUMNS = ["name", "provider", "model", "credential_id", "environment", "params", "fallbacks", "active", "description", "owner"] as const;

/**
 * Alias writes of one organization take turns: the fallback graph a write checks for cycles must
 * not change under it. Transaction-scoped, so it ends with the write.
 */
export async function lockOrganizationAliases(tx: Queryable, organizationId: string): Promise<void> {
  await tx.query("select pg_advisory_xact_lock(hashtextextended('keyplane.model_aliases:' || $1, 0))", [organizationId]);
}

export async function insertModelAlias(
  tx: Queryable,
  alias: ModelAliasFields & Pick<ModelAliasRow, "id" | "organization_id" | "project_id" | "created_by">,
): Promise<void> {
  await tx.query(
    `insert into model_aliases (id, organization_id, project_id, ${FIELD_COLUMNS.join(", ")}, created_by, updated_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $14)`,
    [
      alias.id,
      alias.organization_id,
      alias.project_id,
      ...FIELD_COLUMNS.map((column) => (column === "params" ? JSON.stringify(alias.params) : alias[column])),
      alias.created_by,
    ],
  );
}

export async function findModelAlias(q: Queryable, organizationId: string, id: string, forUpdate = false): Promise<ModelAliasRow | null> {
  const { rows } = await q.query<ModelAliasRow>(
    `select ${COLUMNS} from model_aliases where organization_id = $1 and id = $2${forUpdate ? " for update" : ""}`,
    [organizationId, id],
  );
  return rows[0] ?? null;
}

export interface ModelAliasFilter {
  organizationId: string;
  /** null: organization-level aliases only. */
  projectId?: string | null;
  provider?: string;
  name?: string;
  beforeId?: string;
  limit: number;
}

/** Newest first (ids are ULIDs), one more than `limit` to tell whether another page follows. */
export async function listModelAliases(q: Queryable, f: ModelAliasFilter): Promise<ModelAliasRow[]> {
  const params = new StatementParameters();
  const where = [`organization_id = ${params.add(f.organizationId)}`];
  if (f.projectId === null) where.push("project_id is null");
  else if (f.projectId !== undefined) where.push(`project_id = ${params.add(f.projectId)}`);
  if (f.provider !== undefined) where.push(`provider = ${params.add(f.provider)}`);
  if (f.name !== undefined) where.push(`name = ${params.add(f.name)}`);
  if (f.beforeId !== undefined) where.push(`id < ${params.add(f.beforeId)}`);
  const { rows } = await q.query<ModelAliasRow>(
    `select ${COLUMNS} from model_aliases where ${where.join(" and ")} order by id desc limit ${params.add(f.limit + 1)}`,
    params.values,
  );
  return rows;
}

/** Every alias of the organization: the graph the fallback rules are checked on. */
export async function listOrganizationAliases(q: Queryable, organizationId: string): Promise<ModelAliasRow[]> {
  const { rows } = await q.query<ModelAliasRow>(`select ${COLUMNS} from model_aliases where organization_id = $1`, [organizationId]);
  return rows;
}

/** Project id → whether it inherits the organization's credentials (and so its aliases). */
export async function projectInheritance(q: Queryable, organizationId: string): Promise<Map<string, boolean>> {
  const { rows } = await q.query<{ id: string; inherit_organization_credentials: boolean }>(
    "select id, inherit_organization_credentials from projects where organization_id = $1",
    [organizationId],
  );
  return new Map(rows.map((r) => [r.id, r.inherit_organization_credentials]));
}

export type ModelAliasPatch = Partial<ModelAliasFields>;

/** Applies a patch and bumps the optimistic-concurrency version. */
export async function updateModelAlias(tx: Queryable, organizationId: string, id: string, patch: ModelAliasPatch, updatedBy: string): Promise<void> {
  const params = new StatementParameters();
  const sets: string[] = [];
  for (const column of FIELD_COLUMNS) {
    if (patch[column] === undefined) continue;
    sets.push(column === "params" ? `params = ${params.add(JSON.stringify(patch.params))}::jsonb` : `${column} = ${params.add(patch[column])}`);
  }
  await tx.query(
    `update model_aliases set ${[...sets, `updated_by = ${params.add(updatedBy)}`, "version = version + 1", "updated_at = now()"].join(", ")}
     where organization_id = ${params.add(organizationId)} and id = ${params.add(id)}`,
    params.values,
  );
}

export async function deleteModelAlias(tx: Queryable, organizationId: string, id: string): Promise<void> {
  await tx.query("delete from model_aliases where organization_id = $1 and id = $2", [organizationId, id]);
}

/** The credential a pin names, as far as the pin rules need it. */
export async function findPinTarget(
  q: Queryable,
  organizationId: string,
  credentialId: string,
): Promise<{ provider: string; project_id: string | null } | null> {
  const { rows } = await q.query<{ provider: string; project_id: string | null }>(
    "select provider, project_id from credentials where organization_id = $1 and id = $2",
    [organizationId, credentialId],
  );
  return rows[0] ?? null;
}

export async function projectExists(q: Queryable, organizationId: string, projectId: string): Promise<boolean> {
  const { rows } = await q.query("select 1 from projects where organization_id = $1 and id = $2", [organizationId, projectId]);
  return rows.length > 0;
}

/** The active aliases pinning a credential: what deleting or deactivating it would leave without it. */
export async function aliasesPinning(q: Queryable, organizationId: string, credentialId: string): Promise<{ id: string; name: string }[]> {
  const { rows } = await q.query<{ id: string; name: string }>(
    "select id, name from model_aliases where organization_id = $1 and credential_id = $2 and active order by name, id",
    [organizationId, credentialId],
  );
  return rows;
}
