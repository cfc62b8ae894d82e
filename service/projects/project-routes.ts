import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, setEtag } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { ProjectService, type Project } from "./project-service.js";

const org = (req: Request) => String(req.params.org);
const projectId = (req: Request) => String(req.params.project);

export const projectRoutes: FeatureRegistrar = (ops, { db }) => {
  const projects = new ProjectService(db);
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
    const created = await projects.create(org(req), body, actorOf(req), req.kp.requestId);
    res.location(`/v1/organizations/${created.organization_id}/projects/${created.id}`);
    send(res, created, 201);
  });

  ops.handle("getProject", async (req, res) => {
    send(res, await projects.get(org(req), projectId(req)));
  });

  ops.handle("updateProject", async (req, res) => {
    const body = parseBody("updateProject", req.body);
    send(res, await projects.update(org(req), projectId(req), body, ifMatchOf(req), actorOf(req), req.kp.requestId));
  });

  ops.handle("deleteProject", async (req, res) => {
    await projects.delete(org(req), projectId(req), ifMatchOf(req), actorOf(req), req.kp.requestId);
    res.status(204).end();
  });
};
