import { describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { aliasesPinning } from "../../service/model-aliases/model-alias-dal.js";
import { withOrganizationScope } from "../../service/db/index.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const SECRET = "sk-proj-AliasCrudSecret0000000000000000000001";

for (const kind of testDatabases()) {
  describe(`model aliases (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}/model-aliases`;
    const createAlias = async (body: Record<string, unknown>) => {
      const res = await t.api.post(base()).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; name: string; version: number };
    };
    const paths = (res: { body: { errors?: { path: string }[] } }) => (res.body.errors ?? []).map((e) => e.path);

    let chatId: string;
    let credentialId: string;
    let projectId: string;

    it("creates an organization-level alias with defaults, Location and ETag", async () => {
      const res = await t.api
        .post(base())
        .set(t.admin)
        .send({ name: "chat-default", provider: "anthropic", model: "claude-sonnet-4-5", params: { temperature: 0.2, max_tokens: 2048 } });
      expect(res.status).toBe(201);
      parseResponse("createModelAlias", 201, res.body);
      expect(res.body).toMatchObject({
        organization_id: t.orgId,
        project_id: null,
        name: "chat-default",
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        credential_id: null,
        environment: null,
        params: { temperature: 0.2, max_tokens: 2048 },
        fallbacks: [],
        active: true,
        version: 1,
      });
      expect(res.body.id).toMatch(/^mal_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(res.headers.location).toBe(`${base()}/${res.body.id}`);
      expect(res.headers.etag).toBe('"v1"');
      chatId = res.body.id;
    });

    it("refuses a duplicate name in the same scope (409 name_conflict) but allows it in a project", async () => {
      const dup = await t.api.post(base()).set(t.admin).send({ name: "chat-default", provider: "openai", model: "gpt-5" });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe("name_conflict");
      expect(paths(dup)).toEqual(["body.name"]);
      const project = await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "aliases" });
      projectId = project.body.id;
      const scoped = await createAlias({ name: "chat-default", provider: "openai", model: "gpt-5", project_id: projectId });
      expect((await t.api.get(`${base()}/${scoped.id}`).set(t.member)).body.project_id).toBe(projectId);
    });

    it("applies the write-time rules with field paths", async () => {
      const credential = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name: "alias-pin", api_key: SECRET });
      credentialId = credential.body.id;
      const projectCredential = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name: "alias-pin-project", api_key: SECRET.replace("1", "2"), project_id: projectId });

      const unknownProvider = await t.api.post(base()).set(t.admin).send({ name: "x", provider: "nosuchprovider", model: "m" });
      expect(unknownProvider.status).toBe(422);
      expect(paths(unknownProvider)).toContain("body.provider");
      const wrongProvider = await t.api.post(base()).set(t.admin).send({ name: "x", provider: "anthropic", model: "m", credential_id: credentialId });
      expect(paths(wrongProvider)).toEqual(["body.credential_id"]);
      const otherScope = await t.api.post(base()).set(t.admin).send({ name: "x", provider: "openai", model: "m", credential_id: projectCredential.body.id });
      expect(otherScope.status).toBe(422);
      expect(paths(otherScope)).toEqual(["body.credential_id"]);
      const absent = await t.api
        .post(base())
        .set(t.admin)
        .send({ name: "x", provider: "openai", model: "m", credential_id: "cred_00000000000000000000000000" });
      expect(paths(absent)).toEqual(["body.credential_id"]);
      const unknownFallback = await t.api
        .post(base())
        .set(t.admin)
        .send({ name: "x", provider: "openai", model: "m", fallbacks: ["chat-default", "nope"] });
      expect(paths(unknownFallback)).toEqual(["body.fallbacks.1"]);
      const self = await t.api
        .post(base())
        .set(t.admin)
        .send({ name: "x", provider: "openai", model: "m", fallbacks: ["x"] });
      expect(paths(self)).toEqual(["body.fallbacks"]);
      const tooMany = await t.api
        .post(base())
        .set(t.admin)
        .send({ name: "x", provider: "openai", model: "m", fallbacks: ["a", "b", "c", "d", "e", "f"] });
      expect(tooMany.status).toBe(422);
      expect(paths(tooMany)).toContain("body.fallbacks");
      const params = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, i]));
      const tooManyParams = await t.api.post(base()).set(t.admin).send({ name: "x", provider: "openai", model: "m", params });
      expect(tooManyParams.status).toBe(422);
      expect(paths(tooManyParams)).toContain("body.params");
      const noProject = await t.api.post(base()).set(t.admin).send({ name: "x", provider: "openai", model: "m", project_id: "prj_00000000000000000000000000" });
      expect(paths(noProject)).toEqual(["body.project_id"]);

      // A project alias may pin its project's credential and fall back to the organization's aliases only when the project inherits.
      const pinned = await createAlias({ name: "pinned", provider: "openai", model: "gpt-5", project_id: projectId, credential_id: projectCredential.body.id });
      expect(pinned.name).toBe("pinned");
      await createAlias({ name: "org-only", provider: "openai", model: "m" });
      const viaOrg = await t.api
        .post(base())
        .set(t.admin)
        .send({ name: "x", provider: "openai", model: "m", project_id: projectId, fallbacks: ["org-only"] });
      expect(paths(viaOrg)).toEqual(["body.fallbacks.0"]);
      const none = await t.api.get(base()).query({ name: "x" }).set(t.admin);
      expect(none.body.data).toEqual([]);
    });

    it("refuses a fallback chain that leads back (422 at body.fallbacks), including through an update", async () => {
      const a = await createAlias({ name: "cycle-a", provider: "openai", model: "m" });
      await createAlias({ name: "cycle-b", provider: "openai", model: "m", fallbacks: ["cycle-a"] });
      const c = await createAlias({ name: "cycle-c", provider: "openai", model: "m", fallbacks: ["cycle-b"] });
      expect(c.name).toBe("cycle-c");
      const closing = await t.api
        .patch(`${base()}/${a.id}`)
        .set(t.admin)
        .send({ fallbacks: ["cycle-c"] });
      expect(closing.status).toBe(422);
      expect(paths(closing)).toEqual(["body.fallbacks"]);
      expect((await t.api.get(`${base()}/${a.id}`).set(t.admin)).body.fallbacks).toEqual([]);
    });

    it("lists newest first with filters and cursors; members read, members and resolvers may not write", async () => {
      const page1 = await t.api.get(base()).query({ limit: 2 }).set(t.member);
      expect(page1.status).toBe(200);
      parseResponse("listModelAliases", 200, page1.body);
      expect(page1.body.data.map((a: { name: string }) => a.name)).toEqual(["cycle-c", "cycle-b"]);
      const page2 = await t.api.get(base()).query({ limit: 2, cursor: page1.body.next_cursor }).set(t.member);
      expect(page2.body.data.map((a: { name: string }) => a.name)).toEqual(["cycle-a", "org-only"]);
      const orgLevel = await t.api.get(base()).query({ project_id: "none", name: "chat-default" }).set(t.member);
      expect(orgLevel.body.data.map((a: { id: string }) => a.id)).toEqual([chatId]);
      const inProject = await t.api.get(base()).query({ project_id: projectId }).set(t.admin);
      expect(inProject.body.data.map((a: { name: string }) => a.name).sort()).toEqual(["chat-default", "pinned"]);
      const anthropic = await t.api.get(base()).query({ provider: "anthropic" }).set(t.admin);
      expect(anthropic.body.data.map((a: { id: string }) => a.id)).toEqual([chatId]);
      expect((await t.api.post(base()).set(t.member).send({ name: "nope", provider: "openai", model: "m" })).status).toBe(403);
      expect((await t.api.patch(`${base()}/${chatId}`).set(t.member).send({ model: "m" })).status).toBe(403);
      expect((await t.api.get(base()).set(t.resolver)).status).toBe(403);
      expect((await t.api.post(base()).set(t.platform).send({ name: "by-platform", provider: "openai", model: "m" })).status).toBe(201);
    });

    it("updates with If-Match (412 when stale); moving provider clears a pin of the old one", async () => {
      const pinned = await createAlias({ name: "moving", provider: "openai", model: "gpt-5", credential_id: credentialId });
      const ok = await t.api
        .patch(`${base()}/${pinned.id}`)
        .set(t.admin)
        .set("If-Match", '"v1"')
        .send({ provider: "anthropic", model: "claude-sonnet-4-5", params: { top_p: 0.9 } });
      expect(ok.status).toBe(200);
      parseResponse("updateModelAlias", 200, ok.body);
      expect(ok.headers.etag).toBe('"v2"');
      expect(ok.body).toMatchObject({ provider: "anthropic", credential_id: null, params: { top_p: 0.9 }, version: 2 });
      const stale = await t.api.patch(`${base()}/${pinned.id}`).set(t.admin).set("If-Match", '"v1"').send({ model: "other" });
      expect(stale.status).toBe(412);
      expect((await t.api.get(`${base()}/${pinned.id}`).set(t.admin)).body.model).toBe("claude-sonnet-4-5");
      const clash = await t.api.patch(`${base()}/${pinned.id}`).set(t.admin).send({ name: "chat-default" });
      expect(clash.status).toBe(409);
      expect(clash.body.code).toBe("name_conflict");
    });

    it("aliasesPinning lists the active aliases pinning a credential", async () => {
      const pin = await createAlias({ name: "pin-probe", provider: "openai", model: "gpt-5", credential_id: credentialId });
      await createAlias({ name: "pin-off", provider: "openai", model: "gpt-5", credential_id: credentialId, active: false });
      const found = await withOrganizationScope(t.orgId, () => aliasesPinning(t.runtime.db, t.orgId, credentialId));
      expect(found).toEqual([{ id: pin.id, name: "pin-probe" }]);
    });

    it("deletes: 409 alias_in_use while another falls back to it, force removes it from their lists; renames are refused too", async () => {
      const b = (await t.api.get(base()).query({ name: "cycle-b", project_id: "none" }).set(t.admin)).body.data[0];
      const rename = await t.api.patch(`${base()}/${b.id}`).set(t.admin).send({ name: "cycle-renamed" });
      expect(rename.status).toBe(409);
      expect(rename.body.code).toBe("alias_in_use");
      const refused = await t.api.delete(`${base()}/${b.id}`).set(t.admin);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe("alias_in_use");
      expect(refused.body.detail).toContain("cycle-c");
      const stale = await t.api.delete(`${base()}/${b.id}`).query({ force: true }).set(t.admin).set("If-Match", '"v9"');
      expect(stale.status).toBe(412);
      const forced = await t.api.delete(`${base()}/${b.id}`).query({ force: true }).set(t.admin).set("If-Match", `"v${b.version}"`);
      expect(forced.status).toBe(204);
      expect((await t.api.get(`${base()}/${b.id}`).set(t.admin)).status).toBe(404);
      const c = (await t.api.get(base()).query({ name: "cycle-c" }).set(t.admin)).body.data[0];
      expect(c.fallbacks).toEqual([]);
      expect(c.version).toBe(2);
    });

    it("answers 404 for another organization's alias", async () => {
      const other = await seedOrganization(t, "aliases-other");
      const admin = bearer(other.tokens.admin);
      const theirs = await t.api.post(`/v1/organizations/${other.org.id}/model-aliases`).set(admin).send({ name: "theirs", provider: "openai", model: "m" });
      expect(theirs.status).toBe(201);
      expect((await t.api.get(`${base()}/${theirs.body.id}`).set(t.admin)).status).toBe(404);
      expect((await t.api.get(`/v1/organizations/${other.org.id}/model-aliases/${theirs.body.id}`).set(t.admin)).status).toBe(404);
      expect((await t.api.delete(`${base()}/${theirs.body.id}`).set(t.admin)).status).toBe(404);
    });

    it("audits create, update and delete without secrets", async () => {
      const res = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ limit: 200 }).set(t.admin);
      const events = res.body.data.filter((e: { target_type: string }) => e.target_type === "model_alias");
      const actions = events.map((e: { action: string }) => e.action);
      expect(actions).toContain("model_alias.create");
      expect(actions).toContain("model_alias.update");
      expect(actions).toContain("model_alias.delete");
      const deleted = events.find((e: { action: string }) => e.action === "model_alias.delete");
      expect(deleted.details).toMatchObject({ name: "cycle-b", forced: true });
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
      const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
      expect(verify.body.valid).toBe(true);
    });
  });
}
