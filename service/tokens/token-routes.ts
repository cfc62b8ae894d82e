import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { createToken, listTokens, revokeToken, tokenToApi, whoami } from "./token-service.js";

export const tokenRoutes: FeatureRegistrar = (ops, { db }) => {
  ops.handle("createToken", async (req, res) => {
    const body = parseBody("createToken", req.body);
    const organizationId = String(req.params.org);
    const created = await db.transaction((tx) =>
      createToken(
        tx,
        { organizationId, projectId: body.project_id, role: body.role, name: body.name, expiresAt: body.expires_at },
        actorOf(req),
        req.kp.requestId,
      ),
    );
    res.status(201).location(`/v1/organizations/${organizationId}/tokens/${created.record.id}`);
    res.json({ ...tokenToApi(created.record), token: created.token });
  });

  /** One page of the active tokens of an organization (newest first), or of the platform admins (null; oldest first). */
  const sendPage = async (res: Response, organizationId: string | null, query: { limit?: number; cursor?: string }) => {
    if (organizationId === null) {
      const page = pageRequest(query, "oldest", "tok");
      res.json(paginate(await listTokens(db, null, page.after?.id, page.limit), page, (token) => ({ id: token.id })));
    } else {
      const page = pageRequest(query, "newest", "tok");
      res.json(paginate(await listTokens(db, organizationId, page.after?.before, page.limit), page, (token) => ({ before: token.id })));
    }
  };

  const revoke = async (req: Request, res: Response, organizationId: string | null) => {
    const id = String(req.params.id);
    await db.transaction((tx) => revokeToken(tx, organizationId, id, actorOf(req), req.kp.requestId));
    ops.authenticator.forget(id);
    res.status(204).end();
  };

  ops.handle("listTokens", (req, res) => sendPage(res, String(req.params.org), parseQuery("listTokens", req.query)));
  ops.handle("deleteToken", (req, res) => revoke(req, res, String(req.params.org)));
  ops.handle("listPlatformTokens", (req, res) => sendPage(res, null, parseQuery("listPlatformTokens", req.query)));
  ops.handle("revokePlatformToken", (req, res) => revoke(req, res, null));

  ops.handle("getWhoami", async (req, res) => {
    res.json(await whoami(db, actorOf(req).tokenId));
  });
};
