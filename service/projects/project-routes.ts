import type { Request, Response } from "express";
import { newId } from "../ids.js";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import type { Schemas } from "../contract-types.js";
import { checkPrecondition, ifMatchOf, setEtag } from "../http/conditional.js";
import { CURSOR_KEYS, decodeCursor, DEFAULT_LIMIT, page } from "../http/pagination.js";
import { problems } from "../http/problem.js";
import { UniqueViolationError, type Queryable } from "../db/index.js";
import { recordAudit } from "../audit/audit-service.js";
import * as dal from "./project-dal.js";

export type Project = Schemas["Project"];

export function projectToApi(row: dal.ProjectRow): Project {
  return {
    id: row.id,
    organization_id: row.organization_id,
    name: row.name,
    description: row.description,
    inherit_organization_credentials: row.inherit_organization_credentials,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    version: row.version,
  };
}

async function nameGuard<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof UniqueViolationError) {
      throw problems.conflict("name_conflict", "A project with this name already exists in the organization.", [
        { path: "body.name", message: "project names are unique per organization" },
      ]);
    }
    throw error;
  }
}

async function mustFind(q: Queryable, organizationId: string, id: string, forUpdate = false): Promise<dal.ProjectRow> {
  const row = await dal.findProject(q, organizationId, id, forUpdate);
  if (!row) throw problems.notFound("project");
  return row;
}

function notEmpty(count: number) {
  return problems.conflict(
    "project_not_empty",
    `The project still holds ${count === 1 ? "1 credential" : `${count} credentials`}; delete ${count === 1 ? "it" : "them"} first.`,
  );
}

export const projectRoutes: FeatureRegistrar = (ops, { db }) => {
  const audit = (q: Queryable, req: Request, organizationId: string, action: string, projectId: string, details: Record<string, unknown>) => {
    const actor = actorOf(req);
    return recordAudit(q, {
      organizationId,
      actor: { tokenId: actor.tokenId, role: actor.role },
      action,
      targetType: "project",
      targetId: projectId,
      outcome: "success",
      requestId: req.kp.requestId,
      details,
    });
  };
  const send = (res: Response, row: dal.ProjectRow, status = 200) => {
    setEtag(res, row.version);
    res.status(status).json(projectToApi(row));
  };
  const org = (req: Request) => String(req.params.org);
  const projectId = (req: Request) => String(req.params.project);

  ops.handle("listProjects", async (req, res) => {
    const query = parseQuery("listProjects", req.query);
    const cursor = decodeCursor(query.cursor, CURSOR_KEYS.name);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const rows = await dal.listProjects(db, org(req), cursor?.name, limit);
    const result = page(rows, limit, (r) => ({ name: r.name }));
    res.json({ data: result.data.map(projectToApi), next_cursor: result.next_cursor });
  });

  ops.handle("createProject", async (req, res) => {
    const body = parseBody("createProject", req.body);
    const organizationId = org(req);
    const id = newId("prj");
    const row = await db.transaction(async (tx) => {
      await nameGuard(() =>
        dal.insertProject(tx, {
          id,
          organization_id: organizationId,
          name: body.name,
          description: body.description ?? null,
          inherit_organization_credentials: body.inherit_organization_credentials ?? false,
        }),
      );
      const created = await mustFind(tx, organizationId, id);
      await audit(tx, req, organizationId, "project.create", id, {
        name: created.name,
        inherit_organization_credentials: created.inherit_organization_credentials,
      });
      return created;
    });
    res.location(`/v1/organizations/${organizationId}/projects/${id}`);
    send(res, row, 201);
  });

  ops.handle("getProject", async (req, res) => {
    send(res, await mustFind(db, org(req), projectId(req)));
  });

  ops.handle("updateProject", async (req, res) => {
    const body = parseBody("updateProject", req.body);
    const ifMatch = ifMatchOf(req);
    const organizationId = org(req);
    const id = projectId(req);
    const row = await db.transaction(async (tx) => {
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const patch: dal.ProjectPatch = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.description !== undefined) patch.description = body.description;
      if (body.inherit_organization_credentials !== undefined) {
        patch.inherit_organization_credentials = body.inherit_organization_credentials;
      }
      const changed = Object.keys(patch).sort();
      if (changed.length === 0) return current;
      await nameGuard(() => dal.updateProject(tx, organizationId, id, patch));
      const updated = await mustFind(tx, organizationId, id);
      await audit(tx, req, organizationId, "project.update", id, {
        changed_fields: changed,
        inherit_organization_credentials: updated.inherit_organization_credentials,
      });
      return updated;
    });
    send(res, row);
  });

  ops.handle("deleteProject", async (req, res) => {
    const ifMatch = ifMatchOf(req);
    const organizationId = org(req);
    const id = projectId(req);
    await db.transaction(async (tx) => {
      // The row lock makes a concurrent credential insert into this project wait for us (its
      // foreign-key check needs a share lock on the row) and then fail, so the count stays true.
      const current = await mustFind(tx, organizationId, id, true);
      checkPrecondition(ifMatch, current.version);
      const count = await dal.countProjectCredentials(tx, organizationId, id);
      if (count > 0) throw notEmpty(count);
      await dal.deleteProject(tx, organizationId, id);
      await audit(tx, req, organizationId, "project.delete", id, { name: current.name });
    });
    res.status(204).end();
  });
};
