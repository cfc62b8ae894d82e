// keyplane_project, keyplane_providers and keyplane_resolved_credential through the real engine(s)
// against a real Keyplane service: a resolved key handed ephemerally to a write-only argument via an
// aliased resolver provider (and found nowhere on disk), project import and drift, and the
// diagnostics an engine user sees. Skipped loudly without an engine (KEYPLANE_REQUIRE_E2E=1 fails).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { enginesFor, type Engine } from "../e2e/support/engines.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "../e2e/support/workdir.js";

const NO_ENGINE: Engine = { bin: "", kind: "tofu", version: "no engine" };
const engines = enginesFor("test/provider/resources-engine.test.ts");

const configuration = `
terraform {
  required_providers {
    keyplane = { source = "keyplane/keyplane" }
  }
}

provider "keyplane" {}

variable "resolver_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "keyplane" {
  alias = "resolver"
  token = var.resolver_token
}

resource "keyplane_project" "app" {
  name                             = "app"
  inherit_organization_credentials = true
}

# The organization's key, resolved for the inheriting project, copied into the project's own credential.
ephemeral "keyplane_resolved_credential" "inherited" {
  provider      = keyplane.resolver
  provider_type = "openai"
  project_id    = keyplane_project.app.id
}

resource "keyplane_credential" "copy" {
  project_id         = keyplane_project.app.id
  provider_type      = "openai"
  name               = "copied"
  api_key_wo         = ephemeral.keyplane_resolved_credential.inherited.secret
  api_key_wo_version = 1
  # Once it exists, the project's resolves (the ephemeral above) return it: in use at destroy.
  force_destroy = true
}

data "keyplane_providers" "catalog" {}

output "openai_env_var" {
  value = one([for p in data.keyplane_providers.catalog.providers : p.default_env_var if p.id == "openai"])
}

output "copy_hint" {
  value = keyplane_credential.copy.key_hint
}
`;

// Without an engine the suite is still declared, as skipped: a file with no suite at all fails.
describe.skipIf(engines.length === 0).each(engines.length > 0 ? engines : [NO_ENGINE])("keyplane resources with $version", (engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  let wd: Workdir;
  const orgKey = `sk-proj-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Q")}`;

  beforeAll(async () => {
    service = await startService();
    org = await service.seedOrganization();
    await org.admin.createCredential(org.id, { provider: "openai", name: "org-openai", api_key: orgKey, is_default: true }, randomBytes(8).toString("hex"));
    wd = new Workdir(engine, "resources", {
      env: { KEYPLANE_ENDPOINT: service.url, KEYPLANE_TOKEN: org.tokens.admin, KEYPLANE_ORGANIZATION_ID: org.id },
      vars: { resolver_token: org.tokens.resolver },
    });
    wd.write("main.tf", configuration);
  }, 180_000);

  afterAll(async () => {
    if (wd) {
      try {
        wd.assertClean([orgKey, ...Object.values(org.tokens)], [service.logText()]);
      } finally {
        wd.cleanup();
      }
    }
    await service?.close();
  });

  it("hands a resolved key to a write-only argument without storing it", async () => {
    const apply = await wd.run(["apply", "-auto-approve"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain("ephemeral.keyplane_resolved_credential.inherited: Opening...");
    expect(apply.out).toContain("ephemeral.keyplane_resolved_credential.inherited: Closing...");
    expect(apply.out).toContain('openai_env_var = "OPENAI_API_KEY"');
    expect(apply.out).toContain(`copy_hint = "${keyHint(orgKey, "openai")}"`);

    // The copy now shadows the organization's key for the project.
    const project = wd.instance("keyplane_project", "app")!.attributes;
    const resolved = await org.resolver.resolve(org.id, { provider: "openai", project_id: project.id });
    expect(resolved).toMatchObject({ source: "project", secret: orgKey, credential_id: wd.instance("keyplane_credential", "copy")!.attributes.id });

    const again = await wd.run(["plan", "-detailed-exitcode"]);
    expect(again.code, again.out).toBe(0);
  }, 180_000);

  it("tells an engine user that resolving needs a resolver token", async () => {
    const res = await wd.run(["plan"], { vars: { resolver_token: org.tokens.admin } });
    expect(res.code).toBe(1);
    expect(res.out).toContain("Error: Keyplane token not allowed");
    expect(res.out).toContain("resolver token");
  }, 120_000);

  it("imports a project and then plans no changes", async () => {
    const id = wd.instance("keyplane_project", "app")!.attributes.id;
    const removed = await wd.run(["state", "rm", "keyplane_project.app"], { plainFlags: true });
    expect(removed.code, removed.out).toBe(0);
    const imported = await wd.run(["import", "keyplane_project.app", `${org.id}/${id}`]);
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain("Import successful!");
    expect(wd.instance("keyplane_project", "app")).toMatchObject({
      attributes: { id, organization_id: org.id, name: "app", inherit_organization_credentials: true },
      private: { etag: '"v1"' },
    });
    const plan = await wd.run(["plan", "-detailed-exitcode"]);
    expect(plan.code, plan.out).toBe(0);
  }, 180_000);

  it("shows a change made outside as drift and reverts it", async () => {
    const id = wd.instance("keyplane_project", "app")!.attributes.id;
    const patched = await service.runtime.api
      .patch(`/v1/organizations/${org.id}/projects/${id}`)
      .set({ Authorization: `Bearer ${org.tokens.admin}` })
      .send({ description: "edited by hand", inherit_organization_credentials: false });
    expect(patched.status).toBe(200);
    const plan = await wd.run(["plan"]);
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain('- description                      = "edited by hand" -> null');
    expect(plan.out).toContain("~ inherit_organization_credentials = false -> true");
    const apply = await wd.run(["apply", "-auto-approve"]);
    expect(apply.code, apply.out).toBe(0);
    expect(wd.instance("keyplane_project", "app")!.private).toEqual({ etag: '"v3"' });
  }, 180_000);

  it("destroys the copy, then the project", async () => {
    const destroy = await wd.run(["destroy", "-auto-approve"]);
    expect(destroy.code, destroy.out).toBe(0);
    expect(destroy.out).toContain("Destroy complete! Resources: 2 destroyed.");
    expect((await org.admin.listCredentials(org.id)).map((c) => c.name)).toEqual(["org-openai"]);
  }, 180_000);
});
