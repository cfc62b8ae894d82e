// data "keyplane_credentials" and data "keyplane_providers" over real gRPC against a real Keyplane
// service: filters, element shape, hints only (no secret in any byte the provider sends back).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { bearer } from "../support/runtime.js";
import { ProviderSession, startService, type ServiceUnderTest } from "./resources-harness.js";

let s: ServiceUnderTest;
let kp: ProviderSession;
const sessions: ProviderSession[] = [];
const secrets: string[] = [];
const ids: Record<string, string> = {};
let projectId: string;

async function session(token: string, organizationId: string | null = null) {
  const started = await ProviderSession.start(s, { endpoint: s.endpoint, token, organization_id: organizationId });
  sessions.push(started.session);
  expect(started.diagnostics).toEqual([]);
  return started.session;
}

async function createCredential(name: string, body: Record<string, unknown>) {
  const res = await s.t.api
    .post(`/v1/organizations/${s.org.id}/credentials`)
    .set(bearer(s.tokens.admin))
    .send({ name, ...body });
  if (res.status !== 201) throw new Error(`${res.status} ${JSON.stringify(res.body)}`);
  ids[name] = res.body.id;
}

beforeAll(async () => {
  s = await startService();
  kp = await session(s.tokens.admin, s.org.id);
  const project = await s.t.api.post(`/v1/organizations/${s.org.id}/projects`).set(bearer(s.tokens.admin)).send({ name: "web" });
  projectId = project.body.id;
  const openai = `sk-proj-${"Q".repeat(36)}a1b2`;
  const anthropic = `sk-ant-api03-${"Z".repeat(30)}x9Qz`;
  const dev = `sk-${"D".repeat(30)}dev1`;
  const bedrockSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  secrets.push(openai, anthropic, dev, bedrockSecret);
  await createCredential("org-openai", { provider: "openai", api_key: openai, is_default: true, rotation_period_days: 90 });
  await createCredential("web-anthropic", { provider: "anthropic", api_key: anthropic, project_id: projectId });
  await createCredential("dev-openai", { provider: "openai", api_key: dev, environment: "development", active: false });
  await createCredential("aws", {
    provider: "bedrock",
    fields: { access_key_id: "AKIAIOSFODNN7EXAMPLE", secret_access_key: bedrockSecret },
    settings: { region: "eu-west-1" },
  });
});

afterAll(async () => {
  for (const x of sessions) x.close();
  await s?.close();
});

const names = (state: ObjectValue | undefined) => (state?.credentials as ObjectValue[]).map((c) => c.name).sort();

describe("data keyplane_credentials", () => {
  it("lists every credential of the provider's organization with metadata and hints", async () => {
    const res = await kp.readData("keyplane_credentials", {});
    expect(res.diagnostics).toEqual([]);
    expect(res.state?.organization_id).toBe(s.org.id);
    expect(names(res.state)).toEqual(["aws", "dev-openai", "org-openai", "web-anthropic"]);
    // Newest first, as the attribute's description says.
    expect((res.state?.credentials as ObjectValue[]).map((c) => c.name)).toEqual(["aws", "dev-openai", "web-anthropic", "org-openai"]);
    const openai = (res.state?.credentials as ObjectValue[]).find((c) => c.name === "org-openai")!;
    expect(openai).toEqual({
      id: ids["org-openai"],
      name: "org-openai",
      provider_type: "openai",
      project_id: null,
      type: "api_token",
      category: "llm_provider",
      key_hint: "sk-proj-…a1b2",
      key_version: 1,
      env_var: "OPENAI_API_KEY",
      api_base: "https://api.openai.com/v1",
      environment: "production",
      is_default: true,
      active: true,
      rotation_due_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      rotated_at: null,
    });
    const web = (res.state?.credentials as ObjectValue[]).find((c) => c.name === "web-anthropic")!;
    expect(web).toMatchObject({ project_id: projectId, key_hint: "sk-ant-api03-…x9Qz", env_var: "ANTHROPIC_API_KEY" });
    const aws = (res.state?.credentials as ObjectValue[]).find((c) => c.name === "aws")!;
    expect(aws).toMatchObject({ type: "aws", provider_type: "bedrock", api_base: null });
  });

  it("filters like the list API", async () => {
    const read = async (filters: ObjectValue) => {
      const res = await kp.readData("keyplane_credentials", filters);
      expect(res.diagnostics).toEqual([]);
      return names(res.state);
    };
    expect(await read({ provider_type: "openai" })).toEqual(["dev-openai", "org-openai"]);
    expect(await read({ project_id: projectId })).toEqual(["web-anthropic"]);
    expect(await read({ project_id: "none" })).toEqual(["aws", "dev-openai", "org-openai"]);
    expect(await read({ environment: "development" })).toEqual(["dev-openai"]);
    expect(await read({ active: false })).toEqual(["dev-openai"]);
    expect(await read({ active: true, provider_type: "openai" })).toEqual(["org-openai"]);
    expect(await read({ rotation_due: true })).toEqual([]);
    expect(await read({ rotation_due: false })).toEqual(["aws", "dev-openai", "org-openai", "web-anthropic"]);
    expect(await read({ provider_type: "mistral" })).toEqual([]);
  });

  it("reads an explicit organization_id over the provider's default", async () => {
    const noDefault = await session(s.tokens.member);
    const res = await noDefault.readData("keyplane_credentials", { organization_id: s.org.id, provider_type: "anthropic" });
    expect(res.diagnostics).toEqual([]);
    expect(names(res.state)).toEqual(["web-anthropic"]);
    const missing = await noDefault.readData("keyplane_credentials", {});
    expect(missing.diagnostics).toMatchObject([{ severity: "ERROR", summary: "No organization", path: ["organization_id"] }]);
  });

  it("maps the service's query errors to the filter attribute", async () => {
    const res = await kp.readData("keyplane_credentials", { provider_type: "no-such-provider" });
    expect(res.diagnostics.length).toBeGreaterThan(0);
    expect(res.diagnostics[0]).toMatchObject({ severity: "ERROR", summary: "Invalid provider_type", path: ["provider_type"] });
    expect(res.diagnostics[0].detail).toContain("the Keyplane service rejected provider_type");
  });

  it("explains that a resolver token cannot list", async () => {
    const resolver = await session(s.tokens.resolver, s.org.id);
    const res = await resolver.readData("keyplane_credentials", {});
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Keyplane token not allowed" }]);
    expect(res.diagnostics[0].detail).toContain("admin or member token");
  });
});

describe("data keyplane_providers", () => {
  it("returns the catalog", async () => {
    const res = await kp.readData("keyplane_providers", {});
    expect(res.diagnostics).toEqual([]);
    const providers = res.state?.providers as ObjectValue[];
    const byId = Object.fromEntries(providers.map((p) => [p.id, p]));
    expect(Object.keys(byId)).toEqual(expect.arrayContaining(["openai", "anthropic", "gemini", "bedrock", "azure_openai", "vertex", "custom"]));
    expect(byId.openai).toEqual({
      id: "openai",
      display_name: "OpenAI",
      key_prefix: "sk-",
      credential_type: "api_token",
      default_env_var: "OPENAI_API_KEY",
      default_api_base: "https://api.openai.com/v1",
      settings_allowed: ["openai_organization", "openai_project"],
    });
    expect(byId.bedrock).toMatchObject({ credential_type: "aws", key_prefix: null, default_api_base: null, settings_allowed: ["region"] });
    expect(byId.azure_openai.settings_allowed).toEqual(expect.arrayContaining(["endpoint", "api_version"]));
  });
});

it("never sends a secret back, nor logs one", () => {
  const wire = Buffer.concat(kp.wire);
  expect(wire.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    expect(wire.includes(Buffer.from(secret))).toBe(false);
    expect(s.providerLogs.join("\n")).not.toContain(secret);
  }
});
