// ephemeral "keyplane_resolved_credential" over real gRPC against a real Keyplane service: the
// resolution order, multi-field secrets, previous versions, and diagnostics that say what was
// checked. Secrets come back only in the ephemeral result and never reach the provider's logs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../support/runtime.js";
import { ProviderSession, startService, type ServiceUnderTest } from "./resources-harness.js";

const TYPE = "keyplane_resolved_credential";
let s: ServiceUnderTest;
let resolver: ProviderSession;
const sessions: ProviderSession[] = [];
const ids: Record<string, string> = {};
const projects: Record<string, string> = {};

const OPENAI_V1 = `sk-proj-${"O".repeat(36)}one1`;
const OPENAI_V2 = `sk-proj-${"T".repeat(36)}two2`;
const ANTHROPIC = `sk-ant-api03-${"P".repeat(30)}prj3`;
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

async function session(token: string, organizationId: string | null = s.org.id) {
  const started = await ProviderSession.start(s, { endpoint: s.endpoint, token, organization_id: organizationId });
  sessions.push(started.session);
  expect(started.diagnostics).toEqual([]);
  return started.session;
}

async function post(path: string, body: object) {
  const res = await s.t.api.post(`/v1/organizations/${s.org.id}${path}`).set(bearer(s.tokens.admin)).send(body);
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

beforeAll(async () => {
  s = await startService();
  resolver = await session(s.tokens.resolver);
  projects.inheriting = (await post("/projects", { name: "inheriting", inherit_organization_credentials: true })).id;
  projects.isolated = (await post("/projects", { name: "isolated" })).id;
  ids.openai = (await post("/credentials", { provider: "openai", name: "org-openai", api_key: OPENAI_V1, settings: { openai_organization: "org-acme" } })).id;
  ids.anthropic = (await post("/credentials", { provider: "anthropic", name: "prj-anthropic", api_key: ANTHROPIC, project_id: projects.inheriting })).id;
  ids.aws = (
    await post("/credentials", {
      provider: "bedrock",
      name: "aws",
      fields: { access_key_id: "AKIAIOSFODNN7EXAMPLE", secret_access_key: AWS_SECRET },
      settings: { region: "eu-west-1" },
    })
  ).id;
});

afterAll(async () => {
  for (const x of sessions) x.close();
  await s?.close();
});

describe("validation", () => {
  it("accepts only current and previous as version", async () => {
    const diags = await resolver.validateEphemeral(TYPE, { provider_type: "openai", version: "latest" });
    expect(diags).toMatchObject([{ severity: "ERROR", summary: "Invalid version", path: ["version"] }]);
    expect(await resolver.validateEphemeral(TYPE, { provider_type: "openai", version: "previous" })).toEqual([]);
  });
});

describe("resolution", () => {
  it("resolves the organization credential with its metadata", async () => {
    const res = await resolver.openEphemeral(TYPE, { provider_type: "openai" });
    expect(res.diagnostics).toEqual([]);
    expect(res.result).toEqual({
      organization_id: s.org.id,
      provider_type: "openai",
      project_id: null,
      environment: null,
      version: null,
      secret: OPENAI_V1,
      fields: null,
      source: "organization",
      credential_id: ids.openai,
      key_hint: "sk-proj-…one1",
      key_version: 1,
      env_var: "OPENAI_API_KEY",
      api_base: "https://api.openai.com/v1",
      settings: { openai_organization: "org-acme" },
    });
  });

  it("follows project → organization for an inheriting project", async () => {
    const own = await resolver.openEphemeral(TYPE, { provider_type: "anthropic", project_id: projects.inheriting });
    expect(own.result).toMatchObject({ source: "project", secret: ANTHROPIC, credential_id: ids.anthropic });
    const inherited = await resolver.openEphemeral(TYPE, { provider_type: "openai", project_id: projects.inheriting });
    expect(inherited.result).toMatchObject({ source: "organization", secret: OPENAI_V1 });
  });

  it("says what was checked when nothing resolves", async () => {
    const res = await resolver.openEphemeral(TYPE, { provider_type: "openai", project_id: projects.isolated, environment: "production" });
    expect(res.result).toBeUndefined();
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "No credential to resolve", path: ["provider_type"] }]);
    const detail = res.diagnostics[0].detail;
    expect(detail).toContain(`project ${projects.isolated}`);
    expect(detail).toContain("environment production");
    // The project does not inherit, so the organization's credentials were not checked.
    expect(detail).toContain("checked: project, platform.");
  });

  it("returns the fields of a multi-field credential", async () => {
    const res = await resolver.openEphemeral(TYPE, { provider_type: "bedrock" });
    expect(res.diagnostics).toEqual([]);
    expect(res.result).toMatchObject({
      secret: null,
      fields: { access_key_id: "AKIAIOSFODNN7EXAMPLE", secret_access_key: AWS_SECRET },
      settings: { region: "eu-west-1" },
      env_var: "AWS_ACCESS_KEY_ID",
      api_base: null,
    });
  });

  it("resolves the previous key within the rotation grace period", async () => {
    await post(`/credentials/${ids.openai}/rotate`, { api_key: OPENAI_V2, grace_seconds: 3600 });
    const current = await resolver.openEphemeral(TYPE, { provider_type: "openai", version: "current" });
    expect(current.result).toMatchObject({ secret: OPENAI_V2, key_version: 2, key_hint: "sk-proj-…two2" });
    const previous = await resolver.openEphemeral(TYPE, { provider_type: "openai", version: "previous" });
    expect(previous.diagnostics).toEqual([]);
    expect(previous.result).toMatchObject({ secret: OPENAI_V1, key_version: 1, version: "previous" });
  });

  it("points at version when there is no previous key", async () => {
    const res = await resolver.openEphemeral(TYPE, { provider_type: "anthropic", project_id: projects.inheriting, version: "previous" });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "No previous key to resolve", path: ["version"] }]);
  });
});

describe("diagnostics", () => {
  it("explains that resolving needs a resolver token, e.g. on an aliased provider", async () => {
    const admin = await session(s.tokens.admin);
    const res = await admin.openEphemeral(TYPE, { provider_type: "openai" });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Keyplane token not allowed" }]);
    expect(res.diagnostics[0].detail).toContain("resolver token");
    expect(res.diagnostics[0].detail).toContain("alias");
  });

  it("maps a provider the catalog does not know to provider_type", async () => {
    const res = await resolver.openEphemeral(TYPE, { provider_type: "no-such-ai" });
    expect(res.diagnostics[0]).toMatchObject({ severity: "ERROR", summary: "Invalid provider_type", path: ["provider_type"] });
  });

  it("needs an organization from the block or the provider", async () => {
    const bare = await session(s.tokens.resolver, null);
    const res = await bare.openEphemeral(TYPE, { provider_type: "openai" });
    expect(res.diagnostics).toMatchObject([{ summary: "No organization", path: ["organization_id"] }]);
    const explicit = await bare.openEphemeral(TYPE, { provider_type: "openai", organization_id: s.org.id });
    expect(explicit.result?.secret).toBe(OPENAI_V2);
  });

  it("never logs a resolved secret", () => {
    const logs = s.providerLogs.join("\n");
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [OPENAI_V1, OPENAI_V2, ANTHROPIC, AWS_SECRET]) expect(logs).not.toContain(secret);
  });
});
