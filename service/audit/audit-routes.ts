import type { FeatureRegistrar } from "../http/app.js";
import { parseQuery } from "../http/validation.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { listEvents } from "./audit-dal.js";
import { chainKeyFor, verifyOrganizationChain } from "./audit-service.js";

export const auditRoutes: FeatureRegistrar = (ops, { db }) => {
  ops.handle("listAuditEvents", async (req, res) => {
    const query = parseQuery("listAuditEvents", req.query);
    const page = pageRequest(query, "seq");
    const rows = await listEvents(db, {
      chainKey: chainKeyFor(String(req.params.org)),
      action: query.action,
      targetId: query.target_id,
      since: query.since,
      afterSeq: page.after?.seq,
      limit: page.limit + 1,
    });
    const events = rows.map(({ chain_key: _chainKey, ...event }) => event);
    res.json(paginate(events, page, (event) => ({ seq: event.seq })));
  });

  ops.handle("verifyAuditChain", async (req, res) => {
    res.json(await verifyOrganizationChain(db, String(req.params.org)));
  });
};
