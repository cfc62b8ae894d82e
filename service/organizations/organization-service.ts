import { ALL_ORGANIZATIONS, withOrganizationScope, withUniqueConflicts, type Db } from "../db/index.js";
import { newId } from "../ids.js";
import { ConflictError, ForbiddenError, orNotFound } from "../errors.js";
import { appendAuditEvents, changeAudit, changeEvent, recordStandaloneAudit } from "../audit/audit-service.js";
import type { CallMeta } from "../auth/actor.js";
import { checkPrecondition, type TagCondition } from "../versioning.js";
import type { Schemas } from "../contract-types.js";
import * as dal from "./organization-dal.js";

export type Organization = Schemas["Organization"];

const ORGANIZATION_CONFLICTS = {
  organizations_slug_key: {
    code: "slug_conflict",
    detail: "An organization with this slug already exists.",
    field: { path: "body.slug", message: "slugs are unique" },
  },
};

const mustFind = orNotFound("organization", dal.findOrganization);
const audit = changeAudit("organization");

export class OrganizationService {
  constructor(private readonly db: Db) {}

  /** One more than `limit` organizations after `afterId`, by id. */
  async list(afterId: string | undefined, limit: number): Promise<Organization[]> {
    return (await dal.listOrganizations(this.db, afterId, limit)).map(organizationToApi);
  }

  async get(id: string): Promise<Organization> {
    return organizationToApi(await mustFind(this.db, id));
  }

  async create(body: Schemas["OrganizationCreate"], meta: CallMeta): Promise<Organization> {
    const id = newId("org");
    return this.db.transaction(async (tx) => {
      await withUniqueConflicts(ORGANIZATION_CONFLICTS, () =>
        dal.insertOrganization(tx, {
          id,
          name: body.name,
          slug: body.slug,
          platform_fallback: body.platform_fallback ?? true,
          resolve_policy: body.resolve_policy ?? "any",
        }),
      );
      await audit(tx, meta, id, "organization.create", id, { name: body.name, slug: body.slug });
      return organizationToApi(await mustFind(tx, id));
    });
  }

  /**
   * @throws ForbiddenError (`platform_fallback_forbidden`) when anyone but a platform admin turns
   * platform_fallback on; the refusal is audited and nothing else is written.
   */
  async update(id: string, body: Schemas["OrganizationUpdate"], ifMatch: TagCondition | undefined, meta: CallMeta): Promise<Organization> {
    const result = await this.db.transaction(async (tx) => {
      const current = await mustFind(tx, id, true);
      checkPrecondition(ifMatch, current.version);
      // Platform fallback hands the organization's resolvers the deployment's own keys: turning
      // it on is the deployment's decision, turning it off the organization's.
      if (body.platform_fallback === true && !current.platform_fallback && meta.actor.role !== "platform_admin") return null;
      const changed = Object.keys(body).filter((k) => (body as Record<string, unknown>)[k] !== undefined);
      if (changed.length === 0) return current;
      await withUniqueConflicts(ORGANIZATION_CONFLICTS, () => dal.updateOrganization(tx, id, body));
      await audit(tx, meta, id, "organization.update", id, { changed_fields: changed.sort() });
      return mustFind(tx, id);
    });
    if (result === null) {
      // Recorded after the rollback, on its own: the refused change wrote nothing.
      await recordStandaloneAudit(this.db, {
        ...changeEvent(meta, id, "organization.update", "organization", id),
        outcome: "denied",
        details: { reason: "platform_fallback_requires_platform_admin", requested: { platform_fallback: true } },
      });
      throw new ForbiddenError(
        "Only a platform admin may turn platform_fallback on; an organization admin may only turn it off.",
        "platform_fallback_forbidden",
      );
    }
    return organizationToApi(result);
  }

  /**
   * Deletes the organization with everything it holds.
   * @throws ConflictError (`organization_has_active_credentials`) while it holds active credentials, unless `force`.
   */
  async delete(id: string, force: boolean, ifMatch: TagCondition | undefined, meta: CallMeta): Promise<void> {
    // In the platform scope: the deletion is also recorded in the platform's audit chain, which
    // outlives the organization (its own chain stays too; the trail is append-only).
    await withOrganizationScope(ALL_ORGANIZATIONS, () =>
      this.db.transaction(async (tx) => {
        const current = await mustFind(tx, id, true);
        checkPrecondition(ifMatch, current.version);
        const contents = await dal.countContents(tx, id);
        if (contents.active_credentials > 0 && !force) {
          const n = contents.active_credentials;
          throw new ConflictError(
            "organization_has_active_credentials",
            `The organization holds ${n} active credential${n === 1 ? "" : "s"}. Deactivate or delete ${n === 1 ? "it" : "them"} first, or delete with ?force=true.`,
          );
        }
        await dal.deleteOrganization(tx, id);
        const event = {
          ...changeEvent(meta, id, "organization.delete", "organization", id),
          details: {
            name: current.name,
            slug: current.slug,
            force,
            credentials: contents.credentials,
            active_credentials: contents.active_credentials,
            destroyed_versions: contents.live_versions,
            projects: contents.projects,
            tokens: contents.tokens,
          },
        };
        await appendAuditEvents(tx, [event, { ...event, organizationId: null }]);
      }),
    );
  }
}

function organizationToApi(row: dal.OrganizationRow): Organization {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    platform_fallback: row.platform_fallback,
    resolve_policy: row.resolve_policy,
    version: row.version,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
