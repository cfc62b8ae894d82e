import { describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEYS = {
  project: "sk-proj-UsageProject0000000000000000000000001",
  organization: "sk-proj-UsageOrganization00000000000000000002",
  pinned: "sk-ant-api03-UsageRecent0000000000000000000000003",
  idle: "sk-ant-api03-UsageIdle00000000000000000000000000004",
};
const SECRETS = Object.values(KEYS);

for (const kind of testDatabases()) {
  describe(`credential usage (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}`;
    const create = async (body: Record<string, unknown>) => {
      const res = await t.api.post(`${base()}/credentials`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; usage: unknown };
    };
    const usageOf = async (id: string) => (await t.api.get(`${base()}/credentials/${id}`).set(t.admin)).body.usage;
    const resolverNamed = async (name: string) => {
      const res = await t.api.post(`${base()}/tokens`).set(t.admin).send({ role: "resolver", name });
      expect(res.status).toBe(201);
      return { id: res.body.id as string, auth: { Authorization: `Bearer ${res.body.token}` } };
    };

    let projectId: string;
    let projectCredential: string;
    let organizationCredential: string;

    it("starts without use", async () => {
      projectId = (await t.api.post(`${base()}/projects`).set(t.admin).send({ name: "usage", inherit_organization_credentials: true })).body.id;
      projectCredential = (await create({ provider: "openai", name: "project", api_key: KEYS.project, project_id: projectId })).id;
      const created = await create({ provider: "openai", name: "organization", api_key: KEYS.organization });
      organizationCredential = created.id;
      expect(created.usage).toEqual({ last_used_at: null, last_used_by: null, resolves_30d: 0, denied_since_deactivation: 0 });
    });

    it("counts real resolves and names the last token that resolved", async () => {
      const first = await resolverNamed("usage first");
      const second = await resolverNamed("usage second");
      for (let i = 0; i < 3; i++) {
        expect((await t.api.post(`${base()}/resolve`).set(first.auth).send({ provider: "openai", project_id: projectId })).status).toBe(200);
      }
      const before = Date.now();
      expect((await t.api.post(`${base()}/resolve`).set(second.auth).send({ provider: "openai", project_id: projectId })).status).toBe(200);
      expect((await t.api.post(`${base()}/resolve`).set(first.auth).send({ provider: "openai" })).status).toBe(200);

      const usage = await usageOf(projectCredential);
      expect(usage).toMatchObject({ last_used_by: { token_id: second.id, name: "usage second" }, resolves_30d: 4, denied_since_deactivation: 0 });
      expect(Date.parse(usage.last_used_at)).toBeGreaterThanOrEqual(before - 1000);
      expect(await usageOf(organizationCredential)).toMatchObject({ last_used_by: { token_id: first.id, name: "usage first" }, resolves_30d: 1 });

      // The list carries the same figures.
      const list = await t.api.get(`${base()}/credentials`).query({ provider: "openai" }).set(t.admin);
      const listed = (list.body.data as { id: string; usage: unknown }[]).find((c) => c.id === projectCredential);
      expect(listed?.usage).toEqual(usage);
    });

    it("refuses to deactivate a credential resolved in the last day unless forced, naming the last use", async () => {
      const refused = await t.api.post(`${base()}/credentials/${projectCredential}/deactivate`).set(t.admin);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ code: "credential_in_use", aliases: [] });
      expect(refused.body.last_used_at).toBe((await usageOf(projectCredential)).last_used_at);
      expect((await t.api.get(`${base()}/credentials/${projectCredential}`).set(t.admin)).body.active).toBe(true);

      const forced = await t.api.post(`${base()}/credentials/${projectCredential}/deactivate`).query({ force: true }).set(t.admin);
      expect(forced.status).toBe(200);
      expect(forced.body).toMatchObject({ active: false, usage: { denied_since_deactivation: 0 } });
    });

    it("counts the resolves that would have chosen a deactivated credential", async () => {
      // Falls through to the organization's credential: served, but the project's was skipped.
      const fellThrough = await t.api.post(`${base()}/resolve`).set(t.resolver).send({ provider: "openai", project_id: projectId });
      expect(fellThrough.body).toMatchObject({ credential_id: organizationCredential });
      // Another project asks nothing of it: not counted.
      expect((await t.api.post(`${base()}/resolve`).set(t.resolver).send({ provider: "openai" })).status).toBe(200);
      expect(await usageOf(projectCredential)).toMatchObject({ resolves_30d: 4, denied_since_deactivation: 1 });

      // With the organization's gone too, the resolve fails, and both are counted.
      await t.api.post(`${base()}/credentials/${organizationCredential}/deactivate`).query({ force: true }).set(t.admin);
      const failed = await t.api.post(`${base()}/resolve`).set(t.resolver).send({ provider: "openai", project_id: projectId });
      expect(failed.status).toBe(404);
      expect(await usageOf(projectCredential)).toMatchObject({ denied_since_deactivation: 2 });
      expect(await usageOf(organizationCredential)).toMatchObject({ denied_since_deactivation: 1 });

      // A new deactivation starts the count again; while active it is 0.
      expect((await t.api.post(`${base()}/credentials/${projectCredential}/activate`).set(t.admin)).body.usage.denied_since_deactivation).toBe(0);
      const again = await t.api.post(`${base()}/credentials/${projectCredential}/deactivate`).query({ force: true }).set(t.admin);
      expect(again.body.usage.denied_since_deactivation).toBe(0);
    });

    it("refuses to delete a credential resolved in the last day unless forced; force also bypasses credential_active", async () => {
      const refused = await t.api.delete(`${base()}/credentials/${projectCredential}`).set(t.admin);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe("credential_in_use");
      expect((await t.api.delete(`${base()}/credentials/${projectCredential}`).query({ force: true }).set(t.admin)).status).toBe(204);

      // Never resolved: deactivate and delete need no force.
      const idle = await create({ provider: "anthropic", name: "idle", api_key: KEYS.idle });
      expect((await t.api.post(`${base()}/credentials/${idle.id}/deactivate`).set(t.admin)).status).toBe(200);
      expect((await t.api.delete(`${base()}/credentials/${idle.id}`).set(t.admin)).status).toBe(204);

      // Active and recently used: force bypasses both refusals at once.
      const pinned = await create({ provider: "anthropic", name: "recent", api_key: KEYS.pinned });
      expect((await t.api.post(`${base()}/resolve`).set(t.resolver).send({ provider: "anthropic" })).status).toBe(200);
      expect((await t.api.delete(`${base()}/credentials/${pinned.id}`).set(t.admin)).body.code).toBe("credential_active");
      expect((await t.api.delete(`${base()}/credentials/${pinned.id}`).query({ force: true }).set(t.admin)).status).toBe(204);
    });

    it("never puts a secret in usage, listings or the audit trail", async () => {
      const list = await t.api.get(`${base()}/credentials`).set(t.admin);
      const audit = await t.api.get(`${base()}/audit-events`).query({ limit: 200 }).set(t.admin);
      expect(audit.status).toBe(200);
      expect(audit.body.data.some((e: { details: Record<string, unknown> }) => Array.isArray(e.details.skipped_inactive))).toBe(true);
      const seen = JSON.stringify([list.body, audit.body]);
      for (const secret of SECRETS) expect(seen).not.toContain(secret);
    });
  });
}
