// keyplane_project over real gRPC against a real Keyplane service (PGlite, loopback HTTP): plan
// defaults, create/read/update/import/delete, If-Match through private state, and diagnostics.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Unknown, type ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { bearer } from "../support/runtime.js";
import { createToken, ProviderSession, startService, type ServiceUnderTest } from "./resources-harness.js";

const TYPE = "keyplane_project";
let s: ServiceUnderTest;
let kp: ProviderSession;
const sessions: ProviderSession[] = [];

async function session(config: Parameters<typeof ProviderSession.start>[1]) {
  const started = await ProviderSession.start(s, config);
  sessions.push(started.session);
  expect(started.diagnostics).toEqual([]);
  return started.session;
}

const etag = (priv: Buffer) => JSON.parse(priv.toString()).etag as string;

beforeAll(async () => {
  s = await startService();
  kp = await session({ endpoint: s.endpoint, token: s.tokens.admin, organization_id: s.org.id });
});

afterAll(async () => {
  for (const x of sessions) x.close();
  await s?.close();
});

describe("schema and validation", () => {
  it("declares the documented attributes", async () => {
    const res = await kp.schema();
    expect(res.diagnostics).toEqual([]);
    const attrs = Object.fromEntries((res.resource_schemas[TYPE].block.attributes as any[]).map((a) => [a.name, a]));
    expect(Object.keys(attrs).sort()).toEqual(
      ["created_at", "description", "id", "inherit_organization_credentials", "name", "organization_id", "updated_at"].sort(),
    );
    expect(attrs.organization_id).toMatchObject({ optional: true, computed: true });
    expect(attrs.name).toMatchObject({ required: true });
    expect(attrs.inherit_organization_credentials).toMatchObject({ optional: true, computed: true });
    expect(attrs.id).toMatchObject({ computed: true, optional: false });
  });

  it("rejects bad names and organization ids before talking to the service", async () => {
    const diags = await kp.validateResource(TYPE, { name: "x".repeat(129), organization_id: "acme" });
    expect(diags.map((d) => [d.summary, d.path])).toEqual([
      ["Invalid name", ["name"]],
      ["Invalid organization_id", ["organization_id"]],
    ]);
    expect(await kp.validateResource(TYPE, { name: "ok", description: "fine" })).toEqual([]);
  });
});

describe("lifecycle", () => {
  let state: ObjectValue;
  let priv: Buffer;

  it("plans a create with the provider's organization and inheritance off by default", async () => {
    const plan = await kp.plan(TYPE, null, { name: "web" });
    expect(plan.diagnostics).toEqual([]);
    expect(plan.planned).toEqual({
      id: Unknown,
      organization_id: s.org.id,
      name: "web",
      description: null,
      inherit_organization_credentials: false,
      created_at: Unknown,
      updated_at: Unknown,
    });
  });

  it("needs an organization from the block or the provider", async () => {
    const noOrg = await session({ endpoint: s.endpoint, token: s.tokens.admin });
    const plan = await noOrg.plan(TYPE, null, { name: "web" });
    expect(plan.diagnostics).toMatchObject([{ severity: "ERROR", summary: "No organization", path: ["organization_id"] }]);
    expect(plan.diagnostics[0].detail).toContain("KEYPLANE_ORGANIZATION_ID");
    const explicit = await noOrg.plan(TYPE, null, { name: "web", organization_id: s.org.id });
    expect(explicit.planned?.organization_id).toBe(s.org.id);
  });

  it("creates the project and keeps its ETag in private state", async () => {
    const res = await kp.converge(TYPE, null, { name: "web", description: "Web app", inherit_organization_credentials: true });
    expect(res.diagnostics).toEqual([]);
    state = res.state!;
    priv = res.private;
    expect(state).toMatchObject({ organization_id: s.org.id, name: "web", description: "Web app", inherit_organization_credentials: true });
    expect(state.id).toMatch(/^prj_[0-9A-Z]{26}$/);
    expect(etag(priv)).toBe('"v1"');
    const api = await s.t.api.get(`/v1/organizations/${s.org.id}/projects/${state.id}`).set(bearer(s.tokens.admin));
    expect(api.body).toMatchObject({ name: "web", description: "Web app", inherit_organization_credentials: true });
    expect(state.created_at).toBe(api.body.created_at);
  });

  it("plans no change for the same configuration", async () => {
    const plan = await kp.plan(TYPE, state, { name: "web", description: "Web app", inherit_organization_credentials: true }, priv);
    expect(plan.planned).toEqual(state);
    expect(plan.requiresReplace).toEqual([]);
  });

  it("updates in place: removing an argument clears it or restores its default", async () => {
    const config = { name: "web-app" };
    const plan = await kp.plan(TYPE, state, config, priv);
    expect(plan.planned).toMatchObject({
      id: state.id,
      created_at: state.created_at,
      updated_at: Unknown,
      name: "web-app",
      description: null,
      inherit_organization_credentials: false,
    });
    expect(plan.requiresReplace).toEqual([]);
    const applied = await kp.apply(TYPE, state, plan.planned, config, plan.private);
    expect(applied.diagnostics).toEqual([]);
    expect(applied.state).toMatchObject({ id: state.id, name: "web-app", description: null, inherit_organization_credentials: false });
    expect(etag(applied.private)).toBe('"v2"');
    state = applied.state!;
    priv = applied.private;
  });

  it("refreshes changes made outside OpenTofu/Terraform, with the new ETag", async () => {
    const patched = await s.t.api
      .patch(`/v1/organizations/${s.org.id}/projects/${state.id}`)
      .set(bearer(s.tokens.admin))
      .send({ description: "edited by hand" });
    expect(patched.status).toBe(200);
    const read = await kp.read(TYPE, state, priv);
    expect(read.diagnostics).toEqual([]);
    expect(read.state).toMatchObject({ description: "edited by hand", name: "web-app" });
    expect(etag(read.private)).toBe('"v3"');
    // The next plan reverts it.
    const plan = await kp.plan(TYPE, read.state!, { name: "web-app" }, read.private);
    expect(plan.planned).toMatchObject({ description: null, updated_at: Unknown });
  });

  it("refuses to overwrite a change made between plan and apply (If-Match → 412)", async () => {
    const plan = await kp.plan(TYPE, state, { name: "web-app", description: "from terraform" }, priv);
    const applied = await kp.apply(TYPE, state, plan.planned, { name: "web-app", description: "from terraform" }, plan.private);
    expect(applied.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Changed outside Terraform" }]);
    expect(applied.diagnostics[0].detail).toContain("Run plan again");
    expect(applied.state).toEqual(state); // the prior state is kept
    const api = await s.t.api.get(`/v1/organizations/${s.org.id}/projects/${state.id}`).set(bearer(s.tokens.admin));
    expect(api.body.description).toBe("edited by hand");
  });

  it("plans a replacement when the organization changes", async () => {
    const plan = await kp.plan(TYPE, state, { name: "web-app", organization_id: "org_01J0000000000000000000000Z" }, priv);
    expect(plan.requiresReplace).toEqual([["organization_id"]]);
  });

  it("imports by ORG_ID/PROJECT_ID and by PROJECT_ID alone", async () => {
    const imported = await kp.importState(TYPE, `${s.org.id}/${state.id}`);
    expect(imported.diagnostics).toEqual([]);
    expect(imported.state).toMatchObject({ id: state.id, organization_id: s.org.id, name: "web-app", description: "edited by hand" });
    expect(etag(imported.private)).toBe('"v3"');
    const bare = await kp.importState(TYPE, String(state.id));
    expect(bare.state?.id).toBe(state.id);
  });

  it("explains import IDs that are malformed or name nothing", async () => {
    const bad = await kp.importState(TYPE, "a/b/c");
    expect(bad.diagnostics).toMatchObject([{ summary: "Invalid import ID" }]);
    expect(bad.diagnostics[0].detail).toContain("ORG_ID/PROJECT_ID");
    const missing = await kp.importState(TYPE, `${s.org.id}/prj_01J0000000000000000000000Z`);
    expect(missing.diagnostics).toMatchObject([{ summary: "Cannot import non-existent project" }]);
  });

  it("refuses to delete a project that still holds credentials, with a clear diagnostic", async () => {
    const cred = await s.t.api
      .post(`/v1/organizations/${s.org.id}/credentials`)
      .set(bearer(s.tokens.admin))
      .send({ provider: "openai", name: "web-openai", project_id: state.id, api_key: `sk-proj-${"A".repeat(40)}wxyz` });
    expect(cred.status).toBe(201);
    const destroy = await kp.apply(TYPE, state, null, null, priv);
    expect(destroy.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Project still holds credentials" }]);
    expect(destroy.diagnostics[0].detail).toContain("1 credential");
    expect(destroy.diagnostics[0].detail).toContain("keyplane_credential");
    expect(destroy.state).toEqual(state);

    const removed = await s.t.api.delete(`/v1/organizations/${s.org.id}/credentials/${cred.body.id}?force=true`).set(bearer(s.tokens.admin));
    expect(removed.status).toBe(204);
    const again = await kp.apply(TYPE, state, null, null, priv);
    expect(again.diagnostics).toEqual([]);
    expect(again.state).toBeNull();
  });

  it("removes a project deleted outside OpenTofu/Terraform from state on read", async () => {
    const read = await kp.read(TYPE, state, priv);
    expect(read.diagnostics).toEqual([]);
    expect(read.state).toBeNull();
  });
});

describe("service errors as diagnostics", () => {
  it("points a taken name at the name attribute", async () => {
    expect((await kp.converge(TYPE, null, { name: "taken" })).diagnostics).toEqual([]);
    const dup = await kp.converge(TYPE, null, { name: "taken" });
    expect(dup.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Project name already taken", path: ["name"] }]);
  });

  it("maps the service's field errors (body.name) to the attribute path", async () => {
    // Straight to apply, as if validation had been skipped: the service is the last line.
    const planned = {
      id: Unknown,
      organization_id: s.org.id,
      name: "n".repeat(200),
      description: null,
      inherit_organization_credentials: false,
      created_at: Unknown,
      updated_at: Unknown,
    };
    const res = await kp.apply(TYPE, null, planned, { name: "n".repeat(200) });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Invalid name", path: ["name"] }]);
    expect(res.diagnostics[0].detail).toMatch(/^Could not create project .*: the Keyplane service rejected name: /);
  });

  it("names the role a member token lacks", async () => {
    const member = await session({ endpoint: s.endpoint, token: s.tokens.member, organization_id: s.org.id });
    const res = await member.converge(TYPE, null, { name: "by-member" });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Keyplane token not allowed" }]);
    expect(res.diagnostics[0].detail).toContain("admin");
  });

  it("explains a token revoked after the provider was configured", async () => {
    const extra = await createToken(s, "admin");
    const revoked = await session({ endpoint: s.endpoint, token: extra.token, organization_id: s.org.id });
    const gone = await s.t.api.delete(`/v1/organizations/${s.org.id}/tokens/${extra.id}`).set(bearer(s.tokens.admin));
    expect(gone.status).toBe(204);
    const res = await revoked.converge(TYPE, null, { name: "revoked" });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Keyplane token rejected" }]);
    expect(res.diagnostics[0].detail).toContain("KEYPLANE_TOKEN");
  });

  it("explains a service that went away after the provider was configured", async () => {
    const other = await startService();
    const stranded = await ProviderSession.start(other, { endpoint: other.endpoint, token: other.tokens.admin, organization_id: other.org.id });
    sessions.push(stranded.session);
    expect(stranded.diagnostics).toEqual([]);
    await other.close();
    const res = await stranded.session.converge(TYPE, null, { name: "lost" });
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Keyplane service unreachable" }]);
    expect(res.diagnostics[0].detail).toContain(other.endpoint);
    expect(res.diagnostics[0].detail).toContain("KEYPLANE_ENDPOINT");
  }, 60_000);

  it("never logs the token", () => {
    for (const token of Object.values(s.tokens)) expect(s.providerLogs.join("\n")).not.toContain(token);
  });
});
