import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, setEtag } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { IdempotentWrites } from "../http/idempotency.js";
import type { CallMeta } from "../auth/actor.js";
import { ModelAliasService, type ModelAlias } from "./model-alias-service.js";

const meta = (req: Request): CallMeta => ({ actor: actorOf(req), requestId: req.kp.requestId });
const org = (req: Request) => String(req.params.org);
const id = (req: Request) => String(req.params.id);

export const modelAliasRoutes: FeatureRegistrar = (ops, { db, keyring }) => {
  const aliases = new ModelAliasService(db);
  const idempotent = new IdempotentWrites(db, keyring);
  const send = (res: Response, alias: ModelAlias, status = 200) => {
    setEtag(res, alias.version);
    res.status(status).json(alias);
  };

  ops.handle("listModelAliases", async (req, res) => {
    const query = parseQuery("listModelAliases", req.query);
    const page = pageRequest(query, "id");
    const rows = await aliases.list({
      organizationId: org(req),
      projectId: query.project_id === "none" ? null : query.project_id,
      provider: query.provider,
      name: query.name,
      beforeId: page.after?.id,
      limit: page.limit,
    });
    res.json(paginate(rows, page, (alias) => ({ id: alias.id })));
  });

  ops.handle("createModelAlias", async (req, res) => {
    const body = parseBody("createModelAlias", req.body);
    const answer = await idempotent.run(req, org(req), 201, body, (tx) => aliases.create(org(req), body, meta(req), tx));
    res.location(`/v1/organizations/${answer.body.organization_id}/model-aliases/${answer.body.id}`);
    send(res, answer.body, answer.status);
  });

  ops.handle("getModelAlias", async (req, res) => {
    send(res, await aliases.get(org(req), id(req)));
  });

  ops.handle("updateModelAlias", async (req, res) => {
    const body = parseBody("updateModelAlias", req.body);
    const answer = await idempotent.run(req, org(req), 200, body, (tx) => aliases.update(org(req), id(req), body, ifMatchOf(req), meta(req), tx));
    send(res, answer.body, answer.status);
  });

  ops.handle("deleteModelAlias", async (req, res) => {
    const query = parseQuery("deleteModelAlias", req.query);
    await aliases.delete(org(req), id(req), query.force ?? false, ifMatchOf(req), meta(req));
    res.status(204).end();
  });
};
