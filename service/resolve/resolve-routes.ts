import { hkdfSync } from "node:crypto";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf, callMetaOf } from "../http/context.js";
import { ValidationError } from "../errors.js";
import { parseBody, parseHeaders, parseQuery } from "../http/validation.js";
import { ifNoneMatchCondition } from "../http/conditional.js";
import { projectOfCall } from "../auth/actor.js";
import { AuditBatcher } from "../audit/audit-batch.js";
import { CandidateCache, OrganizationCache } from "./candidate-cache.js";
import type { AliasScopeRow } from "./resolve-dal.js";
import { PlatformKeys } from "./platform-keys.js";
import { Resolver } from "./resolve-service.js";
import { EnvironmentWatch } from "./environment-watch.js";

export const resolveRoutes: FeatureRegistrar = (ops, { db, keyring, config, log, stopping }) => {
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
  const watch = new EnvironmentWatch(resolver, db.changes, stopping ?? new AbortController().signal);

  ops.handle("resolveCredential", async (req, res) => {
    const body = parseBody("resolveCredential", req.body);
    if ((body.provider === undefined) === (body.alias === undefined)) {
      throw new ValidationError([{ path: "body", message: "exactly one of provider and alias is required" }]);
    }
    const organizationId = String(req.params.org);
    const scope = { projectId: projectOfCall(actorOf(req), body.project_id), environment: body.environment, version: body.version };
    const resolved =
      body.alias !== undefined
        ? await resolver.resolveAlias(organizationId, { alias: body.alias, ...scope }, callMetaOf(req))
        : await resolver.resolve(organizationId, { provider: body.provider!, ...scope }, callMetaOf(req));
    res.json(resolved);
  });

  ops.handle("getEnvironment", async (req, res) => {
    const query = parseQuery("getEnvironment", req.query);
    const headers = parseHeaders("getEnvironment", req.headers);
    const clientGone = new AbortController();
    // Also emitted after a complete answer, when the wait is over anyway.
    res.once("close", () => clientGone.abort());
    const result = await watch.environment(
      String(req.params.org),
      {
        projectId: projectOfCall(actorOf(req), query.project_id),
        environment: query.environment,
        ifNoneMatch: ifNoneMatchCondition(headers["If-None-Match"]),
        waitSeconds: query.wait,
      },
      {
        meta: callMetaOf(req),
        clientGone: clientGone.signal,
        stillAuthenticated: async () => "actor" in (await ops.authenticator.authenticate(req)),
      },
    );
    if (result === null) return;
    // A request held until shutdown: its connection is not kept for another one.
    if (stopping?.aborted) res.setHeader("Connection", "close");
    res.setHeader("ETag", result.etag);
    if (result.notModified) {
      res.status(304).end();
      return;
    }
    res.json({ variables: result.variables });
  });
};
