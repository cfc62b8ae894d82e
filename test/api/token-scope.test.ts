import { describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEYS = {
  own: "sk-proj-ScopeOwnProject00000000000000000000001",
  other: "sk-proj-ScopeOtherProject000000000000000000002",
  organization: "sk-ant-api03-ScopeOrganization0000000000000000003",
};

for (const kind of testDatabases()) {
  describe(`token project scope (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}`;
    let own: string;
    let other: string;
    let confined: Record<string, string>;

    it("confines only resolver tokens to a project", async () => {
      own = (await t.api.post(`${base()}/projects`).set(t.admin).send({ name: "own", inherit_organization_credentials: true })).body.id;
      other = (await t.api.post(`${base()}/projects`).set(t.admin).send({ name: "other" })).body.id;
      for (const [name, api_key, project_id] of [
        ["own", KEYS.own, own],
        ["other", KEYS.other, other],
      ]) {
        expect((await t.api.post(`${base()}/credentials`).set(t.admin).send({ provider: "openai", name, api_key, project_id })).status).toBe(201);
      }
      expect((await t.api.post(`${base()}/credentials`).set(t.admin).send({ provider: "anthropic", name: "org", api_key: KEYS.organization })).status).toBe(
        201,
      );

      for (const role of ["admin", "member"]) {
        const refused = await t.api
          .post(`${base()}/tokens`)
          .set(t.admin)
          .send({ role, name: `confined ${role}`, project_id: own });
        expect(refused.status).toBe(422);
        expect(refused.body.errors).toEqual([{ path: "body.project_id", message: expect.stringContaining("resolver") }]);
      }
      const created = await t.api.post(`${base()}/tokens`).set(t.admin).send({ role: "resolver", name: "confined", project_id: own });
      expect(created.status).toBe(201);
      expect(created.body.project_id).toBe(own);
      confined = { Authorization: `Bearer ${created.body.token}` };
    });

    it("resolves for its own project, named or not", async () => {
      const named = await t.api.post(`${base()}/resolve`).set(confined).send({ provider: "openai", project_id: own });
      expect(named.status).toBe(200);
      expect(named.body).toMatchObject({ secret: KEYS.own, source: "project" });
      const unnamed = await t.api.post(`${base()}/resolve`).set(confined).send({ provider: "openai" });
      expect(unnamed.status).toBe(200);
      expect(unnamed.body).toMatchObject({ secret: KEYS.own, source: "project" });
      // Its project inherits: the organization's credentials still serve it.
      expect((await t.api.post(`${base()}/resolve`).set(confined).send({ provider: "anthropic" })).body).toMatchObject({ source: "organization" });
    });

    it("answers 404 for another project, as for one that does not exist", async () => {
      const res = await t.api.post(`${base()}/resolve`).set(confined).send({ provider: "openai", project_id: other });
      expect(res.status).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain(KEYS.other);
      const env = await t.api.get(`${base()}/environment`).query({ project_id: other }).set(confined);
      expect(env.status).toBe(404);
      // An unconfined resolver still reaches both.
      expect((await t.api.post(`${base()}/resolve`).set(t.resolver).send({ provider: "openai", project_id: other })).body.secret).toBe(KEYS.other);
    });

    it("serves its own project's environment without project_id", async () => {
      const unnamed = await t.api.get(`${base()}/environment`).set(confined);
      expect(unnamed.status).toBe(200);
      expect(unnamed.body.variables).toMatchObject({ OPENAI_API_KEY: KEYS.own, ANTHROPIC_API_KEY: KEYS.organization });
      const named = await t.api.get(`${base()}/environment`).query({ project_id: own }).set(confined);
      expect(named.headers.etag).toBe(unnamed.headers.etag);
      // The unconfined resolver without project_id gets the organization's only.
      const organization = await t.api.get(`${base()}/environment`).set(t.resolver);
      expect(organization.body.variables.OPENAI_API_KEY).toBeUndefined();
    });

    it("reports its project in whoami and the token list", async () => {
      expect((await t.api.get("/v1/whoami").set(confined)).body.project_id).toBe(own);
      const list = await t.api.get(`${base()}/tokens`).set(t.admin);
      expect((list.body.data as { name: string; project_id: string | null }[]).find((x) => x.name === "confined")?.project_id).toBe(own);
    });
  });
}
