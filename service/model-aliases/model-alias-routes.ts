import type { Request } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { callMetaOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, sendVersioned } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { IdempotentWrites } from "../http/idempotency.js";
import { ModelAliasService } from "./model-alias-service.js";

const org = (req: Request) => String(req.params.org);
const id = (req: Request) => String(req.params.id);

export const modelAliasRoutes: FeatureRegistrar = (ops, { db, keyring }) => {
  const aliases = new ModelAliasService(db);
  const idempotent = new IdempotentWrites(db, keyring);

  ops.handle("listModelAliases", async (req, res) => {
    const query = parseQuery("listModelAliases", req.query);
    const page = pageRequest(query, "newest", "mal");
    const rows = await aliases.list({
      organizationId: org(req),
      projectId: query.project_id === "none" ? null : query.project_id,
      provider: query.provider,
      name: query.name,
      beforeId: page.after?.before,
      limit: page.limit,
    });
    res.json(paginate(rows, page, (alias) => ({ before: alias.id })));
  });

  ops.handle("createModelAlias", async (req, res) => {
    const body = parseBody("createModelAlias", req.body);
    const answer = await idempotent.run(req, org(req), 201, body, (tx) => aliases.create(org(req), body, callMetaOf(req), tx));
    res.location(`/v1/organizations/${answer.body.organization_id}/model-aliases/${answer.body.id}`);
    sendVersioned(res, answer.body, answer.status);
  });

  ops.handle("getModelAlias", async (req, res) => {
    sendVersioned(res, await aliases.get(org(req), id(req)));
  });

  ops.handle("updateModelAlias", async (req, res) => {
    const body = parseBody("updateModelAlias", req.body);
    const answer = await idempotent.run(req, org(req), 200, body, (tx) => aliases.update(org(req), id(req), body, ifMatchOf(req), callMetaOf(req), tx));
    sendVersioned(res, answer.body, answer.status);
  });

  ops.handle("deleteModelAlias", async (req, res) => {
    const query = parseQuery("deleteModelAlias", req.query);
    await aliases.delete(org(req), id(req), query.force ?? false, ifMatchOf(req), callMetaOf(req));
    res.status(204).end();
  });
};
