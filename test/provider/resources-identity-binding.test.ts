// keyplane_identity_binding over real gRPC against a real Keyplane service (PGlite, loopback HTTP,
// plain-http issuers not allowed): schema, validation, the planned defaults, create/update/read/
// import/delete with the ETag in private state, and the service's refusals as diagnostics at the
// attribute they concern.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Unknown, type ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { bearer } from "../support/runtime.js";
import { ProviderSession, startService, type ServiceUnderTest } from "./resources-harness.js";

const TYPE = "keyplane_identity_binding";
const BINDING_ID = /^idb_[0-9A-HJKMNP-TV-Z]{26}$/;
const GITHUB = "https://token.actions.githubusercontent.com";
let s: ServiceUnderTest;
let kp: ProviderSession;

const etag = (priv: Buffer) => JSON.parse(priv.toString()).etag as string;
const config = (extra: ObjectValue = {}): ObjectValue => ({
  name: "deploy-main",
  issuer: GITHUB,
  audience: "keyplane",
  subject: "repo:acme/support-bot:ref:refs/heads/main",
  claims: { repository_owner: "acme" },
  ...extra,
});

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
  it("declares the documented attributes, none of them sensitive", async () => {
    const res = await kp.schema();
    const attrs = Object.fromEntries((res.resource_schemas[TYPE].block.attributes as any[]).map((a) => [a.name, a]));
    expect(Object.keys(attrs).sort()).toEqual(
      [
        "active",
        "audience",
        "claims",
        "created_at",
        "id",
        "issuer",
        "jwks_uri",
        "name",
        "organization_id",
        "project_id",
        "role",
        "subject",
        "ttl_seconds",
        "updated_at",
      ].sort(),
    );
    for (const name of ["name", "issuer", "audience", "subject"]) expect(attrs[name]).toMatchObject({ required: true });
    for (const name of ["claims", "role", "ttl_seconds", "active", "organization_id"]) expect(attrs[name]).toMatchObject({ optional: true, computed: true });
    for (const attr of Object.values<any>(attrs)) expect(attr.sensitive ?? false).toBe(false);
  });

  it("names each invalid attribute before talking to the service", async () => {
    const diags = await kp.validateResource(TYPE, {
      name: "",
      issuer: "ftp://issuer.example.com",
      audience: "key\nplane",
      subject: "x".repeat(513),
      jwks_uri: "https://user@issuer.example.com/keys",
      project_id: "web",
      role: "admin",
      ttl_seconds: 30,
      claims: { "bad claim": "x", ok: "" },
    });
    expect(diags.map((d) => [d.summary, d.path])).toEqual([
      ["Invalid project_id", ["project_id"]],
      ["Invalid name", ["name"]],
      ["Invalid issuer", ["issuer"]],
      ["Invalid jwks_uri", ["jwks_uri"]],
      ["Invalid audience", ["audience"]],
      ["Invalid subject", ["subject"]],
      ["Invalid role", ["role"]],
      ["Invalid ttl_seconds", ["ttl_seconds"]],
      ["Invalid claims", ["claims", "bad claim"]],
      ["Invalid claims", ["claims", "ok"]],
    ]);
    expect(await kp.validateResource(TYPE, config({ ttl_seconds: 3600 }))).toEqual([]);
  });

  it("plans a create with the provider's organization and the defaults", async () => {
    const plan = await kp.plan(TYPE, null, config({ claims: null }));
    expect(plan.diagnostics).toEqual([]);
    expect(plan.planned).toEqual({
      ...config(),
      id: Unknown,
      organization_id: s.org.id,
      jwks_uri: null,
      claims: {},
      role: "resolver",
      project_id: null,
      ttl_seconds: 900,
      active: true,
      created_at: Unknown,
      updated_at: Unknown,
    });
  });
});

describe("lifecycle", () => {
  let state: ObjectValue;
  let priv: Buffer;

  it("creates the binding and keeps its ETag in private state", async () => {
    const res = await kp.converge(TYPE, null, config());
    expect(res.diagnostics).toEqual([]);
    state = res.state!;
    priv = res.private;
    expect(state.id).toMatch(BINDING_ID);
    expect(state).toMatchObject({ organization_id: s.org.id, issuer: GITHUB, claims: { repository_owner: "acme" }, ttl_seconds: 900, active: true });
    expect(etag(priv)).toBe('"v1"');
    const read = await kp.read(TYPE, state, priv);
    expect(read.state).toEqual(state);
  });

  it("updates in place, replaces on a new issuer, and plans nothing once converged", async () => {
    const next = config({ ttl_seconds: 300, active: false, claims: { repository_owner: "acme", environment: "prod*" } });
    const plan = await kp.plan(TYPE, state, next, priv);
    expect(plan.requiresReplace ?? []).toEqual([]);
    const res = await kp.apply(TYPE, state, plan.planned, next, plan.private);
    expect(res.diagnostics).toEqual([]);
    expect(res.state).toMatchObject({ ttl_seconds: 300, active: false, claims: { environment: "prod*" } });
    expect(etag(res.private)).toBe('"v2"');
    state = res.state!;
    priv = res.private;
    const again = await kp.plan(TYPE, state, next, priv);
    expect(again.planned).toEqual(state);

    const moved = await kp.plan(TYPE, state, { ...next, issuer: "https://gitlab.example.com" }, priv);
    expect(moved.requiresReplace).toEqual([["issuer"]]);
  });

  it("maps the service's refusal of a plain-http issuer to the issuer attribute", async () => {
    const res = await kp.converge(TYPE, null, config({ name: "insecure", issuer: "http://issuer.example.com" }));
    expect(res.diagnostics).toMatchObject([{ severity: "ERROR", path: ["issuer"] }]);
    expect(res.diagnostics[0].detail).toContain("https");
  });

  it("says a name is taken at name", async () => {
    const dup = await kp.converge(TYPE, null, config());
    expect(dup.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Identity binding name already taken", path: ["name"] }]);
  });

  it("imports with ORG_ID/BINDING_ID or the bare ID, and refuses other forms", async () => {
    for (const id of [`${s.org.id}/${state.id}`, String(state.id)]) {
      const imported = await kp.importState(TYPE, id);
      expect(imported.diagnostics).toEqual([]);
      expect(imported.state).toEqual(state);
      expect(etag(imported.private)).toBe('"v2"');
    }
    const bad = await kp.importState(TYPE, "a/b/c");
    expect(bad.diagnostics).toMatchObject([{ summary: "Invalid import ID" }]);
    expect(bad.diagnostics[0].detail).toContain("ORG_ID/BINDING_ID");
  });

  it("deletes it; a binding deleted out of band is dropped on refresh", async () => {
    const destroy = await kp.apply(TYPE, state, null, null, priv);
    expect(destroy.diagnostics).toEqual([]);
    expect(destroy.state).toBeNull();
    const gone = await s.t.api.get(`/v1/organizations/${s.org.id}/identity-bindings/${state.id}`).set(bearer(s.tokens.admin));
    expect(gone.status).toBe(404);
    expect((await kp.read(TYPE, state, priv)).state).toBeNull();
  });
});
