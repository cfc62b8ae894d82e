import { hkdfSync } from "node:crypto";
import type { Request } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { ValidationError } from "../errors.js";
import { parseBody, parseHeaders, parseQuery } from "../http/validation.js";
import { ifNoneMatchCondition } from "../http/conditional.js";
import type { CallMeta } from "../auth/actor.js";
import { AuditBatcher } from "../audit/audit-batch.js";
import { CandidateCache, OrganizationCache } from "./candidate-cache.js";
import type { AliasScopeRow } from "./resolve-dal.js";
import { PlatformKeys } from "./platform-keys.js";
import { Resolver } from "./resolve-service.js";

const meta = (req: Request): CallMeta => ({ actor: actorOf(req), requestId: req.kp.requestId });

export const resolveRoutes: FeatureRegistrar = (ops, { db, keyring, config, log }) => {
  // Derived once at start, never per request: keys the platform-key digests in environment ETags.
  const digestKey = Buffer.from(hkdfSync("sha256", keyring.current.bytes(), Buffer.alloc(0), "keyplane platform key digest", 32));
  const platformKeys = new PlatformKeys(config.platformKeys, digestKey);
  if (platformKeys.ignored.length > 0) {
    log.warn({ providers: platformKeys.ignored }, "ignoring platform keys for providers that are not single-key providers of the catalog");
  }
  const resolver = new Resolver(
    db,
    keyring,
    platformKeys,
    new AuditBatcher(db),
    new CandidateCache(db.changes),
    new OrganizationCache<AliasScopeRow>(db.changes),
  );

  ops.handle("resolveCredential", async (req, res) => {
    const body = parseBody("resolveCredential", req.body);
    if ((body.provider === undefined) === (body.alias === undefined)) {
      throw new ValidationError([{ path: "body", message: "exactly one of provider and alias is required" }]);
    }
    const organizationId = String(req.params.org);
    const scope = { projectId: body.project_id, environment: body.environment, version: body.version };
    const resolved =
      body.alias !== undefined
        ? await resolver.resolveAlias(organizationId, { alias: body.alias, ...scope }, meta(req))
        : await resolver.resolve(organizationId, { provider: body.provider!, ...scope }, meta(req));
    res.json(resolved);
  });

  ops.handle("getEnvironment", async (req, res) => {
    const query = parseQuery("getEnvironment", req.query);
    const headers = parseHeaders("getEnvironment", req.headers);
    const result = await resolver.environment(
      String(req.params.org),
      { projectId: query.project_id, environment: query.environment, ifNoneMatch: ifNoneMatchCondition(headers["If-None-Match"]) },
      meta(req),
    );
    res.setHeader("ETag", result.etag);
    if (result.notModified) {
      res.status(304).end();
      return;
    }
    res.json({ variables: result.variables });
  });
};
