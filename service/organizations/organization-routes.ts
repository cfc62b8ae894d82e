import type { Request } from "express";
import { newId } from "../ids.js";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery, type Schemas } from "../http/validation.js";
import { checkPrecondition, expectedVersion, setEtag } from "../http/conditional.js";
import { CURSOR_KEYS, decodeCursor, DEFAULT_LIMIT, page } from "../http/pagination.js";
import { problems } from "../http/problem.js";
import { UniqueViolationError, type Queryable } from "../db/index.js";
import { recordAudit } from "../audit/audit-service.js";
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
      throw problems.conflict("slug_conflict", "An organization with this slug already exists.", [
        { path: "body.slug", message: "slugs are unique" },
      ]);
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
      await slugGuard(() =>
        dal.insertOrganization(tx, { id, name: body.name, slug: body.slug, platform_fallback: body.platform_fallback ?? true }),
      );
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
    const expected = expectedVersion(req);
    const row = await db.transaction(async (tx) => {
      const current = await mustFind(tx, id, true);
      checkPrecondition(expected, current.version);
      const changed = Object.keys(body).filter((k) => (body as Record<string, unknown>)[k] !== undefined);
      if (changed.length === 0) return current;
      await slugGuard(() => dal.updateOrganization(tx, id, body));
      await audit(tx, req, id, "organization.update", { changed_fields: changed.sort() });
      return mustFind(tx, id);
    });
    setEtag(res, row.version);
    res.json(organizationToApi(row));
  });
};
