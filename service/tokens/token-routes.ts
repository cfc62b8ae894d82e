import type { Request, Response } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import type { Schemas } from "../contract-types.js";
import { CURSOR_KEYS, decodeCursor, DEFAULT_LIMIT, page } from "../http/pagination.js";
import { problems } from "../http/problem.js";
import { createToken, findActiveToken, listTokens, revokeToken, tokenToApi } from "./token-service.js";

export const tokenRoutes: FeatureRegistrar = (ops, { db }) => {
  ops.handle("createToken", async (req, res) => {
    const body = parseBody("createToken", req.body);
    const actor = actorOf(req);
    if (body.expires_at && new Date(body.expires_at).getTime() <= Date.now()) {
      throw problems.validation([{ path: "body.expires_at", message: "must be in the future" }]);
    }
    const organizationId = String(req.params.org);
    const created = await db.transaction((tx) =>
      createToken(
        tx,
        { organizationId, role: body.role, name: body.name, expiresAt: body.expires_at ?? null },
        { tokenId: actor.tokenId, role: actor.role },
        req.kp.requestId,
      ),
    );
    res.status(201).location(`/v1/organizations/${organizationId}/tokens/${created.record.id}`);
    res.json({ ...tokenToApi(created.record), token: created.token });
  });

  /** One page of the active tokens of an organization, or of the platform admins (null). */
  const sendPage = async (req: Request, res: Response, organizationId: string | null, query: { limit?: number; cursor?: string }) => {
    const cursor = decodeCursor(query.cursor, CURSOR_KEYS.id);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const rows = await listTokens(db, organizationId, cursor?.id, limit);
    const result = page(rows, limit, (r) => ({ id: r.id }));
    res.json({ data: result.data.map(tokenToApi), next_cursor: result.next_cursor });
  };

  const revoke = async (req: Request, res: Response, organizationId: string | null) => {
    const actor = actorOf(req);
    const id = String(req.params.id);
    const revoked = await db.transaction((tx) => revokeToken(tx, organizationId, id, { tokenId: actor.tokenId, role: actor.role }, req.kp.requestId));
    if (!revoked) throw problems.notFound("token");
    ops.authenticator.forget(id);
    res.status(204).end();
  };

  ops.handle("listTokens", (req, res) => sendPage(req, res, String(req.params.org), parseQuery("listTokens", req.query)));
  ops.handle("deleteToken", (req, res) => revoke(req, res, String(req.params.org)));
  ops.handle("listPlatformTokens", (req, res) => sendPage(req, res, null, parseQuery("listPlatformTokens", req.query)));
  ops.handle("revokePlatformToken", (req, res) => revoke(req, res, null));

  ops.handle("getWhoami", async (req, res) => {
    const actor = actorOf(req);
    const token = await findActiveToken(db, actor.tokenId);
    // Revoked (or deleted with its organization) between authentication and this read.
    if (!token) throw problems.unauthenticated();
    res.json({
      id: token.id,
      role: token.role,
      organization_id: token.organization_id,
      project_id: null,
      name: token.name,
      expires_at: token.expires_at ? new Date(token.expires_at).toISOString() : null,
    } satisfies Schemas["Whoami"]);
  });
};
