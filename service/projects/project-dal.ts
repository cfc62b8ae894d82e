import { StatementParameters, type Queryable } from "../db/index.js";

export interface ProjectRow {
  id: string;
  organization_id: string;
  name: string;
  description: string | null;
  inherit_organization_credentials: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = "id, organization_id, name, description, inherit_organization_credentials, version, created_at, updated_at";

export async function insertProject(
  tx: Queryable,
  p: Pick<ProjectRow, "id" | "organization_id" | "name" | "description" | "inherit_organization_credentials">,
): Promise<void> {
  await tx.query(
    `insert into projects (id, organization_id, name, description, inherit_organization_credentials, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, 1, now(), now())`,
    [p.id, p.organization_id, p.name, p.description, p.inherit_organization_credentials],
  );
}

export async function findProject(q: Queryable, organizationId: string, id: string, forUpdate = false): Promise<ProjectRow | null> {
  const { rows } = await q.query<ProjectRow>(`select ${COLUMNS} from projects where organization_id = $1 and id = $2${forUpdate ? " for update" : ""}`, [
    organizationId,
    id,
  ]);
  return rows[0] ?? null;
}

/** Ordered by name (unique per organization), so the name alone is the cursor. */
export async function listProjects(q: Queryable, organizationId: string, afterName: string | undefined, limit: number): Promise<ProjectRow[]> {
  const { rows } = await q.query<ProjectRow>(
    `select ${COLUMNS} from projects where organization_id = $1 and ($2::text is null or name > $2)
     order by name limit $3`,
    [organizationId, afterName ?? null, limit + 1],
  );
  return rows;
}

export type ProjectPatch = Partial<Pick<ProjectRow, "name" | "description" | "inherit_organization_credentials">>;

/** Applies a patch and bumps the optimistic-concurrency version. */
export async function updateProject(tx: Queryable, organizationId: string, id: string, patch: ProjectPatch): Promise<void> {
  const params = new StatementParameters();
  const sets: string[] = [];
  for (const column of ["name", "description", "inherit_organization_credentials"] as const) {
    if (patch[column] !== undefined) sets.push(`${column} = ${params.add(patch[column])}`);
  }
  await tx.query(
    `update projects set ${[...sets, "version = version + 1", "updated_at = now()"].join(", ")}
     where organization_id = ${params.add(organizationId)} and id = ${params.add(id)}`,
    params.values,
  );
}

export async function countProjectCredentials(q: Queryable, organizationId: string, id: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>("select count(*)::int as n from credentials where organization_id = $1 and project_id = $2", [
    organizationId,
    id,
  ]);
  return Number(rows[0]?.n ?? 0);
}

export async function deleteProject(tx: Queryable, organizationId: string, id: string): Promise<void> {
  await tx.query("delete from projects where organization_id = $1 and id = $2", [organizationId, id]);
}
