import type { Request } from "express";
import type { FeatureRegistrar } from "../http/app.js";
import { callMetaOf } from "../http/context.js";
import { parseBody, parseQuery } from "../http/validation.js";
import { ifMatchOf, sendVersioned } from "../http/conditional.js";
import { pageRequest, paginate } from "../http/pagination.js";
import { OrganizationService } from "./organization-service.js";

const org = (req: Request) => String(req.params.org);

export const organizationRoutes: FeatureRegistrar = (ops, { db }) => {
  const organizations = new OrganizationService(db);

  ops.handle("createOrganization", async (req, res) => {
    const body = parseBody("createOrganization", req.body);
    const created = await organizations.create(body, callMetaOf(req));
    res.location(`/v1/organizations/${created.id}`);
    sendVersioned(res, created, 201);
  });

  ops.handle("listOrganizations", async (req, res) => {
    const page = pageRequest(parseQuery("listOrganizations", req.query), "oldest", "org");
    const rows = await organizations.list(page.after?.id, page.limit);
    res.json(paginate(rows, page, (organization) => ({ id: organization.id })));
  });

  ops.handle("getOrganization", async (req, res) => {
    sendVersioned(res, await organizations.get(org(req)));
  });

  ops.handle("updateOrganization", async (req, res) => {
    const body = parseBody("updateOrganization", req.body);
    sendVersioned(res, await organizations.update(org(req), body, ifMatchOf(req), callMetaOf(req)));
  });

  ops.handle("deleteOrganization", async (req, res) => {
    const query = parseQuery("deleteOrganization", req.query);
    await organizations.delete(org(req), query.force === true, ifMatchOf(req), callMetaOf(req));
    res.status(204).end();
  });
};
