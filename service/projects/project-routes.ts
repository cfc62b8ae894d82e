import type { Request } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { callMetaOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, sendVersioned } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { IdempotentWrites } from "../http/idempotency.js";
import { ProjectService } from "./project-service.js";

const org = (req: Request) => String(req.params.org);
const projectId = (req: Request) => String(req.params.project);

export const projectRoutes: FeatureRegistrar = (ops, { db, keyring }) => {
  const projects = new ProjectService(db);
  const idempotent = new IdempotentWrites(db, keyring);

  ops.handle("listProjects", async (req, res) => {
    const page = pageRequest(parseQuery("listProjects", req.query), "name");
    const rows = await projects.list(org(req), page.after?.name, page.limit);
    res.json(paginate(rows, page, (project) => ({ name: project.name })));
  });

  ops.handle("createProject", async (req, res) => {
    const body = parseBody("createProject", req.body);
    const answer = await idempotent.run(req, org(req), 201, body, (tx) => projects.create(org(req), body, callMetaOf(req), tx));
    res.location(`/v1/organizations/${answer.body.organization_id}/projects/${answer.body.id}`);
    sendVersioned(res, answer.body, answer.status);
  });

  ops.handle("getProject", async (req, res) => {
    sendVersioned(res, await projects.get(org(req), projectId(req)));
  });

  ops.handle("updateProject", async (req, res) => {
    const body = parseBody("updateProject", req.body);
    const answer = await idempotent.run(req, org(req), 200, body, (tx) => projects.update(org(req), projectId(req), body, ifMatchOf(req), callMetaOf(req), tx));
    sendVersioned(res, answer.body, answer.status);
  });

  ops.handle("deleteProject", async (req, res) => {
    await projects.delete(org(req), projectId(req), ifMatchOf(req), callMetaOf(req));
    res.status(204).end();
  });
};
