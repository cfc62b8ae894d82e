import type { Request } from "express";
import { newId } from "../ids.js";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import type { Schemas } from "../contract-types.js";
import { checkPrecondition, ifMatchOf, setEtag } from "../http/conditional.js";
import { CURSOR_KEYS, decodeCursor, DEFAULT_LIMIT, page } from "../http/pagination.js";
import { problems } from "../http/problem.js";
import { ALL_ORGANIZATIONS, UniqueViolationError, withOrganizationScope, type Queryable } from "../db/index.js";
import { appendAuditEvents, recordAudit, recordStandaloneAudit } from "../audit/audit-service.js";
import * as dal from "./organization-dal.js";

export function organizationToApi(row: dal.OrganizationRow): Schemas["Organization"] {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    platform_fallback: row.platform_fallback,
    version: row.version,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

async function slugGuard<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof UniqueViolationError) {
      throw problems.conflict("slug_conflict", "An organization with this slug already exists.", [{ path: "body.slug", message: "slugs are unique" }]);
    }
    throw error;
  }
}

async function mustFind(q: Queryable, id: string, forUpdate = false) {
  const row = await dal.findOrganization(q, id, forUpdate);
  if (!row) throw problems.notFound("organization");
  return row;
}

export const organizationRoutes: FeatureRegistrar = (ops, { db }) => {
  const audit = (q: Queryable, req: Request, organizationId: string, action: string, details: Record<string, unknown>) => {
    const actor = actorOf(req);
    return recordAudit(q, {
      organizationId,
      actor: { tokenId: actor.tokenId, role: actor.role },
      action,
      targetType: "organization",
      targetId: organizationId,
      outcome: "success",
      requestId: req.kp.requestId,
      details,
    });
  };

  ops.handle("createOrganization", async (req, res) => {
    const body = parseBody("createOrganization", req.body);
    const id = newId("org");
    const row = await db.transaction(async (tx) => {
      await slugGuard(() => dal.insertOrganization(tx, { id, name: body.name, slug: body.slug, platform_fallback: body.platform_fallback ?? true }));
      await audit(tx, req, id, "organization.create", { name: body.name, slug: body.slug });
      return mustFind(tx, id);
    });
    setEtag(res, row.version);
    res.location(`/v1/organizations/${id}`).status(201).json(organizationToApi(row));
  });

  ops.handle("listOrganizations", async (req, res) => {
    const query = parseQuery("listOrganizations", req.query);
    const cursor = decodeCursor(query.cursor, CURSOR_KEYS.id);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const rows = await dal.listOrganizations(db, cursor?.id, limit);
    const result = page(rows, limit, (r) => ({ id: r.id }));
    res.json({ data: result.data.map(organizationToApi), next_cursor: result.next_cursor });
  });

  ops.handle("getOrganization", async (req, res) => {
    const row = await mustFind(db, String(req.params.org));
    setEtag(res, row.version);
    res.json(organizationToApi(row));
  });

  ops.handle("updateOrganization", async (req, res) => {
    const body = parseBody("updateOrganization", req.body);
    const id = String(req.params.org);
    const ifMatch = ifMatchOf(req);
    const actor = actorOf(req);
    const result = await db.transaction(async (tx) => {
      const current = await mustFind(tx, id, true);
      checkPrecondition(ifMatch, current.version);
      // Platform fallback hands the organization's resolvers the deployment's own keys: turning
      // it on is the deployment's decision, turning it off the organization's.
      if (body.platform_fallback === true && !current.platform_fallback && actor.role !== "platform_admin") return { denied: true as const };
      const changed = Object.keys(body).filter((k) => (body as Record<string, unknown>)[k] !== undefined);
      if (changed.length === 0) return { row: current };
      await slugGuard(() => dal.updateOrganization(tx, id, body));
      await audit(tx, req, id, "organization.update", { changed_fields: changed.sort() });
      return { row: await mustFind(tx, id) };
    });
    if ("denied" in result) {
      // Recorded after the rollback, on its own: the refused change wrote nothing.
      await recordStandaloneAudit(db, {
        organizationId: id,
        actor: { tokenId: actor.tokenId, role: actor.role },
        action: "organization.update",
        targetType: "organization",
        targetId: id,
        outcome: "denied",
        requestId: req.kp.requestId,
        details: { reason: "platform_fallback_requires_platform_admin", requested: { platform_fallback: true } },
      });
      throw problems.platformFallbackForbidden();
    }
    setEtag(res, result.row.version);
    res.json(organizationToApi(result.row));
  });

  ops.handle("deleteOrganization", async (req, res) => {
    const query = parseQuery("deleteOrganization", req.query);
    const id = String(req.params.org);
    const ifMatch = ifMatchOf(req);
    const force = query.force === true;
    const actor = actorOf(req);
    // In the platform scope: the deletion is also recorded in the platform's audit chain, which
    // outlives the organization (its own chain stays too; the trail is append-only).
    await withOrganizationScope(ALL_ORGANIZATIONS, () =>
      db.transaction(async (tx) => {
        const current = await mustFind(tx, id, true);
        checkPrecondition(ifMatch, current.version);
        const contents = await dal.countContents(tx, id);
        if (contents.active_credentials > 0 && !force) {
          const n = contents.active_credentials;
          throw problems.conflict(
            "organization_has_active_credentials",
            `The organization holds ${n} active credential${n === 1 ? "" : "s"}. Deactivate or delete ${n === 1 ? "it" : "them"} first, or delete with ?force=true.`,
          );
        }
        await dal.deleteOrganization(tx, id);
        const event = {
          actor: { tokenId: actor.tokenId, role: actor.role },
          action: "organization.delete",
          targetType: "organization",
          targetId: id,
          outcome: "success" as const,
          requestId: req.kp.requestId,
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
        await appendAuditEvents(tx, [
          { ...event, organizationId: id },
          { ...event, organizationId: null },
        ]);
      }),
    );
    res.status(204).end();
  });
};
