// Resolution by model alias: where the alias is found (project, organization, inheritance), pins,
// environment narrowing, fallbacks and their chain, and the organization's aliases_only policy.
import { describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEYS = {
  orgOpenai: "sk-proj-AliasOrgOpenai00000000000000000000001",
  orgStaging: "sk-proj-AliasOrgStaging0000000000000000000002",
  projectOpenai: "sk-proj-AliasProjOpenai0000000000000000000003",
  pinned: "sk-proj-AliasPinned000000000000000000000000004",
  anthropic: "sk-ant-api03-AliasAnthropic00000000000000000005",
};

for (const kind of testDatabases()) {
  describe(`resolve by model alias (${kind})`, () => {
    const t = useApiFixture(kind);
    const org = () => `/v1/organizations/${t.orgId}`;
    const resolve = (body: Record<string, unknown>) => t.api.post(`${org()}/resolve`).set(t.resolver).send(body);
    const post = async (path: string, body: Record<string, unknown>) => {
      const res = await t.api.post(`${org()}${path}`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; version: number };
    };
    const patch = async (path: string, body: Record<string, unknown>) => {
      const res = await t.api.patch(`${org()}${path}`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body as { id: string; version: number };
    };

    let inheriting: string;
    let isolated: string;
    let pinnedCredential: string;
    let orgCredential: string;

    it("sets up credentials, projects and aliases", async () => {
      inheriting = (await post("/projects", { name: "inheriting", inherit_organization_credentials: true })).id;
      isolated = (await post("/projects", { name: "isolated" })).id;
      orgCredential = (await post("/credentials", { provider: "openai", name: "org", api_key: KEYS.orgOpenai })).id;
      await post("/credentials", { provider: "openai", name: "org-staging", api_key: KEYS.orgStaging, environment: "staging" });
      await post("/credentials", { provider: "openai", name: "project", api_key: KEYS.projectOpenai, project_id: isolated });
      pinnedCredential = (await post("/credentials", { provider: "openai", name: "pinned", api_key: KEYS.pinned })).id;

      await post("/model-aliases", { name: "chat", provider: "openai", model: "gpt-5", params: { temperature: 0.2 } });
      await post("/model-aliases", { name: "chat", provider: "openai", model: "gpt-5-mini", project_id: isolated });
      await post("/model-aliases", { name: "pinned", provider: "openai", model: "gpt-5", credential_id: pinnedCredential });
      await post("/model-aliases", { name: "staging-chat", provider: "openai", model: "gpt-5", environment: "staging" });
      await post("/model-aliases", { name: "claude", provider: "anthropic", model: "claude-sonnet-4-5" });
      await post("/model-aliases", { name: "claude-then-chat", provider: "anthropic", model: "claude-sonnet-4-5", fallbacks: ["claude", "chat"] });
      await post("/model-aliases", { name: "off", provider: "openai", model: "gpt-5", active: false });
    });

    it("answers with the alias, its model and params, and the chain", async () => {
      const res = await resolve({ alias: "chat" });
      expect(res.status).toBe(200);
      parseResponse("resolveCredential", 200, res.body);
      expect(res.body).toMatchObject({
        secret: KEYS.pinned, // the most recently created organization credential of openai, production
        source: "organization",
        provider: "openai",
        alias: "chat",
        model: "gpt-5",
        params: { temperature: 0.2 },
        alias_chain: ["chat"],
      });
      expect(res.body.alias_id).toMatch(/^mal_/);
    });

    const table: [name: string, body: Record<string, unknown>, expected: Record<string, unknown> | number][] = [
      ["project alias wins in its project", { alias: "chat", project_id: "isolated" }, { secret: KEYS.projectOpenai, source: "project", model: "gpt-5-mini" }],
      ["organization alias from an inheriting project", { alias: "chat", project_id: "inheriting" }, { model: "gpt-5", source: "organization" }],
      ["organization alias not seen without inheritance", { alias: "pinned", project_id: "isolated" }, 404],
      ["pinned credential wins over the usual order", { alias: "pinned" }, { secret: KEYS.pinned, credential_id: "pinned" }],
      ["alias environment narrows", { alias: "staging-chat" }, { secret: KEYS.orgStaging }],
      ["request environment narrows an alias without one", { alias: "chat", environment: "staging" }, { secret: KEYS.orgStaging }],
      ["alias environment beats the request's", { alias: "staging-chat", environment: "production" }, { secret: KEYS.orgStaging }],
      [
        "fallbacks in order, chain ends with the answer",
        { alias: "claude-then-chat" },
        { alias: "chat", provider: "openai", alias_chain: ["claude-then-chat", "claude", "chat"] },
      ],
      ["inactive alias is not found", { alias: "off" }, 404],
      ["unknown alias is not found", { alias: "nope" }, 404],
    ];
    for (const [name, body, expected] of table) {
      it(name, async () => {
        const projectId = body.project_id === "isolated" ? isolated : body.project_id === "inheriting" ? inheriting : undefined;
        const res = await resolve({ ...body, project_id: projectId });
        if (typeof expected === "number") {
          expect(res.status).toBe(expected);
          expect(res.body.code).toBe("no_credential");
          parseResponse("resolveCredential", 404, res.body);
          return;
        }
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        const want = { ...expected };
        if (want.credential_id === "pinned") want.credential_id = pinnedCredential;
        expect(res.body).toMatchObject(want);
      });
    }

    it("an inactive pin falls through to the alias's provider, then to fallbacks", async () => {
      // The alias pins it, so deactivating it needs force (the in-use guard).
      await t.api.post(`${org()}/credentials/${pinnedCredential}/deactivate?force=true`).set(t.admin).send();
      const res = await resolve({ alias: "pinned", environment: "production" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ secret: KEYS.orgOpenai, credential_id: orgCredential, alias_chain: ["pinned"] });

      const anthropicOnly = await post("/model-aliases", { name: "claude-pinless", provider: "anthropic", model: "m", fallbacks: ["pinned"] });
      const via = await resolve({ alias: "claude-pinless", environment: "production" });
      expect(via.body).toMatchObject({ alias: "pinned", alias_chain: ["claude-pinless", "pinned"], secret: KEYS.orgOpenai });
      await t.api.delete(`${org()}/model-aliases/${anthropicOnly.id}`).set(t.admin);
    });

    it("no_credential lists what the chain checked and the audit tells alias and chain, never the secret", async () => {
      const miss = await resolve({ alias: "claude" });
      expect(miss.status).toBe(404);
      expect(miss.body.code).toBe("no_credential");
      expect(miss.body.checked[0]).toEqual({ source: "organization" });
      const hit = await resolve({ alias: "claude-then-chat" });
      const audit = await t.api.get(`${org()}/audit-events`).query({ action: "credential.resolve", limit: 200 }).set(t.admin);
      const success = audit.body.data.find((e: { request_id: string }) => e.request_id === hit.headers["x-request-id"]);
      expect(success).toMatchObject({
        outcome: "success",
        details: { alias: "claude-then-chat", alias_chain: ["claude-then-chat", "claude", "chat"], provider: "openai", model: "gpt-5" },
      });
      const failure = audit.body.data.find((e: { request_id: string }) => e.request_id === miss.headers["x-request-id"]);
      expect(failure).toMatchObject({ outcome: "failure", details: { alias: "claude", alias_chain: ["claude"], reason: "no_credential" } });
      for (const key of Object.values(KEYS)) expect(JSON.stringify(audit.body)).not.toContain(key);
    });

    it("an alias change reaches the next resolve (cache dropped on change)", async () => {
      expect((await resolve({ alias: "claude" })).status).toBe(404);
      await post("/credentials", { provider: "anthropic", name: "claude", api_key: KEYS.anthropic });
      expect((await resolve({ alias: "claude" })).body.secret).toBe(KEYS.anthropic);
      const list = await t.api.get(`${org()}/model-aliases`).query({ name: "claude" }).set(t.admin);
      await patch(`/model-aliases/${list.body.data[0].id}`, { model: "claude-opus-4" });
      expect((await resolve({ alias: "claude" })).body.model).toBe("claude-opus-4");
      await patch(`/model-aliases/${list.body.data[0].id}`, { active: false });
      expect((await resolve({ alias: "claude" })).status).toBe(404);
      // Inactive aliases are skipped as fallbacks.
      await post("/model-aliases", { name: "mistral-then", provider: "mistral", model: "m", fallbacks: ["claude", "chat"] });
      expect((await resolve({ alias: "mistral-then" })).body.alias_chain).toEqual(["mistral-then", "chat"]);
    });

    it("needs exactly one of provider and alias (422 at body)", async () => {
      for (const body of [{}, { provider: "openai", alias: "chat" }]) {
        const res = await resolve(body);
        expect(res.status).toBe(422);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["body"]);
      }
    });

    it("resolve_policy aliases_only: bare provider is 403 alias_required (audited as denied); environment exports only aliased providers", async () => {
      const env = async () => (await t.api.get(`${org()}/environment`).set(t.resolver)).body.variables as Record<string, string>;
      expect(Object.keys(await env())).toEqual(expect.arrayContaining(["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]));
      const claude = (await t.api.get(`${org()}/model-aliases`).query({ name: "claude-then-chat" }).set(t.admin)).body.data[0];
      await t.api.delete(`${org()}/model-aliases/${claude.id}`).set(t.admin);
      expect((await t.api.patch(org()).set(t.platform).send({ resolve_policy: "aliases_only" })).status).toBe(200);

      const bare = await resolve({ provider: "openai" });
      expect(bare.status).toBe(403);
      expect(bare.body.code).toBe("alias_required");
      expect((await resolve({ alias: "chat" })).status).toBe(200);
      const audit = await t.api.get(`${org()}/audit-events`).query({ action: "credential.resolve", limit: 50 }).set(t.admin);
      const denied = audit.body.data.find((e: { request_id: string }) => e.request_id === bare.headers["x-request-id"]);
      expect(denied).toMatchObject({ outcome: "denied", details: { provider: "openai", reason: "alias_required" } });

      // The only active anthropic aliases are gone or inactive: anthropic is no longer exported.
      const variables = await env();
      expect(variables.OPENAI_API_KEY).toBeDefined();
      expect(variables.ANTHROPIC_API_KEY).toBeUndefined();
      // An isolated project sees its own aliases only.
      const isolatedEnv = await t.api.get(`${org()}/environment`).query({ project_id: isolated }).set(t.resolver);
      expect(Object.keys(isolatedEnv.body.variables)).toEqual(["OPENAI_API_KEY"]);
      await t.api.patch(org()).set(t.platform).send({ resolve_policy: "any" });
      expect((await resolve({ provider: "openai" })).status).toBe(200);
    });
  });
}
