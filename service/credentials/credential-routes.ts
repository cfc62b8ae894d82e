import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { callMetaOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, sendVersioned } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { IdempotentWrites, type StoredResponse } from "../http/idempotency.js";
import { CredentialService } from "./credential-service.js";
import { CredentialVerifier } from "./credential-verify.js";
import { Outbound } from "../outbound/outbound.js";

const org = (req: Request) => String(req.params.org);
const id = (req: Request) => String(req.params.id);

export const credentialRoutes: FeatureRegistrar = (ops, { db, keyring, config }) => {
  const credentials = new CredentialService(db, keyring);
  const verifier = new CredentialVerifier(db, credentials, new Outbound({ allowPrivate: config.outboundAllowPrivate }));
  const idempotent = new IdempotentWrites(db, keyring);

  const send = (res: Response, answer: StoredResponse<{ version: number }>) => sendVersioned(res, answer.body, answer.status);

  ops.handle("listCredentials", async (req, res) => {
    const query = parseQuery("listCredentials", req.query);
    const page = pageRequest(query, "newest", "cred");
    const rows = await credentials.list({
      organizationId: org(req),
      provider: query.provider,
      projectId: query.project_id === "none" ? null : query.project_id,
      active: query.active,
      environment: query.environment,
      rotationDue: query.rotation_due,
      beforeId: page.after?.before,
      limit: page.limit,
    });
    res.json(paginate(rows, page, (credential) => ({ before: credential.id })));
  });

  ops.handle("createCredential", async (req, res) => {
    const body = parseBody("createCredential", req.body);
    const organizationId = org(req);
    const answer = await idempotent.run(req, organizationId, 201, body, (tx) => credentials.create(organizationId, body, callMetaOf(req), tx));
    res.location(`/v1/organizations/${organizationId}/credentials/${answer.body.id}`);
    send(res, answer);
  });

  ops.handle("getCredential", async (req, res) => {
    sendVersioned(res, await credentials.get(org(req), id(req)));
  });

  ops.handle("updateCredential", async (req, res) => {
    const body = parseBody("updateCredential", req.body);
    const query = parseQuery("updateCredential", req.query);
    send(
      res,
      await idempotent.run(req, org(req), 200, body, (tx) =>
        credentials.update(org(req), id(req), body, { force: query.force === true, ifMatch: ifMatchOf(req) }, callMetaOf(req), tx),
      ),
    );
  });

  ops.handle("rotateCredential", async (req, res) => {
    const body = parseBody("rotateCredential", req.body);
    send(res, await idempotent.run(req, org(req), 200, body, (tx) => credentials.rotate(org(req), id(req), body, ifMatchOf(req), callMetaOf(req), tx)));
  });

  ops.handle("activateCredential", async (req, res) => {
    send(
      res,
      await idempotent.run(req, org(req), 200, null, (tx) => credentials.setActive(org(req), id(req), true, { ifMatch: ifMatchOf(req) }, callMetaOf(req), tx)),
    );
  });

  ops.handle("deactivateCredential", async (req, res) => {
    const query = parseQuery("deactivateCredential", req.query);
    const opts = { force: query.force === true, ifMatch: ifMatchOf(req) };
    send(res, await idempotent.run(req, org(req), 200, null, (tx) => credentials.setActive(org(req), id(req), false, opts, callMetaOf(req), tx)));
  });

  ops.handle("verifyCredential", async (req, res) => {
    parseBody("verifyCredential", req.body);
    res.json(await verifier.verify(org(req), id(req), callMetaOf(req)));
  });

  ops.handle("listCredentialVersions", async (req, res) => {
    res.json({ data: await credentials.versions(org(req), id(req)), next_cursor: null });
  });

  ops.handle("deleteCredential", async (req, res) => {
    const query = parseQuery("deleteCredential", req.query);
    await credentials.delete(org(req), id(req), query.force === true, ifMatchOf(req), callMetaOf(req));
    res.status(204).end();
  });
};
