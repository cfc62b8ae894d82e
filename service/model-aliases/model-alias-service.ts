import { inTransaction, withUniqueConflicts, type Db, type Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { ConflictError, orNotFound, ValidationError, type FieldError } from "../errors.js";
import { changeAudit } from "../audit/audit-service.js";
import { findProvider } from "../providers/catalog.js";
import { checkPrecondition, type TagCondition } from "../versioning.js";
import type { CallMeta } from "../auth/actor.js";
import type { Schemas } from "../contract-types.js";
import { AliasGraph, type AliasNode } from "./alias-graph.js";
import * as dal from "./model-alias-dal.js";

export type ModelAlias = Schemas["ModelAlias"];

const ALIAS_CONFLICTS = {
  model_aliases_name_key: {
    code: "name_conflict",
    detail: "A model alias with this name already exists in this scope.",
    field: { path: "body.name", message: "alias names are unique per organization and project" },
  },
};

const mustFind = orNotFound("model alias", dal.findModelAlias);
const audit = changeAudit("model_alias");

export class ModelAliasService {
  constructor(private readonly db: Db) {}

  /** One more than `filter.limit` aliases, newest first. */
  async list(filter: dal.ModelAliasFilter): Promise<ModelAlias[]> {
    return (await dal.listModelAliases(this.db, filter)).map(toApi);
  }

  async get(organizationId: string, id: string): Promise<ModelAlias> {
    return toApi(await mustFind(this.db, organizationId, id));
  }

  async create(organizationId: string, body: Schemas["ModelAliasCreate"], meta: CallMeta, within?: Queryable): Promise<ModelAlias> {
    const id = newId("mal");
    return inTransaction(this.db, within, async (tx) => {
      await dal.lockOrganizationAliases(tx, organizationId);
      const projectId = body.project_id ?? null;
      if (projectId !== null && !(await dal.projectExists(tx, organizationId, projectId))) {
        throw new ValidationError([{ path: "body.project_id", message: "no such project in this organization" }]);
      }
      const fields: dal.ModelAliasFields = {
        name: body.name,
        provider: body.provider,
        model: body.model,
        credential_id: body.credential_id ?? null,
        environment: body.environment ?? null,
        params: body.params ?? {},
        fallbacks: body.fallbacks ?? [],
        active: body.active ?? true,
        description: body.description ?? null,
        owner: body.owner ?? null,
      };
      await checkRules(tx, organizationId, { id, project_id: projectId, ...fields }, () => true);
      await withUniqueConflicts(ALIAS_CONFLICTS, () =>
        dal.insertModelAlias(tx, { id, organization_id: organizationId, project_id: projectId, created_by: meta.actor.tokenId, ...fields }),
      );
      const created = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "model_alias.create", id, {
        name: created.name,
        project_id: created.project_id,
        provider: created.provider,
        model: created.model,
        credential_id: created.credential_id,
        fallbacks: created.fallbacks,
      });
      return toApi(created);
    });
  }

  async update(
    organizationId: string,
    id: string,
    body: Schemas["ModelAliasUpdate"],
    ifMatch: TagCondition | undefined,
    meta: CallMeta,
    within?: Queryable,
  ): Promise<ModelAlias> {
    return inTransaction(this.db, within, async (tx) => {
      await dal.lockOrganizationAliases(tx, organizationId);
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const patch: dal.ModelAliasPatch = {};
      for (const [key, value] of Object.entries(body) as [keyof dal.ModelAliasFields, unknown][]) {
        if (value !== undefined) (patch as Record<string, unknown>)[key] = value;
      }
      // A pin belongs to its provider: moving the alias without naming a new pin unpins it.
      if (patch.provider !== undefined && patch.provider !== current.provider && body.credential_id === undefined && current.credential_id !== null) {
        patch.credential_id = null;
      }
      const changed = Object.keys(patch).sort();
      if (changed.length === 0) return toApi(current);
      const next = { ...current, ...patch };
      await checkRules(tx, organizationId, next, (field) => field in patch);
      if (patch.name !== undefined && patch.name !== current.name) {
        const referrers = (await organizationGraph(tx, organizationId)).referrersOf(current);
        if (referrers.length > 0) throw aliasInUse(current.name, referrers, "rename", "body.name");
      }
      await withUniqueConflicts(ALIAS_CONFLICTS, () => dal.updateModelAlias(tx, organizationId, id, patch, meta.actor.tokenId));
      const updated = await mustFind(tx, organizationId, id);
      await audit(tx, meta, organizationId, "model_alias.update", id, {
        changed_fields: changed,
        name: updated.name,
        provider: updated.provider,
        model: updated.model,
        credential_id: updated.credential_id,
        active: updated.active,
      });
      return toApi(updated);
    });
  }

  /**
   * @throws ConflictError (`alias_in_use`) while other aliases fall back to it, unless `force`,
   * which removes it from their fallback lists.
   */
  async delete(organizationId: string, id: string, force: boolean, ifMatch: TagCondition | undefined, meta: CallMeta): Promise<void> {
    await this.db.transaction(async (tx) => {
      await dal.lockOrganizationAliases(tx, organizationId);
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const referrers = (await organizationGraph(tx, organizationId)).referrersOf(current);
      if (referrers.length > 0 && !force) throw aliasInUse(current.name, referrers, "delete");
      for (const referrer of referrers) {
        const fallbacks = referrer.fallbacks.filter((name) => name !== current.name);
        await dal.updateModelAlias(tx, organizationId, referrer.id, { fallbacks }, meta.actor.tokenId);
        await audit(tx, meta, organizationId, "model_alias.update", referrer.id, {
          changed_fields: ["fallbacks"],
          name: referrer.name,
          removed_fallback: current.name,
        });
      }
      await dal.deleteModelAlias(tx, organizationId, id);
      await audit(tx, meta, organizationId, "model_alias.delete", id, {
        name: current.name,
        project_id: current.project_id,
        forced: force,
        removed_from: referrers.map((r) => r.id),
      });
    });
  }
}

/**
 * The write-time rules, on the alias as it would be stored: a catalog provider; a pin of the same
 * organization and provider, organization-level or of the alias's project; fallbacks that name
 * aliases visible from the alias's scope and never lead back to it. What a write leaves alone is
 * not judged again (a fallback may have stopped being visible since: resolution skips it), except
 * that no write may close a cycle.
 */
async function checkRules(
  tx: Queryable,
  organizationId: string,
  alias: Pick<dal.ModelAliasRow, "id" | "project_id"> & dal.ModelAliasFields,
  written: (field: keyof dal.ModelAliasFields) => boolean,
) {
  const errors: FieldError[] = [];
  if (written("provider") && !findProvider(alias.provider)) {
    errors.push({ path: "body.provider", message: "not a provider of the catalog (GET /v1/providers lists them)" });
  }
  if (alias.credential_id !== null && (written("credential_id") || written("provider"))) {
    const pinned = await dal.findPinTarget(tx, organizationId, alias.credential_id);
    if (!pinned) errors.push({ path: "body.credential_id", message: "no such credential in this organization" });
    else if (pinned.provider !== alias.provider) errors.push({ path: "body.credential_id", message: `the credential is not a ${alias.provider} credential` });
    else if (pinned.project_id !== null && pinned.project_id !== alias.project_id) {
      errors.push({ path: "body.credential_id", message: "the credential belongs to another project" });
    }
  }
  if (alias.fallbacks.length > 0) {
    const graph = await organizationGraph(tx, organizationId, alias);
    alias.fallbacks.forEach((name, i) => {
      if (written("fallbacks") && !graph.lookup(alias.project_id, name)) {
        errors.push({ path: `body.fallbacks.${i}`, message: "no model alias of this name is visible from the alias's scope" });
      }
    });
    if (errors.length === 0 && graph.leadsBackTo(alias)) {
      errors.push({ path: "body.fallbacks", message: "the fallback chain leads back to this alias" });
    }
  }
  if (errors.length) throw new ValidationError(errors);
}

/** The organization's alias graph, with `replacing` standing in for its stored version. */
async function organizationGraph(q: Queryable, organizationId: string, replacing?: AliasNode): Promise<AliasGraph<AliasNode>> {
  const aliases = await dal.listOrganizationAliases(q, organizationId);
  const inheritance = await dal.projectInheritance(q, organizationId);
  const nodes: AliasNode[] = replacing ? [...aliases.filter((a) => a.id !== replacing.id), replacing] : aliases;
  return new AliasGraph(nodes, (projectId) => inheritance.get(projectId) ?? false);
}

function aliasInUse(name: string, referrers: { name: string }[], action: "delete" | "rename", path?: string): ConflictError {
  const names = referrers.map((r) => r.name).sort();
  const detail = `Model alias ${name} is a fallback of ${names.join(", ")}; ${action === "delete" ? "delete with force=true to remove it from their fallbacks" : "remove it from their fallbacks first"}.`;
  return new ConflictError("alias_in_use", detail, path ? [{ path, message: "other aliases fall back to this name" }] : undefined);
}

function toApi(row: dal.ModelAliasRow): ModelAlias {
  return {
    id: row.id,
    organization_id: row.organization_id,
    project_id: row.project_id,
    name: row.name,
    provider: row.provider,
    model: row.model,
    credential_id: row.credential_id,
    environment: row.environment,
    params: row.params ?? {},
    fallbacks: row.fallbacks ?? [],
    active: row.active,
    description: row.description,
    owner: row.owner,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
    version: row.version,
  };
}
