// keyplane_model_alias and data "keyplane_model_aliases" over real gRPC against a real Keyplane
// service (PGlite, loopback HTTP): schema, validation, plans, params round trip, create/switch/
// read/import/delete, If-Match through private state, and the service's errors as diagnostics.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Unknown, type ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { paramToApi } from "../../cdktf-provider/src/resources/model-alias.js";
import { bearer } from "../support/runtime.js";
import { ProviderSession, startService, type ServiceUnderTest } from "./resources-harness.js";

const TYPE = "keyplane_model_alias";
const ALIAS_ID = /^mal_[0-9A-HJKMNP-TV-Z]{26}$/;
let s: ServiceUnderTest;
let kp: ProviderSession;

const etag = (priv: Buffer) => JSON.parse(priv.toString()).etag as string;
const openaiKey = (tail: string) => `sk-proj-${"A".repeat(40)}${tail}`;
const anthropicKey = (tail: string) => `sk-ant-api03-${"B".repeat(40)}${tail}`;

async function credential(provider: string, name: string, apiKey: string): Promise<string> {
  const res = await s.t.api.post(`/v1/organizations/${s.org.id}/credentials`).set(bearer(s.tokens.admin)).send({ provider, name, api_key: apiKey });
  expect(res.status).toBe(201);
  return res.body.id;
}

beforeAll(async () => {
  s = await startService();
  const started = await ProviderSession.start(s, { endpoint: s.endpoint, token: s.tokens.admin, organization_id: s.org.id });
  expect(started.diagnostics).toEqual([]);
  kp = started.session;
});

afterAll(async () => {
  kp?.close();
  await s?.close();
});

describe("schema and validation", () => {
  it("declares the documented attributes, provider_type in place of the reserved word provider", async () => {
    const res = await kp.schema();
    expect(res.diagnostics).toEqual([]);
    const attrs = Object.fromEntries((res.resource_schemas[TYPE].block.attributes as any[]).map((a) => [a.name, a]));
    expect(Object.keys(attrs).sort()).toEqual(
      [
        "active",
        "created_at",
        "credential_id",
        "description",
        "environment",
        "fallbacks",
        "id",
        "model",
        "name",
        "organization_id",
        "owner",
        "params",
        "project_id",
        "provider_type",
        "updated_at",
      ].sort(),
    );
    for (const name of ["name", "provider_type", "model"]) expect(attrs[name]).toMatchObject({ required: true });
    for (const name of ["params", "fallbacks", "active", "organization_id"]) expect(attrs[name]).toMatchObject({ optional: true, computed: true });
    for (const attr of Object.values<any>(attrs)) expect(attr.sensitive ?? false).toBe(false);
    const data = Object.fromEntries((res.data_source_schemas.keyplane_model_aliases.block.attributes as any[]).map((a) => [a.name, a]));
    expect(Object.keys(data).sort()).toEqual(["aliases", "name", "organization_id", "project_id", "provider_type"]);
  });

  it("names each invalid attribute before talking to the service", async () => {
    const diags = await kp.validateResource(TYPE, {
      name: "Chat Default",
      provider_type: "nope",
      model: "",
      credential_id: "key-1",
      project_id: "web",
      environment: "-prod",
      params: { "bad name": "1", ok: "x".repeat(1025) },
      fallbacks: ["chat-default", "UPPER", "b", "b", "c", "d"],
      owner: "",
    });
    expect(diags.map((d) => [d.summary, d.path])).toEqual([
      ["Invalid project_id", ["project_id"]],
      ["Invalid name", ["name"]],
      ["Invalid provider_type", ["provider_type"]],
      ["Invalid model", ["model"]],
      ["Invalid credential_id", ["credential_id"]],
      ["Invalid environment", ["environment"]],
      ["Invalid owner", ["owner"]],
      ["Invalid params", ["params", "bad name"]],
      ["Invalid params", ["params", "ok"]],
      ["Invalid fallbacks", ["fallbacks"]],
      ["Invalid fallbacks", ["fallbacks", 1]],
      ["Invalid fallbacks", ["fallbacks", 3]],
    ]);
    const self = await kp.validateResource(TYPE, { name: "chat", provider_type: "openai", model: "gpt-5", fallbacks: ["chat"] });
    expect(self.map((d) => [d.detail, d.path])).toEqual([["An alias cannot fall back to itself.", ["fallbacks", 0]]]);
    expect(await kp.validateResource(TYPE, { name: "chat-default", provider_type: "openai", model: "gpt-5", params: { temperature: "0.2" } })).toEqual([]);
  });

  it("sends canonical numbers and booleans typed, everything else as strings", () => {
    expect(["0.2", "2048", "-1", "1e-7", "true", "false"].map(paramToApi)).toEqual([0.2, 2048, -1, 1e-7, true, false]);
    // Not written the way they read back: kept as strings so the state never differs from the configuration.
    expect(["0.20", "007", "1E3", "+1", "True", "high", "", " 1"].map(paramToApi)).toEqual(["0.20", "007", "1E3", "+1", "True", "high", "", " 1"]);
  });
});

describe("plans", () => {
  it("plans a create with the provider's organization and the defaults", async () => {
    const plan = await kp.plan(TYPE, null, { name: "chat", provider_type: "openai", model: "gpt-5" });
    expect(plan.diagnostics).toEqual([]);
    expect(plan.planned).toEqual({
      id: Unknown,
      organization_id: s.org.id,
      project_id: null,
      name: "chat",
      provider_type: "openai",
      model: "gpt-5",
      credential_id: null,
      environment: null,
      params: {},
      fallbacks: [],
      active: true,
      description: null,
      owner: null,
      created_at: Unknown,
      updated_at: Unknown,
    });
  });

  it("needs an organization from the block or the provider", async () => {
    const started = await ProviderSession.start(s, { endpoint: s.endpoint, token: s.tokens.admin });
    try {
      const plan = await started.session.plan(TYPE, null, { name: "chat", provider_type: "openai", model: "gpt-5" });
      expect(plan.diagnostics).toMatchObject([{ severity: "ERROR", summary: "No organization", path: ["organization_id"] }]);
    } finally {
      started.session.close();
    }
  });
});

describe("lifecycle", () => {
  let state: ObjectValue;
  let priv: Buffer;
  let openaiCred: string;
  let anthropicCred: string;
  const config = (extra: ObjectValue = {}): ObjectValue => ({
    name: "chat",
    provider_type: "openai",
    model: "gpt-5",
    credential_id: openaiCred,
    params: { temperature: "0.2", max_tokens: "2048", stream: "true", style: "0.20" },
    fallbacks: ["chat-backup"],
    description: "Default chat model",
    ...extra,
  });

  beforeAll(async () => {
    openaiCred = await credential("openai", "openai-main", openaiKey("a1b2"));
    anthropicCred = await credential("anthropic", "anthropic-main", anthropicKey("c3d4"));
    expect((await kp.converge(TYPE, null, { name: "chat-backup", provider_type: "openai", model: "gpt-5-mini" })).diagnostics).toEqual([]);
  });

  it("creates the alias with typed params and keeps its ETag in private state", async () => {
    const res = await kp.converge(TYPE, null, config());
    expect(res.diagnostics).toEqual([]);
    state = res.state!;
    priv = res.private;
    expect(state.id).toMatch(ALIAS_ID);
    expect(state).toMatchObject({ organization_id: s.org.id, provider_type: "openai", credential_id: openaiCred, active: true, fallbacks: ["chat-backup"] });
    expect(state.params).toEqual({ temperature: "0.2", max_tokens: "2048", stream: "true", style: "0.20" });
    expect(etag(priv)).toBe('"v1"');
    const api = await s.t.api.get(`/v1/organizations/${s.org.id}/model-aliases/${state.id}`).set(bearer(s.tokens.admin));
    expect(api.body.params).toEqual({ temperature: 0.2, max_tokens: 2048, stream: true, style: "0.20" });
  });

  it("plans no change for the same configuration, also after a refresh", async () => {
    const read = await kp.read(TYPE, state, priv);
    expect(read.state).toEqual(state);
    const plan = await kp.plan(TYPE, read.state!, config(), read.private);
    expect(plan.planned).toEqual(state);
    expect(plan.requiresReplace).toEqual([]);
  });

  it("switches provider, model and pin in place, sending the pin with the provider", async () => {
    const next = config({ provider_type: "anthropic", model: "claude-sonnet-4-5", credential_id: anthropicCred });
    const plan = await kp.plan(TYPE, state, next, priv);
    expect(plan.diagnostics).toEqual([]);
    expect(plan.requiresReplace).toEqual([]);
    expect(plan.planned).toMatchObject({
      id: state.id,
      provider_type: "anthropic",
      model: "claude-sonnet-4-5",
      credential_id: anthropicCred,
      updated_at: Unknown,
    });
    const applied = await kp.apply(TYPE, state, plan.planned, next, plan.private);
    expect(applied.diagnostics).toEqual([]);
    expect(applied.state).toMatchObject({ provider_type: "anthropic", model: "claude-sonnet-4-5", credential_id: anthropicCred });
    expect(etag(applied.private)).toBe('"v2"');
    state = applied.state!;
    priv = applied.private;
  });

  it("names credential_id when the pin does not fit the provider", async () => {
    const next = config({ provider_type: "openai", model: "gpt-5", credential_id: anthropicCred });
    const res = await kp.converge(TYPE, state, next, priv);
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", path: ["credential_id"] }]);
    expect(res.state).toEqual(state);
  });

  it("refuses to overwrite a change made between plan and apply (If-Match → 412)", async () => {
    const plan = await kp.plan(TYPE, state, config({ provider_type: "anthropic", model: "claude-opus-4", credential_id: anthropicCred }), priv);
    const patched = await s.t.api
      .patch(`/v1/organizations/${s.org.id}/model-aliases/${state.id}`)
      .set(bearer(s.tokens.admin))
      .send({ description: "edited by hand" });
    expect(patched.status).toBe(200);
    const applied = await kp.apply(TYPE, state, plan.planned, config(), plan.private);
    expect(applied.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Changed outside Terraform" }]);
    expect(applied.state).toEqual(state);
    const read = await kp.read(TYPE, state, priv);
    expect(read.state).toMatchObject({ description: "edited by hand", model: "claude-sonnet-4-5" });
    expect(etag(read.private)).toBe('"v3"');
    state = read.state!;
    priv = read.private;
  });

  it("plans a replacement when the project changes", async () => {
    const plan = await kp.plan(TYPE, state, config({ project_id: "prj_01J0000000000000000000000Z" }), priv);
    expect(plan.requiresReplace).toEqual([["project_id"]]);
  });

  it("imports by ORG_ID/ALIAS_ID and by ALIAS_ID alone, with no diff afterwards", async () => {
    const imported = await kp.importState(TYPE, `${s.org.id}/${state.id}`);
    expect(imported.diagnostics).toEqual([]);
    expect(imported.state).toEqual(state);
    expect(etag(imported.private)).toBe('"v3"');
    const bare = await kp.importState(TYPE, String(state.id));
    expect(bare.state?.id).toBe(state.id);
    const bad = await kp.importState(TYPE, "a/b/c");
    expect(bad.diagnostics).toMatchObject([{ summary: "Invalid import ID" }]);
    expect(bad.diagnostics[0].detail).toContain("ORG_ID/ALIAS_ID");
    const missing = await kp.importState(TYPE, `${s.org.id}/mal_01J0000000000000000000000Z`);
    expect(missing.diagnostics).toMatchObject([{ summary: "Cannot import non-existent model alias" }]);
  });

  it("lists aliases through the data source, filtered, params as strings", async () => {
    const all = await kp.readData("keyplane_model_aliases", {});
    expect(all.diagnostics).toEqual([]);
    expect((all.state!.aliases as ObjectValue[]).map((a) => a.name).sort()).toEqual(["chat", "chat-backup"]);
    const anthropic = await kp.readData("keyplane_model_aliases", { provider_type: "anthropic" });
    expect(anthropic.state!.organization_id).toBe(s.org.id);
    expect(anthropic.state!.aliases).toEqual([
      {
        id: state.id,
        project_id: null,
        name: "chat",
        provider_type: "anthropic",
        model: "claude-sonnet-4-5",
        credential_id: anthropicCred,
        environment: null,
        params: state.params,
        fallbacks: ["chat-backup"],
        active: true,
        description: "edited by hand",
        owner: null,
        created_at: state.created_at,
        updated_at: state.updated_at,
      },
    ]);
    const byName = await kp.readData("keyplane_model_aliases", { name: "chat-backup", project_id: "none" });
    expect((byName.state!.aliases as ObjectValue[]).map((a) => a.name)).toEqual(["chat-backup"]);
  });

  it("explains that a fallback of another alias cannot be destroyed", async () => {
    const backup = (await kp.readData("keyplane_model_aliases", { name: "chat-backup" })).state!.aliases as ObjectValue[];
    const backupState = (await kp.importState(TYPE, String(backup[0].id))).state!;
    const destroy = await kp.apply(TYPE, backupState, null, null);
    expect(destroy.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Model alias is a fallback of another alias" }]);
    expect(destroy.state).toEqual(backupState);
  });

  it("deletes, and a read of a deleted alias removes it from state", async () => {
    const destroy = await kp.apply(TYPE, state, null, null, priv);
    expect(destroy.diagnostics).toEqual([]);
    expect(destroy.state).toBeNull();
    const read = await kp.read(TYPE, state, priv);
    expect(read.diagnostics).toEqual([]);
    expect(read.state).toBeNull();
  });
});

describe("service errors as diagnostics", () => {
  it("points a taken name at the name attribute", async () => {
    const dup = await kp.converge(TYPE, null, { name: "chat-backup", provider_type: "openai", model: "gpt-5" });
    expect(dup.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Model alias name already taken", path: ["name"] }]);
  });

  it("maps a fallback the service refuses (body.fallbacks) to the attribute", async () => {
    const res = await kp.converge(TYPE, null, { name: "lonely", provider_type: "openai", model: "gpt-5", fallbacks: ["does-not-exist"] });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", path: expect.arrayContaining(["fallbacks"]) }]);
  });

  it("names the role a member token lacks", async () => {
    const started = await ProviderSession.start(s, { endpoint: s.endpoint, token: s.tokens.member, organization_id: s.org.id });
    try {
      const res = await started.session.converge(TYPE, null, { name: "by-member", provider_type: "openai", model: "gpt-5" });
      expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Keyplane token not allowed" }]);
      expect(res.diagnostics[0].detail).toContain("admin");
    } finally {
      started.session.close();
    }
  });
});
