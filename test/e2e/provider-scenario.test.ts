// The whole provider in one configuration, through a real engine: a project with its own
// credential, the catalog and credential-list data sources, and an ephemeral resolved credential
// (read with a resolver token through an aliased provider) feeding the write-only api_key_wo of a
// credential in a second organization. The key travels from organization A to B without ever
// being stored: no secret in state, plans, CLI output, provider log or service log.
// Runs on PostgreSQL when TEST_DATABASE_URL is set (the credential suites use PGlite), so the
// engine path is exercised on both drivers.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { engineCases, enginesFor } from "./support/engines.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("test/e2e/provider-scenario.test.ts");
const kind = process.env.TEST_DATABASE_URL ? "pg" : "pglite";

const scenarioTf = `
terraform {
  required_providers {
    keyplane = { source = "keyplane/keyplane" }
  }
}

variable "endpoint" { type = string }
variable "org_a" { type = string }
variable "org_b" { type = string }
variable "admin_a" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "resolver_a" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "admin_b" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "openai_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "keyplane" {
  endpoint        = var.endpoint
  token           = var.admin_a
  organization_id = var.org_a
}

# Only a resolver token may receive secrets.
provider "keyplane" {
  alias           = "resolver"
  endpoint        = var.endpoint
  token           = var.resolver_a
  organization_id = var.org_a
}

provider "keyplane" {
  alias           = "org_b"
  endpoint        = var.endpoint
  token           = var.admin_b
  organization_id = var.org_b
}

resource "keyplane_project" "web" {
  name        = "web"
  description = "Customer-facing web app"
}

resource "keyplane_credential" "web_openai" {
  project_id         = keyplane_project.web.id
  provider_type      = "openai"
  name               = "web"
  api_key_wo         = var.openai_key
  api_key_wo_version = 1
  is_default         = true
  # Resolved by the ephemeral resource below (and by the test): in use, so destroying it needs this.
  force_destroy = true
}

data "keyplane_providers" "catalog" {}

data "keyplane_credentials" "web" {
  project_id = keyplane_project.web.id
  depends_on = [keyplane_credential.web_openai]
}

ephemeral "keyplane_resolved_credential" "web" {
  provider      = keyplane.resolver
  provider_type = "openai"
  project_id    = keyplane_project.web.id
  depends_on    = [keyplane_credential.web_openai]
}

resource "keyplane_credential" "mirror" {
  provider           = keyplane.org_b
  provider_type      = "openai"
  name               = "mirrored-from-a"
  api_key_wo         = ephemeral.keyplane_resolved_credential.web.secret
  api_key_wo_version = 1
  force_destroy      = true
}

output "catalog_ids" {
  value = data.keyplane_providers.catalog.providers[*].id
}

output "web_hints" {
  value = data.keyplane_credentials.web.credentials[*].key_hint
}

output "mirror_hint" {
  value = keyplane_credential.mirror.key_hint
}
`;

describe.skipIf(engines.length === 0).each(engineCases(engines))(`provider scenario (${kind}) with $version`, (engine) => {
  let service: E2eService;
  let orgA: SeededOrganization;
  let orgB: SeededOrganization;
  let wd: Workdir;
  let secrets: string[];
  const key = `sk-proj-${randomBytes(30).toString("hex")}`;
  let started = 0;

  beforeAll(async () => {
    started = Date.now();
    service = await startService(kind);
    orgA = await service.seedOrganization();
    orgB = await service.seedOrganization();
    secrets = [key, ...Object.values(orgA.tokens), ...Object.values(orgB.tokens)];
    wd = new Workdir(engine, "scenario", {
      vars: {
        endpoint: service.url,
        org_a: orgA.id,
        org_b: orgB.id,
        admin_a: orgA.tokens.admin,
        resolver_a: orgA.tokens.resolver,
        admin_b: orgB.tokens.admin,
        openai_key: key,
      },
    });
    wd.write("main.tf", scenarioTf);
  }, 120_000);

  afterAll(async () => {
    console.log(`[e2e] provider scenario (${kind}) on ${engine.version}: ${wd?.runs} engine runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    wd?.cleanup();
    await service?.close();
  });

  it("applies: project, credential, data sources, and an ephemeral key copied into another organization", async () => {
    const { plan, json } = await wd.plan("scenario.tfplan");
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("Plan: 3 to add, 0 to change, 0 to destroy.");
    // The mirror's key is only resolved once the project exists: its hint is not known yet.
    const mirror = json.resource_changes.find((c: any) => c.address === "keyplane_credential.mirror").change;
    expect(mirror.after_unknown.key_hint).toBe(true);
    const web = json.resource_changes.find((c: any) => c.address === "keyplane_credential.web_openai").change;
    expect(web.after.key_hint).toBe(keyHint(key, "openai"));

    const apply = await wd.run(["apply", "scenario.tfplan"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain("Apply complete! Resources: 3 added, 0 changed, 0 destroyed.");

    const outputs = JSON.parse((await wd.run(["output", "-json"], { plainFlags: true })).stdout);
    expect(outputs.catalog_ids.value).toEqual(expect.arrayContaining(["openai", "anthropic", "bedrock"]));
    expect(outputs.web_hints.value).toEqual([keyHint(key, "openai")]);
    expect(outputs.mirror_hint.value).toBe(keyHint(key, "openai"));

    const projectId = wd.instance("keyplane_project", "web")!.attributes.id;
    expect((await orgA.resolver.resolve(orgA.id, { provider: "openai", project_id: projectId })).secret).toBe(key);
    // The value reached organization B through the ephemeral resource only.
    const resolvedB = await orgB.resolver.resolve(orgB.id, { provider: "openai" });
    expect(resolvedB).toMatchObject({ secret: key, source: "organization", key_version: 1 });
    expect(wd.instance("keyplane_credential", "mirror")!.attributes.api_key_wo).toBeNull();
    wd.assertClean(secrets, [service.logText()]);
  }, 180_000);

  it("plans no changes on the next run (ephemeral values and write-only arguments cause no drift)", async () => {
    const plan = await wd.run(["plan", "-detailed-exitcode"]);
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("No changes");
    wd.assertClean(secrets, [service.logText()]);
  }, 120_000);

  it("destroys everything, credentials before their project", async () => {
    const credentials = ["web_openai", "mirror"].map((name) => wd.instance("keyplane_credential", name)!.attributes.id as string);
    const destroy = await wd.run(["destroy", "-auto-approve"]);
    expect(destroy.code, destroy.out).toBe(0);
    expect(destroy.out).toContain("Destroy complete! Resources: 3 destroyed.");
    expect(await orgA.admin.getCredential(orgA.id, credentials[0])).toBeNull();
    expect(await orgB.admin.getCredential(orgB.id, credentials[1])).toBeNull();
    expect(await orgA.admin.listCredentials(orgA.id)).toEqual([]);
    wd.assertClean(secrets, [service.logText()]);
  }, 120_000);
});
