import { StatementParameters, type Queryable } from "../db/index.js";

export interface OrganizationRow {
  id: string;
  name: string;
  slug: string;
  platform_fallback: boolean;
  resolve_policy: "any" | "aliases_only";
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = "id, name, slug, platform_fallback, resolve_policy, version, created_at, updated_at";

export async function insertOrganization(tx: Queryable, org: Pick<OrganizationRow, "id" | "name" | "slug" | "platform_fallback" | "resolve_policy">) {
  await tx.query(
    "insert into organizations (id, name, slug, platform_fallback, resolve_policy, version, created_at, updated_at) values ($1,$2,$3,$4,$5,1,now(),now())",
    [org.id, org.name, org.slug, org.platform_fallback, org.resolve_policy],
  );
}

export async function findOrganization(q: Queryable, id: string, forUpdate = false): Promise<OrganizationRow | null> {
  const { rows } = await q.query<OrganizationRow>(`select ${COLUMNS} from organizations where id = $1${forUpdate ? " for update" : ""}`, [id]);
  return rows[0] ?? null;
}

export async function organizationExists(q: Queryable, id: string): Promise<boolean> {
  const { rows } = await q.query("select 1 from organizations where id = $1", [id]);
  return rows.length > 0;
}

export async function listOrganizations(q: Queryable, afterId: string | undefined, limit: number): Promise<OrganizationRow[]> {
  const { rows } = await q.query<OrganizationRow>(`select ${COLUMNS} from organizations where ($1::text is null or id > $1) order by id limit $2`, [
    afterId ?? null,
    limit + 1,
  ]);
  return rows;
}

export async function updateOrganization(
  tx: Queryable,
  id: string,
  patch: Partial<Pick<OrganizationRow, "name" | "slug" | "platform_fallback" | "resolve_policy">>,
): Promise<void> {
  const params = new StatementParameters();
  const sets: string[] = [];
  for (const column of ["name", "slug", "platform_fallback", "resolve_policy"] as const) {
    if (patch[column] !== undefined) sets.push(`${column} = ${params.add(patch[column])}`);
  }
  await tx.query(`update organizations set ${[...sets, "version = version + 1", "updated_at = now()"].join(", ")} where id = ${params.add(id)}`, params.values);
}

export interface OrganizationContents {
  credentials: number;
  active_credentials: number;
  /** Credential versions whose ciphertext still exists. */
  live_versions: number;
  projects: number;
  /** Tokens not yet revoked. */
  tokens: number;
}

export async function countContents(q: Queryable, id: string): Promise<OrganizationContents> {
  const { rows } = await q.query<Record<keyof OrganizationContents, number>>(
    `select (select count(*) from credentials where organization_id = $1)::int as credentials,
            (select count(*) from credentials where organization_id = $1 and active)::int as active_credentials,
            (select count(*) from credential_versions where organization_id = $1 and destroyed_at is null)::int as live_versions,
            (select count(*) from projects where organization_id = $1)::int as projects,
            (select count(*) from api_tokens where organization_id = $1 and revoked_at is null)::int as tokens`,
    [id],
  );
  const row = rows[0];
  return {
    credentials: Number(row.credentials),
    active_credentials: Number(row.active_credentials),
    live_versions: Number(row.live_versions),
    projects: Number(row.projects),
    tokens: Number(row.tokens),
  };
}

/**
 * Deletes the organization; its projects, credentials, credential versions (with every
 * ciphertext), tokens and idempotency keys go by ON DELETE CASCADE. Audit events and the chain
 * head have no foreign key and stay.
 */
export async function deleteOrganization(tx: Queryable, id: string): Promise<void> {
  await tx.query("delete from organizations where id = $1", [id]);
}
