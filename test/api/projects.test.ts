import { describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

for (const kind of testDatabases()) {
  describe(`projects (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}/projects`;

    let projectId: string;

    it("creates a project that does not inherit by default", async () => {
      const res = await t.api.post(base()).set(t.admin).send({ name: "support-bot", description: "Customer support" });
      expect(res.status).toBe(201);
      parseResponse("createProject", 201, res.body);
      expect(res.body).toMatchObject({
        organization_id: t.orgId,
        name: "support-bot",
        description: "Customer support",
        inherit_organization_credentials: false,
        version: 1,
      });
      expect(res.body.id).toMatch(/^prj_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(res.headers.location).toBe(`${base()}/${res.body.id}`);
      expect(res.headers.etag).toBe('"v1"');
      projectId = res.body.id;
    });

    it("rejects a duplicate name with 409 name_conflict", async () => {
      const res = await t.api.post(base()).set(t.admin).send({ name: "support-bot" });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe("name_conflict");
      expect(res.body.errors[0].path).toBe("body.name");
    });

    it("validates input with field paths", async () => {
      const res = await t.api.post(base()).set(t.admin).send({ name: "", inherit_organization_credentials: "yes" });
      expect(res.status).toBe(422);
      const paths = res.body.errors.map((e: { path: string }) => e.path);
      expect(paths).toContain("body.name");
      expect(paths).toContain("body.inherit_organization_credentials");
    });

    it("gets and lists projects by name with cursors; members may read", async () => {
      for (const name of ["alpha", "beta", "gamma"]) {
        expect((await t.api.post(base()).set(t.admin).send({ name })).status).toBe(201);
      }
      const one = await t.api.get(`${base()}/${projectId}`).set(t.member);
      expect(one.status).toBe(200);
      expect(one.headers.etag).toBe('"v1"');
      const first = await t.api.get(base()).query({ limit: 2 }).set(t.member);
      expect(first.status).toBe(200);
      parseResponse("listProjects", 200, first.body);
      expect(first.body.data.map((p: { name: string }) => p.name)).toEqual(["alpha", "beta"]);
      const second = await t.api.get(base()).query({ limit: 2, cursor: first.body.next_cursor }).set(t.member);
      expect(second.body.data.map((p: { name: string }) => p.name)).toEqual(["gamma", "support-bot"]);
      expect(second.body.next_cursor).toBeNull();
      expect((await t.api.post(base()).set(t.member).send({ name: "nope" })).status).toBe(403);
    });

    it("updates with If-Match; a stale ETag is 412 and changes nothing", async () => {
      const ok = await t.api
        .patch(`${base()}/${projectId}`)
        .set(t.admin)
        .set("If-Match", '"v1"')
        .send({ inherit_organization_credentials: true, description: null });
      expect(ok.status).toBe(200);
      expect(ok.headers.etag).toBe('"v2"');
      expect(ok.body).toMatchObject({ inherit_organization_credentials: true, description: null, version: 2 });

      const stale = await t.api.patch(`${base()}/${projectId}`).set(t.admin).set("If-Match", '"v1"').send({ name: "renamed" });
      expect(stale.status).toBe(412);
      expect(stale.headers.etag).toBe('"v2"');
      expect((await t.api.get(`${base()}/${projectId}`).set(t.admin)).body.name).toBe("support-bot");

      const clash = await t.api.patch(`${base()}/${projectId}`).set(t.admin).send({ name: "alpha" });
      expect(clash.status).toBe(409);
      expect(clash.body.code).toBe("name_conflict");
    });

    it("refuses to delete a project that holds credentials (409 project_not_empty), then deletes it", async () => {
      const cred = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name: "bot", api_key: "sk-proj-Projects000000000000000000000000000abcd", project_id: projectId });
      expect(cred.status).toBe(201);
      expect(cred.body.project_id).toBe(projectId);

      const refused = await t.api.delete(`${base()}/${projectId}`).set(t.admin);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe("project_not_empty");
      expect(refused.body.detail).toContain("1 credential");

      expect((await t.api.delete(`/v1/organizations/${t.orgId}/credentials/${cred.body.id}?force=true`).set(t.admin)).status).toBe(204);
      const stale = await t.api.delete(`${base()}/${projectId}`).set(t.admin).set("If-Match", '"v1"');
      expect(stale.status).toBe(412);
      const gone = await t.api.delete(`${base()}/${projectId}`).set(t.admin).set("If-Match", '"v2"');
      expect(gone.status).toBe(204);
      expect((await t.api.get(`${base()}/${projectId}`).set(t.admin)).status).toBe(404);
      expect((await t.api.delete(`${base()}/${projectId}`).set(t.admin)).status).toBe(404);
    });

    it("a project of another organization is 404, and credentials cannot point at it", async () => {
      const other = await seedOrganization(t);
      const foreign = await t.api.post(`/v1/organizations/${other.org.id}/projects`).set(bearer(other.tokens.admin)).send({ name: "theirs" });
      expect(foreign.status).toBe(201);
      expect((await t.api.get(`${base()}/${foreign.body.id}`).set(t.admin)).status).toBe(404);
      const cred = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name: "x", api_key: "sk-proj-Projects111111111111111111111111111abcd", project_id: foreign.body.id });
      expect(cred.status).toBe(422);
      expect(cred.body.errors[0].path).toBe("body.project_id");
    });

    it("a platform admin creating a project in an unknown organization gets 404", async () => {
      const res = await t.api.post("/v1/organizations/org_00000000000000000000000000/projects").set(bearer(t.platformToken)).send({ name: "x" });
      expect(res.status).toBe(404);
    });

    it("audits every mutation", async () => {
      const res = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ limit: 200 }).set(t.admin);
      const actions = res.body.data.filter((e: { target_type: string }) => e.target_type === "project").map((e: { action: string }) => e.action);
      expect(actions.filter((a: string) => a === "project.create")).toHaveLength(4);
      expect(actions).toContain("project.update");
      expect(actions).toContain("project.delete");
      const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
      expect(verify.body.valid).toBe(true);
    });
  });
}
