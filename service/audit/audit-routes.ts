import type { FeatureRegistrar } from "../http/app.js";
import { parseQuery } from "../http/validation.js";
import { CURSOR_KEYS, decodeCursor, DEFAULT_LIMIT, encodeCursor } from "../http/pagination.js";
import { listEvents } from "./audit-dal.js";
import { chainKeyFor, verifyOrganizationChain } from "./audit-service.js";

export const auditRoutes: FeatureRegistrar = (ops, { db }) => {
  ops.handle("listAuditEvents", async (req, res) => {
    const query = parseQuery("listAuditEvents", req.query);
    const cursor = decodeCursor(query.cursor, CURSOR_KEYS.seq);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const rows = await listEvents(db, {
      chainKey: chainKeyFor(String(req.params.org)),
      action: query.action,
      targetId: query.target_id,
      since: query.since,
      afterSeq: cursor?.seq,
      limit: limit + 1,
    });
    const hasMore = rows.length > limit;
    const data = rows.slice(0, limit).map(({ chain_key: _chainKey, ...event }) => event);
    res.json({ data, next_cursor: hasMore ? encodeCursor({ seq: data[data.length - 1].seq }) : null });
  });

  ops.handle("verifyAuditChain", async (req, res) => {
    res.json(await verifyOrganizationChain(db, String(req.params.org)));
  });
};
