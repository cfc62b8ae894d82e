// The two reads of the run-time path. Each is a single statement that brings the organization's
// fallback setting, the project's inheritance flag and the chosen credential together with its
// encrypted version, so a resolve costs one round trip to the database (plus its audit write).
import type { Queryable } from "../db/index.js";
import type { ModelAliasRow } from "../model-aliases/model-alias-dal.js";

export interface CandidateRow {
  platform_fallback: boolean;
  resolve_policy: "any" | "aliases_only";
  /** The project id when one was asked for and exists in the organization, else null. */
  project_found: string | null;
  inherits: boolean | null;
  credential_id: string | null;
  credential_project_id: string | null;
  provider: string | null;
  type: string | null;
  api_base: string | null;
  env_var: string | null;
  settings: Record<string, string> | null;
  /** The credential's optimistic-concurrency version (bumped by every change). */
  version: number | null;
  current_key_version: number | null;
  served_key_version: number | null;
  served_key_hint: string | null;
  ciphertext: Buffer | null;
  nonce: Buffer | null;
  wrapped_dek: Buffer | null;
  master_key_id: string | null;
  /** The served version still has its material and, if retired, is within its grace period. */
  served_usable: boolean | null;
  /** When the served version's grace period ends (retired versions only). */
  grace_expires_at: Date | null;
  /**
   * Inactive credentials that rank above the chosen one (or, without one, all that would be
   * eligible): the resolve's audit event names them, which is what their usage counts.
   */
  skipped_inactive: string[] | null;
}

// Steps 1–2 of the resolution order as one filter: the project's own active credentials, and
// the organization's when no project was asked for or the project inherits. Ranking puts the
// project's before the organization's, then the default, then the most recently rotated.
const inScope = (c: string) => `${c}.organization_id = o.id
    and ($3::text is null or ${c}.environment = $3)
    and ((p.id is not null and ${c}.project_id = p.id)
      or (${c}.project_id is null and ($2::text is null or p.inherit_organization_credentials)))`;
const ELIGIBLE = `c.active and ${inScope("c")}`;
const RANK = "(c.project_id is null), c.is_default desc, coalesce(c.rotated_at, c.created_at) desc, c.id desc";
const CREDENTIAL_COLUMNS = `c.id as credential_id, c.project_id as credential_project_id, c.provider, c.type, c.api_base,
    c.env_var, c.settings, c.version, c.key_version as current_key_version, c.is_default,
    coalesce(c.rotated_at, c.created_at) as ranked_at`;
// Inactive credentials of the same scope that RANK puts before the chosen one (all of them when
// none was chosen). The row comparison is RANK's order: descending keys swap sides.
const SKIPPED_INACTIVE = `array(
    select s.id from credentials s
    where not s.active and ${inScope("s")} and s.provider = $4
      and (c.credential_id is null
        or ((s.project_id is null), not s.is_default, c.ranked_at, c.credential_id)
         < ((c.credential_project_id is null), not c.is_default, coalesce(s.rotated_at, s.created_at), s.id))
    order by s.id
    limit 20) as skipped_inactive`;
const SELECTED = `o.platform_fallback, o.resolve_policy, p.id as project_found, p.inherit_organization_credentials as inherits,
  c.credential_id, c.credential_project_id, c.provider, c.type, c.api_base, c.env_var, c.settings, c.version,
  c.current_key_version, v.key_version as served_key_version, v.key_hint as served_key_hint, v.ciphertext, v.nonce,
  v.wrapped_dek, v.master_key_id,
  (v.destroyed_at is null and (v.grace_expires_at is null or v.grace_expires_at > now())) as served_usable,
  v.grace_expires_at`;

/**
 * The credential that resolves for one provider, with the version to serve (`previous`: the
 * one before the current). No row: the organization does not exist. A row without
 * credential_id: nothing eligible (the caller then considers the platform key).
 */
export async function findResolveCandidate(
  db: Queryable,
  q: { organizationId: string; projectId: string | null; environment: string | null; provider: string; previous: boolean },
): Promise<CandidateRow | null> {
  const { rows } = await db.query<CandidateRow>(
    `select ${SELECTED}, ${SKIPPED_INACTIVE}
     from organizations o
     left join projects p on p.organization_id = o.id and p.id = $2
     left join lateral (
       select ${CREDENTIAL_COLUMNS} from credentials c
       where ${ELIGIBLE} and c.provider = $4
       order by ${RANK}
       limit 1
     ) c on true
     left join credential_versions v on v.credential_id = c.credential_id
       and v.key_version = c.current_key_version - (case when $5::boolean then 1 else 0 end)
     where o.id = $1`,
    [q.organizationId, q.projectId, q.environment, q.provider, q.previous],
    { name: "keyplane_resolve_candidate" },
  );
  return rows[0] ?? null;
}

/**
 * A pinned credential, when it is active, with the version to serve; same shape as
 * findResolveCandidate (without project: a pin does not depend on the caller's scope). An
 * inactive pin is named in skipped_inactive.
 */
export async function findPinnedCandidate(db: Queryable, q: { organizationId: string; credentialId: string; previous: boolean }): Promise<CandidateRow | null> {
  const { rows } = await db.query<CandidateRow>(
    `select ${SELECTED},
       array(select s.id from credentials s where s.organization_id = o.id and s.id = $2 and not s.active) as skipped_inactive
     from organizations o
     left join projects p on false
     left join lateral (
       select ${CREDENTIAL_COLUMNS} from credentials c where c.organization_id = o.id and c.id = $2 and c.active
     ) c on true
     left join credential_versions v on v.credential_id = c.credential_id
       and v.key_version = c.current_key_version - (case when $3::boolean then 1 else 0 end)
     where o.id = $1`,
    [q.organizationId, q.credentialId, q.previous],
  );
  return rows[0] ?? null;
}

/** An active model alias as resolution needs it. */
export type ScopedAlias = Pick<ModelAliasRow, "id" | "project_id" | "name" | "provider" | "model" | "credential_id" | "environment" | "params" | "fallbacks">;

export interface AliasScopeRow {
  resolve_policy: "any" | "aliases_only";
  project_found: string | null;
  inherits: boolean | null;
  /** The active aliases of the project asked for and of the organization. */
  aliases: ScopedAlias[];
}

/** The aliases a resolve by alias may use, in one round trip. No row: the organization does not exist. */
export async function findAliasScope(db: Queryable, q: { organizationId: string; projectId: string | null }): Promise<AliasScopeRow | null> {
  const { rows } = await db.query<AliasScopeRow>(
    `select o.resolve_policy, p.id as project_found, p.inherit_organization_credentials as inherits,
       coalesce((
         select json_agg(json_build_object('id', a.id, 'project_id', a.project_id, 'name', a.name, 'provider', a.provider,
           'model', a.model, 'credential_id', a.credential_id, 'environment', a.environment, 'params', a.params,
           'fallbacks', a.fallbacks))
         from model_aliases a
         where a.organization_id = o.id and a.active and (a.project_id is null or a.project_id = p.id)
       ), '[]'::json) as aliases
     from organizations o
     left join projects p on p.organization_id = o.id and p.id = $2
     where o.id = $1`,
    [q.organizationId, q.projectId],
  );
  return rows[0] ?? null;
}

/**
 * The chosen credential of every provider (one row each, current versions), or a single row
 * without credential_id when none is eligible. No rows: the organization does not exist.
 */
export async function findEnvironmentCandidates(
  db: Queryable,
  q: { organizationId: string; projectId: string | null; environment: string | null },
): Promise<CandidateRow[]> {
  const { rows } = await db.query<CandidateRow>(
    `select ${SELECTED}
     from organizations o
     left join projects p on p.organization_id = o.id and p.id = $2
     left join lateral (
       select distinct on (c.provider) ${CREDENTIAL_COLUMNS} from credentials c
       where ${ELIGIBLE}
       order by c.provider, ${RANK}
     ) c on true
     left join credential_versions v on v.credential_id = c.credential_id and v.key_version = c.current_key_version
     where o.id = $1`,
    [q.organizationId, q.projectId, q.environment],
  );
  return rows;
}
