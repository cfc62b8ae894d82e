import type { FeatureRegistrar } from "../http/app.js";
import { actorOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { CURSOR_KEYS, decodeCursor, DEFAULT_LIMIT, page } from "../http/pagination.js";
import { problems } from "../http/problem.js";
import { createToken, listTokens, revokeToken, tokenToApi } from "./token-service.js";

export const tokenRoutes: FeatureRegistrar = (ops, { db }) => {
  ops.handle("createToken", async (req, res) => {
    const body = parseBody("createToken", req.body);
    const actor = actorOf(req);
    if (body.expires_at && new Date(body.expires_at).getTime() <= Date.now()) {
      throw problems.validation([{ path: "body.expires_at", message: "must be in the future" }]);
    }
    const organizationId = String(req.params.org);
    const created = await db.transaction(async (tx) => {
      const { rows } = await tx.query("select 1 from organizations where id = $1", [organizationId]);
      if (rows.length === 0) throw problems.notFound("organization");
      return createToken(
        tx,
        { organizationId, role: body.role, name: body.name, expiresAt: body.expires_at ?? null },
        { tokenId: actor.tokenId, role: actor.role },
        req.kp.requestId,
      );
    });
    res.status(201).location(`/v1/organizations/${organizationId}/tokens/${created.record.id}`);
    res.json({ ...tokenToApi(created.record), token: created.token });
  });

  ops.handle("listTokens", async (req, res) => {
    const query = parseQuery("listTokens", req.query);
    const cursor = decodeCursor(query.cursor, CURSOR_KEYS.id);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const rows = await listTokens(db, String(req.params.org), cursor?.id, limit);
    const result = page(rows, limit, (r) => ({ id: r.id }));
    res.json({ data: result.data.map(tokenToApi), next_cursor: result.next_cursor });
  });

  ops.handle("deleteToken", async (req, res) => {
    const actor = actorOf(req);
    const revoked = await db.transaction((tx) =>
      revokeToken(tx, String(req.params.org), String(req.params.id), { tokenId: actor.tokenId, role: actor.role }, req.kp.requestId),
    );
    if (!revoked) throw problems.notFound("token");
    ops.authenticator.forget(String(req.params.id));
    res.status(204).end();
  });
};
