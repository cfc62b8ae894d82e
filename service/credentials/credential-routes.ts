import { hkdfSync } from "node:crypto";
import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, setEtag } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { claimIdempotencyKey, fingerprint, parseIdempotencyKey, storeIdempotentResponse } from "../http/idempotency.js";
import type { CallMeta } from "../auth/actor.js";
import { CredentialService } from "./credential-service.js";
import { CredentialVerifier } from "./credential-verify.js";
import { Outbound } from "../outbound/outbound.js";

const meta = (req: Request): CallMeta => ({ actor: actorOf(req), requestId: req.kp.requestId });
const org = (req: Request) => String(req.params.org);
const id = (req: Request) => String(req.params.id);

export const credentialRoutes: FeatureRegistrar = (ops, { db, keyring, config }) => {
  const credentials = new CredentialService(db, keyring);
  const verifier = new CredentialVerifier(db, credentials, new Outbound({ allowPrivate: config.outboundAllowPrivate }));
  // Derived once at start: fingerprints of Idempotency-Key bodies are keyed by the master key.
  const idempotencyHmacKey = Buffer.from(hkdfSync("sha256", keyring.current.bytes(), Buffer.alloc(0), "keyplane idempotency fingerprint", 32));

  const sendCredential = (res: Response, credential: { version: number }, status = 200) => {
    setEtag(res, credential.version);
    res.status(status).json(credential);
  };

  ops.handle("listCredentials", async (req, res) => {
    const query = parseQuery("listCredentials", req.query);
    const page = pageRequest(query, "id");
    const rows = await credentials.list({
      organizationId: org(req),
      provider: query.provider,
      projectId: query.project_id === "none" ? null : query.project_id,
      active: query.active,
      environment: query.environment,
      rotationDue: query.rotation_due,
      afterId: page.after?.id,
      limit: page.limit,
    });
    res.json(paginate(rows, page, (credential) => ({ id: credential.id })));
  });

  ops.handle("createCredential", async (req, res) => {
    const body = parseBody("createCredential", req.body);
    const key = parseIdempotencyKey(req.get("idempotency-key"));
    const organizationId = org(req);
    if (key === undefined) {
      const created = await credentials.create(organizationId, body, meta(req));
      res.location(`/v1/organizations/${organizationId}/credentials/${created.id}`);
      return sendCredential(res, created, 201);
    }
    const replay = await db.transaction(async (tx) => {
      const stored = await claimIdempotencyKey(tx, organizationId, key, fingerprint(idempotencyHmacKey, body));
      if (stored) return stored;
      const created = await credentials.create(organizationId, body, meta(req), tx);
      await storeIdempotentResponse(tx, organizationId, key, { status: 201, body: created });
      return { status: 201, body: created };
    });
    const credential = replay.body as { id: string; version: number };
    res.location(`/v1/organizations/${organizationId}/credentials/${credential.id}`);
    sendCredential(res, credential, replay.status);
  });

  ops.handle("getCredential", async (req, res) => {
    sendCredential(res, await credentials.get(org(req), id(req)));
  });

  ops.handle("updateCredential", async (req, res) => {
    const body = parseBody("updateCredential", req.body);
    const query = parseQuery("updateCredential", req.query);
    sendCredential(res, await credentials.update(org(req), id(req), body, { force: query.force === true, ifMatch: ifMatchOf(req) }, meta(req)));
  });

  ops.handle("rotateCredential", async (req, res) => {
    const body = parseBody("rotateCredential", req.body);
    sendCredential(res, await credentials.rotate(org(req), id(req), body, ifMatchOf(req), meta(req)));
  });

  ops.handle("activateCredential", async (req, res) => {
    sendCredential(res, await credentials.setActive(org(req), id(req), true, { ifMatch: ifMatchOf(req) }, meta(req)));
  });

  ops.handle("deactivateCredential", async (req, res) => {
    const query = parseQuery("deactivateCredential", req.query);
    sendCredential(res, await credentials.setActive(org(req), id(req), false, { force: query.force === true, ifMatch: ifMatchOf(req) }, meta(req)));
  });

  ops.handle("verifyCredential", async (req, res) => {
    parseBody("verifyCredential", req.body);
    res.json(await verifier.verify(org(req), id(req), meta(req)));
  });

  ops.handle("listCredentialVersions", async (req, res) => {
    res.json({ data: await credentials.versions(org(req), id(req)), next_cursor: null });
  });

  ops.handle("deleteCredential", async (req, res) => {
    const query = parseQuery("deleteCredential", req.query);
    await credentials.delete(org(req), id(req), query.force === true, ifMatchOf(req), meta(req));
    res.status(204).end();
  });
};
