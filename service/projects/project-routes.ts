import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, setEtag } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { IdempotentWrites } from "../http/idempotency.js";
import { ProjectService, type Project } from "./project-service.js";

const org = (req: Request) => String(req.params.org);
const projectId = (req: Request) => String(req.params.project);

export const projectRoutes: FeatureRegistrar = (ops, { db, keyring }) => {
  const projects = new ProjectService(db);
  const idempotent = new IdempotentWrites(db, keyring);
  const send = (res: Response, project: Project, status = 200) => {
    setEtag(res, project.version);
    res.status(status).json(project);
  };

  ops.handle("listProjects", async (req, res) => {
    const page = pageRequest(parseQuery("listProjects", req.query), "name");
    const rows = await projects.list(org(req), page.after?.name, page.limit);
    res.json(paginate(rows, page, (project) => ({ name: project.name })));
  });

  ops.handle("createProject", async (req, res) => {
    const body = parseBody("createProject", req.body);
    const answer = await idempotent.run(req, org(req), 201, body, (tx) => projects.create(org(req), body, actorOf(req), req.kp.requestId, tx));
    res.location(`/v1/organizations/${answer.body.organization_id}/projects/${answer.body.id}`);
    send(res, answer.body, answer.status);
  });

  ops.handle("getProject", async (req, res) => {
    send(res, await projects.get(org(req), projectId(req)));
  });

  ops.handle("updateProject", async (req, res) => {
    const body = parseBody("updateProject", req.body);
    const answer = await idempotent.run(req, org(req), 200, body, (tx) =>
      projects.update(org(req), projectId(req), body, ifMatchOf(req), actorOf(req), req.kp.requestId, tx),
    );
    send(res, answer.body, answer.status);
  });

  ops.handle("deleteProject", async (req, res) => {
    await projects.delete(org(req), projectId(req), ifMatchOf(req), actorOf(req), req.kp.requestId);
    res.status(204).end();
  });
};
