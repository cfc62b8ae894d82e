import { StatementParameters, type Queryable } from "../db/index.js";

export interface CredentialUsageColumns {
  usage_last_used_at: Date | null;
  usage_last_used_by: string | null;
  usage_last_used_by_name: string | null;
  usage_resolves_30d: number;
  usage_denied_since_deactivation: number;
}

export interface CredentialRow extends CredentialUsageColumns {
  id: string;
  organization_id: string;
  project_id: string | null;
  provider: string;
  name: string;
  type: string;
  category: string;
  key_hint: string;
  key_version: number;
  api_base: string | null;
  env_var: string;
  settings: Record<string, string>;
  environment: string;
  owner: string | null;
  description: string | null;
  is_default: boolean;
  active: boolean;
  rotation_period_days: number | null;
  rotation_due_at: Date | null;
  last_verified_at: Date | null;
  last_verify_status: string | null;
  secret_field_names: string[];
  version: number;
  created_at: Date;
  updated_at: Date;
  rotated_at: Date | null;
  created_by: string | null;
  updated_by: string | null;
}

export interface VersionRow {
  credential_id: string;
  organization_id: string;
  key_version: number;
  key_hint: string;
  ciphertext: Buffer | null;
  nonce: Buffer | null;
  wrapped_dek: Buffer | null;
  master_key_id: string | null;
  created_at: Date;
  retired_at: Date | null;
  grace_expires_at: Date | null;
  destroyed_at: Date | null;
}

const ROTATION_DUE =
  "case when c.rotation_period_days is null then null else coalesce(c.rotated_at, c.created_at) + make_interval(days => c.rotation_period_days) end";

const CREDENTIAL_COLUMNS = `c.id, c.organization_id, c.project_id, c.provider, c.name, c.type, c.category, c.key_hint,
  c.key_version, c.api_base, c.env_var, c.settings, c.environment, c.owner, c.description, c.is_default, c.active,
  c.rotation_period_days, ${ROTATION_DUE} as rotation_due_at, c.last_verified_at, c.last_verify_status,
  c.secret_field_names, c.version, c.created_at, c.updated_at, c.rotated_at, c.created_by, c.updated_by`;

// Usage of `c` from its running totals (migration 0013): one row per UTC day it was resolved or
// denied, so a read costs O(days), not O(resolves). resolves_30d counts the current UTC day and
// the 29 before it. Denied counts are set to 0 on deactivation (resetDeniedUsage) and only count
// while the credential is inactive.
const USAGE_JOIN = `left join lateral (
    select max(u.last_used_at) as last_used_at,
      (array_agg(u.last_used_by order by u.last_used_at desc nulls last))[1] as last_used_by,
      coalesce(sum(u.resolves) filter (where u.day > (now() at time zone 'UTC')::date - 30), 0)::int as resolves_30d,
      coalesce(sum(u.denied), 0)::int as denied
    from credential_usage_daily u
    where u.organization_id = c.organization_id and u.credential_id = c.id
  ) usage on true
  left join api_tokens last_user on last_user.id = usage.last_used_by`;
const USAGE_COLUMNS = `usage.last_used_at as usage_last_used_at, usage.last_used_by as usage_last_used_by,
  last_user.name as usage_last_used_by_name, usage.resolves_30d as usage_resolves_30d,
  case when c.active then 0 else usage.denied end as usage_denied_since_deactivation`;

const CREDENTIAL_SELECT = `select ${CREDENTIAL_COLUMNS}, ${USAGE_COLUMNS} from credentials c ${USAGE_JOIN}`;

export type NewCredential = Omit<
  CredentialRow,
  | keyof CredentialUsageColumns
  | "rotation_due_at"
  | "last_verified_at"
  | "last_verify_status"
  | "version"
  | "created_at"
  | "updated_at"
  | "rotated_at"
  | "updated_by"
>;

export async function insertCredential(tx: Queryable, c: NewCredential): Promise<void> {
  await tx.query(
    `insert into credentials (id, organization_id, project_id, provider, name, type, category, key_hint, key_version,
       api_base, env_var, settings, environment, owner, description, is_default, active, rotation_period_days,
       secret_field_names, version, created_at, updated_at, created_by, updated_by)
     values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,1,now(),now(),$20,$20)`,
    [
      c.id,
      c.organization_id,
      c.project_id,
      c.provider,
      c.name,
      c.type,
      c.category,
      c.key_hint,
      c.key_version,
      c.api_base,
      c.env_var,
      JSON.stringify(c.settings),
      c.environment,
      c.owner,
      c.description,
      c.is_default,
      c.active,
      c.rotation_period_days,
      c.secret_field_names,
      c.created_by,
    ],
  );
}

export async function insertVersion(
  tx: Queryable,
  v: Pick<VersionRow, "credential_id" | "organization_id" | "key_version" | "key_hint" | "ciphertext" | "nonce" | "wrapped_dek" | "master_key_id">,
): Promise<void> {
  await tx.query(
    `insert into credential_versions (credential_id, organization_id, key_version, key_hint, ciphertext, nonce, wrapped_dek, master_key_id, created_at)
     values ($1,$2,$3,$4,$5,$6,$7,$8,now())`,
    [v.credential_id, v.organization_id, v.key_version, v.key_hint, v.ciphertext, v.nonce, v.wrapped_dek, v.master_key_id],
  );
}

export async function findCredential(db: Queryable, organizationId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<CredentialRow | null> {
  const { rows } = await db.query<CredentialRow>(`${CREDENTIAL_SELECT} where c.organization_id = $1 and c.id = $2${opts.forUpdate ? " for update of c" : ""}`, [
    organizationId,
    id,
  ]);
  return rows[0] ?? null;
}

export interface CredentialFilter {
  organizationId: string;
  provider?: string;
  /** undefined: any; null: organization-level only; string: that project. */
  projectId?: string | null;
  active?: boolean;
  environment?: string;
  rotationDue?: boolean;
  beforeId?: string;
  limit: number;
}

/** Newest first (ids are ULIDs), one more than `limit` to tell whether another page follows. */
export async function listCredentials(db: Queryable, f: CredentialFilter): Promise<CredentialRow[]> {
  const params = new StatementParameters();
  const where = [`c.organization_id = ${params.add(f.organizationId)}`];
  if (f.provider !== undefined) where.push(`c.provider = ${params.add(f.provider)}`);
  if (f.projectId === null) where.push("c.project_id is null");
  else if (f.projectId !== undefined) where.push(`c.project_id = ${params.add(f.projectId)}`);
  if (f.active !== undefined) where.push(`c.active = ${params.add(f.active)}`);
  if (f.environment !== undefined) where.push(`c.environment = ${params.add(f.environment)}`);
  if (f.rotationDue === true) where.push(`${ROTATION_DUE} <= now()`);
  if (f.rotationDue === false) where.push(`(${ROTATION_DUE} is null or ${ROTATION_DUE} > now())`);
  if (f.beforeId !== undefined) where.push(`c.id < ${params.add(f.beforeId)}`);
  const { rows } = await db.query<CredentialRow>(
    `${CREDENTIAL_SELECT} where ${where.join(" and ")} order by c.id desc limit ${params.add(f.limit + 1)}`,
    params.values,
  );
  return rows;
}

export type CredentialPatch = Partial<
  Pick<
    CredentialRow,
    | "name"
    | "category"
    | "api_base"
    | "env_var"
    | "settings"
    | "environment"
    | "owner"
    | "description"
    | "is_default"
    | "active"
    | "rotation_period_days"
    | "key_hint"
    | "key_version"
    | "last_verified_at"
    | "last_verify_status"
  >
> & { rotated?: boolean };

const PATCHABLE = new Set([
  "name",
  "category",
  "api_base",
  "env_var",
  "settings",
  "environment",
  "owner",
  "description",
  "is_default",
  "active",
  "rotation_period_days",
  "key_hint",
  "key_version",
  "last_verified_at",
  "last_verify_status",
]);

/** Applies a patch and bumps the optimistic-concurrency version. */
export async function updateCredential(tx: Queryable, organizationId: string, id: string, patch: CredentialPatch, updatedBy: string | null): Promise<void> {
  const params = new StatementParameters();
  const sets: string[] = [];
  for (const [column, value] of Object.entries(patch)) {
    if (!PATCHABLE.has(column) || value === undefined) continue;
    sets.push(`${column} = ${params.add(column === "settings" ? JSON.stringify(value) : value)}`);
  }
  if (patch.rotated) sets.push("rotated_at = now()");
  await tx.query(
    `update credentials set ${[...sets, `updated_by = ${params.add(updatedBy)}`, "updated_at = now()", "version = version + 1"].join(", ")}
     where organization_id = ${params.add(organizationId)} and id = ${params.add(id)}`,
    params.values,
  );
}

export type DefaultScope = Pick<CredentialRow, "project_id" | "provider" | "environment">;

/**
 * Clears the default of a scope (organization, project, provider, environment) unless it is
 * `exceptId`, and answers the ids it cleared. The scope's advisory lock orders concurrent moves:
 * without it, two moves racing past the same old default would meet on the unique index.
 */
export async function unsetDefault(tx: Queryable, organizationId: string, scope: DefaultScope, exceptId: string, updatedBy: string | null): Promise<string[]> {
  await tx.query("select pg_advisory_xact_lock(hashtextextended('keyplane.credential_default:' || $1, 0))", [
    [organizationId, scope.project_id ?? "", scope.provider, scope.environment].join("|"),
  ]);
  const { rows } = await tx.query<{ id: string }>(
    `update credentials set is_default = false, updated_by = $6, updated_at = now(), version = version + 1
     where organization_id = $1 and coalesce(project_id, '') = $2 and provider = $3 and environment = $4 and is_default and id <> $5
     returning id`,
    [organizationId, scope.project_id ?? "", scope.provider, scope.environment, exceptId, updatedBy],
  );
  return rows.map((row) => row.id);
}

/** Verify results are observations, not edits: they do not bump the ETag version. */
export async function recordVerification(tx: Queryable, organizationId: string, id: string, status: string): Promise<void> {
  await tx.query("update credentials set last_verified_at = now(), last_verify_status = $3 where organization_id = $1 and id = $2", [
    organizationId,
    id,
    status,
  ]);
}

export async function deleteCredential(tx: Queryable, organizationId: string, id: string): Promise<void> {
  // credential_versions rows (and with them every ciphertext) go by ON DELETE CASCADE.
  await tx.query("delete from credentials where organization_id = $1 and id = $2", [organizationId, id]);
}

/** Starts the count of denied resolves again (on deactivation). */
export async function resetDeniedUsage(tx: Queryable, organizationId: string, id: string): Promise<void> {
  await tx.query("update credential_usage_daily set denied = 0 where organization_id = $1 and credential_id = $2 and denied <> 0", [organizationId, id]);
}

/** Usage rows have no foreign key to their credential (see migration 0013). */
export async function deleteUsage(tx: Queryable, organizationId: string, id: string): Promise<void> {
  await tx.query("delete from credential_usage_daily where organization_id = $1 and credential_id = $2", [organizationId, id]);
}

/**
 * Deletes usage rows of UTC days more than `retentionDays` before today, except the row of an
 * existing credential's last resolve: usage.last_used_at and last_used_by then still name it,
 * however long ago. Rows of deleted credentials (a batch that committed after the delete) all go.
 */
export async function pruneUsage(db: Queryable, retentionDays: number): Promise<number> {
  const { rowCount } = await db.query(
    `delete from credential_usage_daily d
      where d.day < (now() at time zone 'UTC')::date - $1::int
        and not (
          d.last_used_at is not null
          and exists (select 1 from credentials c where c.organization_id = d.organization_id and c.id = d.credential_id)
          and not exists (
            select 1 from credential_usage_daily n
             where n.organization_id = d.organization_id and n.credential_id = d.credential_id
               and n.day > d.day and n.last_used_at is not null
          )
        )`,
    [retentionDays],
  );
  return rowCount ?? 0;
}

export type VersionSummary = Pick<VersionRow, "key_version" | "key_hint" | "created_at" | "retired_at" | "grace_expires_at" | "destroyed_at">;

/** Version metadata only: the ciphertext columns are never selected here. */
export async function listVersions(db: Queryable, credentialId: string): Promise<VersionSummary[]> {
  const { rows } = await db.query<VersionSummary>(
    `select key_version, key_hint, created_at, retired_at, grace_expires_at, destroyed_at
     from credential_versions where credential_id = $1 order by key_version desc`,
    [credentialId],
  );
  return rows;
}

export async function findVersion(db: Queryable, credentialId: string, keyVersion: number): Promise<VersionRow | null> {
  const { rows } = await db.query<VersionRow>("select * from credential_versions where credential_id = $1 and key_version = $2", [credentialId, keyVersion]);
  return rows[0] ?? null;
}

/** Retires the current version: kept for the grace period, or destroyed at once without one. */
export async function retireVersion(tx: Queryable, credentialId: string, keyVersion: number, graceSeconds: number): Promise<void> {
  if (graceSeconds > 0) {
    await tx.query(
      `update credential_versions set retired_at = now(), grace_expires_at = now() + make_interval(secs => $3)
       where credential_id = $1 and key_version = $2`,
      [credentialId, keyVersion, graceSeconds],
    );
  } else {
    await tx.query(
      `update credential_versions set retired_at = now(), grace_expires_at = null, destroyed_at = now(),
         ciphertext = null, nonce = null, wrapped_dek = null
       where credential_id = $1 and key_version = $2`,
      [credentialId, keyVersion],
    );
  }
  // Only the immediately previous version may stay resolvable; anything older goes now.
  await tx.query(
    `update credential_versions set destroyed_at = now(), ciphertext = null, nonce = null, wrapped_dek = null
     where credential_id = $1 and key_version < $2 and destroyed_at is null`,
    [credentialId, keyVersion],
  );
}

/** Destroys the ciphertext of every version whose grace period has ended. Returns how many. */
export async function destroyExpiredVersions(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    `update credential_versions set destroyed_at = now(), ciphertext = null, nonce = null, wrapped_dek = null
     where destroyed_at is null and grace_expires_at is not null and grace_expires_at <= now()`,
  );
  return rowCount ?? 0;
}
