import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, setEtag } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { clientKey } from "../http/rate-limit-hooks.js";
import { IdentityService, type IdentityBinding } from "./identity-service.js";

const org = (req: Request) => String(req.params.org);
const bindingId = (req: Request) => String(req.params.id);

export const identityRoutes: FeatureRegistrar = (ops, { db, config }) => {
  const identity = new IdentityService(db, {
    allowInsecureIssuers: config.allowInsecureIssuers,
    outboundAllowPrivate: config.outboundAllowPrivate,
    exchangesPerMinute: config.rateLimit.tokenExchangesPerMinute,
  });
  const send = (res: Response, binding: IdentityBinding, status = 200) => {
    setEtag(res, binding.version);
    res.status(status).json(binding);
  };
  const forget = (tokenIds: string[]) => tokenIds.forEach((id) => ops.authenticator.forget(id));

  ops.handle("exchangeIdentityToken", async (req, res) => {
    const body = parseBody("exchangeIdentityToken", req.body);
    res.json(await identity.exchange(body, { clientKey: clientKey(req), requestId: req.kp.requestId }));
  });

  ops.handle("listIdentityBindings", async (req, res) => {
    const page = pageRequest(parseQuery("listIdentityBindings", req.query), "id");
    const rows = await identity.list(org(req), page.after?.id, page.limit);
    res.json(paginate(rows, page, (binding) => ({ id: binding.id })));
  });

  ops.handle("createIdentityBinding", async (req, res) => {
    const body = parseBody("createIdentityBinding", req.body);
    const created = await identity.create(org(req), body, actorOf(req), req.kp.requestId);
    res.location(`/v1/organizations/${created.organization_id}/identity-bindings/${created.id}`);
    send(res, created, 201);
  });

  ops.handle("getIdentityBinding", async (req, res) => {
    send(res, await identity.get(org(req), bindingId(req)));
  });

  ops.handle("updateIdentityBinding", async (req, res) => {
    const body = parseBody("updateIdentityBinding", req.body);
    const updated = await identity.update(org(req), bindingId(req), body, ifMatchOf(req), actorOf(req), req.kp.requestId);
    forget(updated.revokedTokenIds);
    send(res, updated.result);
  });

  ops.handle("deleteIdentityBinding", async (req, res) => {
    const deleted = await identity.delete(org(req), bindingId(req), ifMatchOf(req), actorOf(req), req.kp.requestId);
    forget(deleted.revokedTokenIds);
    res.status(204).end();
  });
};
