// Bad configurations through a real engine: each gives an error that names the attribute, and the
// engine shows the offending line. A wrong key prefix (api_key_wo), an unknown provider type
// (provider_type), no token (token), an unreachable endpoint (endpoint), and a credential changed
// between plan and apply (412 → "changed outside Terraform since the last refresh").
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineCases, enginesFor } from "./support/engines.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("test/e2e/credential-diagnostics.test.ts");

const header = (provider: string) => `
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
variable "key" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "keyplane" {
${provider}
}
`;

const fullProvider = `  endpoint        = var.endpoint
  token           = var.token
  organization_id = var.org`;

const credential = (name: string, providerType: string, extra = "") => `
resource "keyplane_credential" "${name}" {
  provider_type      = "${providerType}"
  name               = "${name}"
  api_key_wo         = var.key
  api_key_wo_version = 1
${extra}}
`;

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Engine output with box-drawing margins removed and whitespace collapsed, for sentence checks. */
const flat = (out: string) => out.replace(/[│╷╵]/g, " ").replace(/\s+/g, " ");

describe.skipIf(engines.length === 0).each(engineCases(engines))("diagnostics with $version", (engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  const key = `sk-proj-${randomBytes(30).toString("hex")}`;
  const dirs: Workdir[] = [];
  let secrets: string[];
  let started = 0;

  const workdir = (name: string, tf: string) => {
    const wd = new Workdir(engine, name, { vars: { endpoint: service.url, org: org.id, token: org.tokens.admin, key } });
    wd.write("main.tf", tf);
    dirs.push(wd);
    return wd;
  };

  beforeAll(async () => {
    started = Date.now();
    service = await startService();
    org = await service.seedOrganization();
    secrets = [key, org.tokens.admin, org.tokens.member, org.tokens.resolver];
  }, 120_000);

  afterAll(async () => {
    const runs = dirs.reduce((n, d) => n + d.runs, 0);
    console.log(`[e2e] diagnostics on ${engine.version}: ${runs} engine runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const wd of dirs) wd.cleanup();
    await service?.close();
  });

  it("names api_key_wo for a key with the wrong prefix and provider_type for an unknown provider", async () => {
    // The key comes from a variable, so it is checked while planning, with the service's own rule.
    const wd = workdir("validation", header(fullProvider) + credential("wrong_prefix", "anthropic"));
    const plan = await wd.run(["plan"]);
    expect(plan.code).toBe(1);
    expect(plan.out).toContain("Error: Invalid api_key_wo");
    expect(plan.out).toContain("with keyplane_credential.wrong_prefix");
    expect(plan.out).toMatch(/\d+:\s+api_key_wo\s+= var\.key/);
    expect(flat(plan.out)).toMatch(/Anthropic keys? starts? with "sk-ant-"/);

    // A literal provider type is checked against the catalog while validating.
    wd.write("main.tf", header(fullProvider) + credential("typo", "openia"));
    const typo = await wd.run(["plan"]);
    expect(typo.code).toBe(1);
    expect(typo.out).toContain("Error: Unknown provider type");
    expect(typo.out).toContain("with keyplane_credential.typo");
    expect(typo.out).toMatch(/\d+:\s+provider_type\s+= "openia"/);
    expect(flat(typo.out)).toContain('"openia" is not a provider of the Keyplane catalog');
    wd.assertClean(secrets, [service.logText()]);
  }, 60_000);

  it("names token when no token is set anywhere", async () => {
    const wd = workdir("token", header(`  endpoint        = var.endpoint\n  organization_id = var.org`) + credential("openai", "openai"));
    const plan = await wd.run(["plan"]);
    expect(plan.code).toBe(1);
    expect(plan.out).toContain("Error: Missing Keyplane token");
    expect(flat(plan.out)).toContain("Set token in the provider block");
    expect(flat(plan.out)).toContain("KEYPLANE_TOKEN");
    wd.assertClean(secrets, [service.logText()]);
  }, 60_000);

  it("names endpoint when the service cannot be reached", async () => {
    const port = await closedPort();
    const wd = workdir("endpoint", header(fullProvider) + credential("openai", "openai"));
    const plan = await wd.run(["plan"], { vars: { endpoint: `http://127.0.0.1:${port}` } });
    expect(plan.code).toBe(1);
    expect(plan.out).toContain("Error: Keyplane service unreachable");
    expect(plan.out).toMatch(/\d+:\s+endpoint\s+= var\.endpoint/);
    expect(flat(plan.out)).toContain(`Cannot reach the Keyplane service at http://127.0.0.1:${port} (ECONNREFUSED)`);
    expect(flat(plan.out)).toContain("Set endpoint in the keyplane provider block");
    wd.assertClean(secrets, [service.logText()]);
  }, 60_000);

  it("turns a 412 on a saved plan into 'changed outside Terraform since the last refresh; run plan again'", async () => {
    const wd = workdir("conflict", header(fullProvider) + credential("openai", "openai", "  description = var.description\n"));
    wd.write("vars.tf", 'variable "description" {\n  type    = string\n  default = "first"\n}\n');
    const created = await wd.run(["apply", "-auto-approve"]);
    expect(created.code, created.out).toBe(0);
    const id = wd.instance("keyplane_credential", "openai")!.attributes.id as string;

    const plan = await wd.run(["plan", "-out=change.tfplan"], { vars: { description: "second" } });
    expect(plan.code, plan.out).toBe(0);
    // Someone edits the credential between plan and apply.
    const got = await org.admin.getCredential(org.id, id);
    await org.admin.updateCredential(org.id, id, { owner: "someone-else" }, got!.etag);

    const apply = await wd.run(["apply", "change.tfplan"], { vars: { description: "second" } });
    expect(apply.code).toBe(1);
    expect(apply.out).toContain("Error: Credential changed outside Terraform");
    expect(flat(apply.out)).toContain("was changed outside Terraform since the last refresh");
    expect(flat(apply.out)).toContain("Run plan again");
    expect((await org.admin.getCredential(org.id, id))!.body.description).toBe("first"); // nothing was written

    // A fresh plan sees the outside edit and applies cleanly.
    const retry = await wd.run(["apply", "-auto-approve"], { vars: { description: "second" } });
    expect(retry.code, retry.out).toBe(0);
    expect(retry.out).toMatch(/- owner\s+= "someone-else" -> null/);
    expect((await org.admin.getCredential(org.id, id))!.body).toMatchObject({ description: "second", owner: null });

    const destroy = await wd.run(["destroy", "-auto-approve"], { vars: { description: "second" } });
    expect(destroy.code, destroy.out).toBe(0);
    expect(await org.admin.getCredential(org.id, id)).toBeNull();
    wd.assertClean(secrets, [service.logText()]);
  }, 120_000);
});
