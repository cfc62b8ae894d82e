import type { Request } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { callMetaOf, clientAddress } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, sendVersioned } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { IdempotentWrites } from "../http/idempotency.js";
import { clientKey } from "../http/rate-limit-hooks.js";
import { IdentityService } from "./identity-service.js";

const org = (req: Request) => String(req.params.org);
const bindingId = (req: Request) => String(req.params.id);

export const identityRoutes: FeatureRegistrar = (ops, { db, keyring, config }) => {
  const idempotent = new IdempotentWrites(db, keyring);
  const identity = new IdentityService(db, {
    allowInsecureIssuers: config.allowInsecureIssuers,
    outboundAllowPrivate: config.outboundAllowPrivate,
    exchangesPerMinute: config.rateLimit.tokenExchangesPerMinute,
    auditedRefusalsPerMinute: config.rateLimit.auditedExchangeRefusalsPerMinute,
    countRefusal: (denial) => ops.unauthenticated.record(denial),
  });
  const forget = (tokenIds: string[]) => tokenIds.forEach((id) => ops.authenticator.forget(id));

  ops.handle("exchangeIdentityToken", async (req, res) => {
    const body = parseBody("exchangeIdentityToken", req.body);
    res.json(await identity.exchange(body, { clientKey: clientKey(req), clientAddress: clientAddress(req), requestId: req.kp.requestId }));
  });

  ops.handle("listIdentityBindings", async (req, res) => {
    const page = pageRequest(parseQuery("listIdentityBindings", req.query), "oldest", "idb");
    const rows = await identity.list(org(req), page.after?.id, page.limit);
    res.json(paginate(rows, page, (binding) => ({ id: binding.id })));
  });

  ops.handle("createIdentityBinding", async (req, res) => {
    const body = parseBody("createIdentityBinding", req.body);
    const answer = await idempotent.run(req, org(req), 201, body, (tx) => identity.create(org(req), body, callMetaOf(req), tx));
    res.location(`/v1/organizations/${answer.body.organization_id}/identity-bindings/${answer.body.id}`);
    sendVersioned(res, answer.body, answer.status);
  });

  ops.handle("getIdentityBinding", async (req, res) => {
    sendVersioned(res, await identity.get(org(req), bindingId(req)));
  });

  ops.handle("updateIdentityBinding", async (req, res) => {
    const body = parseBody("updateIdentityBinding", req.body);
    // Forgotten once committed (a replay revokes nothing): before, a request could cache them again.
    let revoked: string[] = [];
    const answer = await idempotent.run(req, org(req), 200, body, async (tx) => {
      const updated = await identity.update(org(req), bindingId(req), body, ifMatchOf(req), callMetaOf(req), tx);
      revoked = updated.revokedTokenIds;
      return updated.result;
    });
    forget(revoked);
    sendVersioned(res, answer.body, answer.status);
  });

  ops.handle("deleteIdentityBinding", async (req, res) => {
    const deleted = await identity.delete(org(req), bindingId(req), ifMatchOf(req), callMetaOf(req));
    forget(deleted.revokedTokenIds);
    res.status(204).end();
  });
};
