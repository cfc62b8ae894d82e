// keyplane_identity_binding through a real engine against a real Keyplane service and a local OIDC
// issuer (test/support/oidc-issuer.ts): create a binding confined to a project and exchange a
// token through it, plan no changes; update it in place (the exchange follows); an issuer change
// is a replacement; import a binding made through the API and plan no changes; destroy, which
// revokes the tokens it issued. No token is in the state, plans, `show -json`, output or logs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineCases, enginesFor } from "./support/engines.js";
import { TestOidcIssuer } from "../support/oidc-issuer.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("test/e2e/identity-binding.test.ts");

const mainTf = `
terraform {
  required_providers {
    keyplane = { source = "keyplane/keyplane" }
  }
}

variable "endpoint" { type = string }
variable "org" { type = string }
variable "token" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "issuer" { type = string }
variable "subject" {
  type    = string
  default = "system:serviceaccount:agents:*"
}
variable "ttl_seconds" {
  type    = number
  default = 300
}

provider "keyplane" {
  endpoint        = var.endpoint
  token           = var.token
  organization_id = var.org
}

resource "keyplane_project" "agents" {
  name = "agents"
}

resource "keyplane_identity_binding" "agents" {
  name        = "agents-cluster"
  issuer      = var.issuer
  audience    = "keyplane"
  subject     = var.subject
  claims      = { "kubernetes.io:namespace" = "agents" }
  project_id  = keyplane_project.agents.id
  ttl_seconds = var.ttl_seconds
}
`;

const importedTf = `
resource "keyplane_identity_binding" "ci" {
  name     = "ci-main"
  issuer   = var.issuer
  audience = "https://github.com/acme"
  subject  = "repo:acme/support-bot:ref:refs/heads/main"
  claims   = { repository_owner = "acme" }
  active   = false
}
`;

describe.skipIf(engines.length === 0).each(engineCases(engines))("keyplane_identity_binding with $version", (engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  let wd: Workdir;
  const issuer = new TestOidcIssuer();
  let secrets: string[];
  let bindingId: string;
  let projectId: string;
  const issued: string[] = [];
  let started = 0;

  const clean = () => {
    const scanned = wd.assertClean([...secrets, ...issued], [service.logText()]);
    expect(scanned).toBeGreaterThan(wd.transcript.length);
  };
  const exchange = async (sub: string) => {
    const identityToken = await issuer.sign({ aud: "keyplane", sub, "kubernetes.io:namespace": "agents" });
    secrets.push(identityToken);
    const res = await fetch(`${service.url}/v1/auth/token-exchange`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ organization_id: org.id, identity_token: identityToken }),
    });
    const body = await res.json();
    if (typeof body.token === "string") issued.push(body.token);
    return { status: res.status, body };
  };
  const whoami = (token: string) => fetch(`${service.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

  beforeAll(async () => {
    started = Date.now();
    await issuer.start();
    service = await startService("pglite", {
      KEYPLANE_ALLOW_INSECURE_ISSUERS: "1",
      KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
      KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "100000",
    });
    org = await service.seedOrganization();
    secrets = [org.tokens.admin, org.tokens.member, org.tokens.resolver];
    wd = new Workdir(engine, "identity-binding", { vars: { endpoint: service.url, org: org.id, token: org.tokens.admin, issuer: issuer.url } });
    wd.write("main.tf", mainTf);
  }, 120_000);

  afterAll(async () => {
    console.log(`[e2e] identity binding scenario on ${engine.version}: ${wd?.runs} engine runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    wd?.cleanup();
    await service?.close();
    await issuer.stop();
  });

  it("creates the binding; a workload exchanges its token through it; the next plan is empty", async () => {
    const apply = await wd.run(["apply", "-auto-approve"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain("2 added");
    const instance = wd.instance("keyplane_identity_binding", "agents")!;
    bindingId = instance.attributes.id;
    projectId = wd.instance("keyplane_project", "agents")!.attributes.id;
    expect(bindingId).toMatch(/^idb_[0-9A-Z]{26}$/);
    expect(instance.attributes).toMatchObject({
      organization_id: org.id,
      issuer: issuer.url,
      audience: "keyplane",
      subject: "system:serviceaccount:agents:*",
      claims: { "kubernetes.io:namespace": "agents" },
      role: "resolver",
      project_id: projectId,
      ttl_seconds: 300,
      active: true,
      jwks_uri: null,
    });
    expect(instance.private).toEqual({ etag: '"v1"' });

    const exchanged = await exchange("system:serviceaccount:agents:worker");
    expect(exchanged.status, JSON.stringify(exchanged.body)).toBe(200);
    expect(exchanged.body).toMatchObject({ role: "resolver", project_id: projectId, binding_id: bindingId });

    const again = await wd.run(["plan", "-detailed-exitcode"]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain("No changes");
    clean();
  }, 180_000);

  it("updates subject and ttl_seconds in place; the exchange follows; then plans no changes", async () => {
    const vars = { subject: "system:serviceaccount:agents:runner-*", ttl_seconds: "600" };
    const { plan, json } = await wd.plan("update.tfplan", [], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("# keyplane_identity_binding.agents will be updated in-place");
    expect(plan.out).toMatch(/~ ttl_seconds\s+= 300 -> 600/);
    expect(plan.out).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_identity_binding.agents").change;
    expect(change.actions).toEqual(["update"]);
    const apply = await wd.run(["apply", "update.tfplan"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(wd.instance("keyplane_identity_binding", "agents")!.private).toEqual({ etag: '"v2"' });

    expect((await exchange("system:serviceaccount:agents:worker")).body.code).toBe("subject_mismatch");
    const runner = await exchange("system:serviceaccount:agents:runner-1");
    expect(runner.status, JSON.stringify(runner.body)).toBe(200);
    const lifetime = Date.parse(runner.body.expires_at) - Date.now();
    expect(lifetime).toBeGreaterThan(500_000);

    const again = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(again.code, again.out).toBe(0);

    // The issuer is fixed after create: a new one means a new binding.
    const moved = await wd.run(["plan"], { vars: { ...vars, issuer: "https://oidc.example.com" } });
    expect(moved.code, moved.out).toBe(0);
    expect(moved.out).toMatch(/~ issuer\s+= "http:\/\/127\.0\.0\.1:\d+" -> "https:\/\/oidc\.example\.com" # forces replacement/);
    wd.write("vars.auto.tfvars", `subject = "${vars.subject}"\nttl_seconds = ${vars.ttl_seconds}\n`);
    clean();
  }, 180_000);

  it("imports a binding made through the API with ORG_ID/BINDING_ID, then plans no changes", async () => {
    const created = await org.admin.createIdentityBinding(org.id, {
      name: "ci-main",
      issuer: issuer.url,
      audience: "https://github.com/acme",
      subject: "repo:acme/support-bot:ref:refs/heads/main",
      claims: { repository_owner: "acme" },
      active: false,
    });
    wd.write("imported.tf", importedTf);
    const imported = await wd.run(["import", "keyplane_identity_binding.ci", `${org.id}/${created.body.id}`]);
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain("Import successful!");
    expect(wd.instance("keyplane_identity_binding", "ci")!.attributes).toMatchObject({
      id: created.body.id,
      organization_id: org.id,
      claims: { repository_owner: "acme" },
      ttl_seconds: 900,
      role: "resolver",
      active: false,
      project_id: null,
    });
    const plan = await wd.run(["plan", "-detailed-exitcode"]);
    expect(plan.code, plan.out).toBe(0);

    const bad = await wd.run(["import", "keyplane_identity_binding.ci", "not/an/id"]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("ORG_ID/BINDING_ID");
    clean();
  }, 180_000);

  it("destroys the bindings, which revokes the tokens they issued", async () => {
    expect(await whoami(issued.at(-1)!)).toBe(200);
    const destroy = await wd.run(["destroy", "-auto-approve"]);
    expect(destroy.code, destroy.out).toBe(0);
    expect(destroy.out).toContain("3 destroyed");
    expect(await org.admin.getIdentityBinding(org.id, bindingId)).toBeNull();
    for (const token of issued) expect(await whoami(token)).toBe(401);
    clean();
  }, 180_000);
});
