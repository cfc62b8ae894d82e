// keyplane_credential through a real engine against a real Keyplane service: create, a rotation
// planned with hints only, drift from outside Terraform (deactivation, renaming, rotation), import,
// a move of api_base (a rotation with the key, or an error without one), destroy (deactivate, then delete). After every step no secret — API keys, tokens — is in the
// state, backups, saved plans (raw and unpacked), `show -json`, CLI output, provider log or service log.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { engineCases, enginesFor } from "./support/engines.js";
import { zipEntries } from "./support/secrets.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("test/e2e/credential.test.ts");

/** An OpenAI project key: 48+ characters, so the hint shows the last 4. */
export const openaiKey = () => `sk-proj-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Q")}`;
const anthropicKey = () => `sk-ant-api03-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Z")}`;

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
variable "openai_key" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "key_version" {
  type    = number
  default = 1
}
variable "api_base" {
  type    = string
  default = null
}

provider "keyplane" {
  endpoint        = var.endpoint
  token           = var.token
  organization_id = var.org
}

resource "keyplane_credential" "openai" {
  provider_type        = "openai"
  name                 = "primary"
  api_key_wo           = var.openai_key
  api_key_wo_version   = var.key_version
  settings             = { openai_organization = "org-acme" }
  owner                = "platform-team"
  description          = "Production OpenAI key"
  is_default           = true
  rotation_period_days = 90
  api_base             = var.api_base
  # Resolved by this test just before it is destroyed: past the service's in-use guard (the
  # refusal without it is tested in test/provider/credential.test.ts).
  force_destroy = true
}

output "hint" {
  value = keyplane_credential.openai.key_hint
}
`;

const importedTf = `
resource "keyplane_credential" "imported" {
  provider_type = "anthropic"
  name          = "legacy"
  environment   = "staging"
}
`;

const movedTf = `
variable "anthropic_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "keyplane_credential" "imported" {
  organization_id    = "org_00000000000000000000000000"
  provider_type      = "anthropic"
  name               = "legacy"
  environment        = "staging"
  api_key_wo         = var.anthropic_key
  api_key_wo_version = 1
}
`;

const hintOf = (key: string) => keyHint(key, "openai");
const flat = (out: string) => out.replace(/[│╷╵]/g, " ").replace(/\s+/g, " ");

describe.skipIf(engines.length === 0).each(engineCases(engines))("keyplane_credential with $version", (engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  let wd: Workdir;
  const keyA = openaiKey();
  const keyB = openaiKey();
  const keyC = openaiKey();
  const keyD = anthropicKey();
  let secrets: string[];
  let credentialId: string;
  let importedId: string;
  let started = 0;

  const clean = () => {
    const scanned = wd.assertClean(secrets, [service.logText()]);
    expect(scanned).toBeGreaterThan(wd.transcript.length);
  };
  const current = async (id: string) => (await org.admin.getCredential(org.id, id))?.body;
  const resolved = async () => (await org.resolver.resolve(org.id, { provider: "openai" })).secret;

  beforeAll(async () => {
    started = Date.now();
    service = await startService();
    org = await service.seedOrganization();
    secrets = [keyA, keyB, keyC, keyD, org.tokens.admin, org.tokens.member, org.tokens.resolver];
    wd = new Workdir(engine, "credential", {
      vars: { endpoint: service.url, org: org.id, token: org.tokens.admin, openai_key: keyA },
    });
    wd.write("main.tf", mainTf);
  }, 120_000);

  afterAll(async () => {
    console.log(`[e2e] credential scenario on ${engine.version}: ${wd?.runs} engine runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    wd?.cleanup();
    await service?.close();
  });

  it("plans a create with the key hint only, applies it, and plans no changes afterwards", async () => {
    const { plan, json } = await wd.plan("create.tfplan");
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("# keyplane_credential.openai will be created");
    expect(plan.out).toMatch(new RegExp(`\\+ key_hint\\s+= "${hintOf(keyA)}"`));
    expect(plan.out).toMatch(/\+ key_version\s+= 1/);
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect(change.actions).toEqual(["create"]);
    expect(change.after).toMatchObject({ key_hint: hintOf(keyA), key_version: 1, api_key_wo: null, active: true, environment: "production" });

    // The scan unpacks saved plans: make sure it sees the entries that could hold values.
    const entries = zipEntries(readFileSync(join(wd.dir, "create.tfplan"))).map((e) => e.name);
    expect(entries).toEqual(expect.arrayContaining(["tfplan", "tfstate"]));

    const apply = await wd.run(["apply", "create.tfplan"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain(`hint = "${hintOf(keyA)}"`);

    const instance = wd.instance("keyplane_credential", "openai")!;
    credentialId = instance.attributes.id;
    expect(credentialId).toMatch(/^cred_[0-9A-Z]{26}$/);
    expect(instance.attributes).toMatchObject({ api_key_wo: null, fields_wo: null, key_version: 1, organization_id: org.id, type: "api_token" });
    // Private state: the ETag and the pushed key_version, nothing else.
    expect(instance.private).toEqual({ v: 1, etag: '"v1"', key_version: 1 });
    expect(await current(credentialId)).toMatchObject({ key_hint: hintOf(keyA), key_version: 1, active: true, is_default: true });
    expect(await resolved()).toBe(keyA);

    const again = await wd.run(["plan", "-detailed-exitcode"]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain("No changes");
    clean();
  }, 120_000);

  it("plans a rotation as old hint -> new hint, and applies it", async () => {
    const vars = { openai_key: keyB, key_version: "2" };
    const { plan, json } = await wd.plan("rotate.tfplan", [], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("# keyplane_credential.openai will be updated in-place");
    expect(plan.out).toMatch(new RegExp(`~ key_hint\\s+= "${hintOf(keyA)}" -> "${hintOf(keyB)}"`));
    expect(plan.out).toMatch(/~ key_version\s+= 1 -> 2/);
    expect(plan.out).toMatch(/~ api_key_wo_version\s+= 1 -> 2/);
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect(change.actions).toEqual(["update"]);
    expect(change.before.key_hint).toBe(hintOf(keyA));
    expect(change.after.key_hint).toBe(hintOf(keyB));
    expect(change.after.key_version).toBe(2);

    const apply = await wd.run(["apply", "rotate.tfplan"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(await current(credentialId)).toMatchObject({ key_hint: hintOf(keyB), key_version: 2 });
    expect(await resolved()).toBe(keyB);
    expect(wd.instance("keyplane_credential", "openai")!.private).toMatchObject({ key_version: 2 });
    clean();
  }, 120_000);

  it("reports deactivation and renaming outside Terraform as drift (exit code 2) and restores them", async () => {
    const vars = { openai_key: keyB, key_version: "2" };
    const got = await org.admin.getCredential(org.id, credentialId);
    const renamed = await org.admin.updateCredential(org.id, credentialId, { name: "renamed-by-hand" }, got!.etag);
    // An operator who knows the credential was resolved minutes ago overrides the in-use guard.
    await org.admin.setCredentialActive(org.id, credentialId, false, renamed.etag, undefined, { force: true });

    const plan = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(plan.code, plan.out).toBe(2);
    expect(plan.out).toMatch(/~ active\s+= false -> true/);
    expect(plan.out).toMatch(/~ name\s+= "renamed-by-hand" -> "primary"/);
    expect(plan.out).not.toContain("key_hint"); // no rotation proposed for plain drift

    const apply = await wd.run(["apply", "-auto-approve"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(await current(credentialId)).toMatchObject({ name: "primary", active: true, key_version: 2 });
    // Reactivation goes through the activate action, so the audit log says so.
    expect((await service.auditActions(org, credentialId)).slice(-2)).toEqual(["credential.update", "credential.activate"]);
    clean();
  }, 120_000);

  it("detects a rotation made outside Terraform, warns why, and pushes the configured key back", async () => {
    const vars = { openai_key: keyB, key_version: "2" };
    const got = await org.admin.getCredential(org.id, credentialId);
    await org.admin.rotateCredential(org.id, credentialId, { api_key: keyC }, got!.etag);
    expect(await resolved()).toBe(keyC);

    const { plan, json } = await wd.plan("oob.tfplan", [], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("Warning: Credential rotated outside Terraform");
    expect(plan.out.replace(/\s+│?\s*/g, " ")).toContain("key_version 3");
    expect(plan.out).toMatch(/pushes the configured\s+(│\s+)?write-only api_key_wo/);
    expect(plan.out).toMatch(new RegExp(`~ key_hint\\s+= "${hintOf(keyC)}" -> "${hintOf(keyB)}"`));
    expect(plan.out).toMatch(/~ key_version\s+= 3 -> 4/);
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect([change.before.key_version, change.after.key_version]).toEqual([3, 4]);

    const apply = await wd.run(["apply", "oob.tfplan"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(await current(credentialId)).toMatchObject({ key_hint: hintOf(keyB), key_version: 4 });
    expect(await resolved()).toBe(keyB);
    const again = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(again.code, again.out).toBe(0);
    clean();
  }, 120_000);

  it("imports a credential created through the API with ORG_ID/CREDENTIAL_ID", async () => {
    const vars = { openai_key: keyB, key_version: "2" };
    const created = await org.admin.createCredential(org.id, { provider: "anthropic", name: "legacy", environment: "staging", api_key: keyD }, "e2e-import-1");
    importedId = created.body.id;
    wd.write("imported.tf", importedTf);

    const imported = await wd.run(["import", "keyplane_credential.imported", `${org.id}/${importedId}`], { vars });
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain("Import successful!");
    const instance = wd.instance("keyplane_credential", "imported")!;
    expect(instance.attributes).toMatchObject({
      id: importedId,
      organization_id: org.id,
      provider_type: "anthropic",
      key_hint: keyHint(keyD, "anthropic"),
      key_version: 1,
      api_key_wo: null,
      api_key_wo_version: null,
    });
    expect(instance.private).toEqual({ v: 1, etag: '"v1"', key_version: 1 });

    // Configuration and remote object agree; no secret is configured, so none is pushed.
    const plan = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(plan.code, plan.out).toBe(0);

    // Moving it to another organization is a replacement (which needs the secret), not an update.
    wd.write("imported.tf", movedTf);
    const move = await wd.run(["plan"], { vars: { ...vars, anthropic_key: keyD } });
    expect(move.code, move.out).toBe(0);
    expect(move.out).toContain("# keyplane_credential.imported must be replaced");
    expect(move.out).toMatch(/~ organization_id\s+= "org_\w+" -> "org_0+" # forces replacement/);
    wd.write("imported.tf", importedTf);

    const bad = await wd.run(["import", "keyplane_credential.imported", "not-an-import-id"], { vars });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("ORG_ID/CREDENTIAL_ID");
    clean();
  }, 120_000);

  it("moves api_base by a rotation with the configured key; without a key the plan names api_base", async () => {
    const gateway = "https://gateway.example.com/openai/v1";
    const vars = { openai_key: keyB, key_version: "2", api_base: gateway };
    const { plan, json } = await wd.plan("move.tfplan", [], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toMatch(new RegExp(`~ api_base\\s+= "https://api.openai.com/v1" -> "${gateway}"`));
    expect(plan.out).toMatch(/~ key_version\s+= 4 -> 5/);
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect([change.before.key_version, change.after.key_version]).toEqual([4, 5]);
    const apply = await wd.run(["apply", "move.tfplan"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(await current(credentialId)).toMatchObject({ api_base: gateway, key_version: 5, key_hint: hintOf(keyB) });
    expect((await service.auditActions(org, credentialId)).at(-1)).toBe("credential.rotate");
    expect((await wd.run(["plan", "-detailed-exitcode"], { vars })).code).toBe(0);

    // The imported credential's configuration holds no key: moving it cannot be planned.
    wd.write("imported.tf", importedTf.replace('environment   = "staging"', `environment   = "staging"\n  api_base      = "${gateway}"`));
    const keyless = await wd.run(["plan"], { vars });
    expect(keyless.code, keyless.out).toBe(1);
    expect(keyless.out).toContain("Error: Changing api_base needs the secret");
    expect(flat(keyless.out)).toContain("set api_key_wo and api_key_wo_version");
    expect(keyless.out).toMatch(/with keyplane_credential\.imported,/);
    expect(keyless.out).toMatch(/api_base\s+= "https:\/\/gateway\.example\.com/);
    wd.write("imported.tf", importedTf);

    // Back to the catalog's api_base, again as a rotation.
    const back = await wd.run(["apply", "-auto-approve"], { vars: { openai_key: keyB, key_version: "2" } });
    expect(back.code, back.out).toBe(0);
    expect(await current(credentialId)).toMatchObject({ api_base: "https://api.openai.com/v1", key_version: 6 });
    clean();
  }, 120_000);

  it("destroys by deactivating, then deleting", async () => {
    const destroy = await wd.run(["destroy", "-auto-approve"], { vars: { openai_key: keyB, key_version: "2" } });
    expect(destroy.code, destroy.out).toBe(0);
    expect(destroy.out).toContain("2 destroyed");
    for (const id of [credentialId, importedId]) {
      expect(await org.admin.getCredential(org.id, id)).toBeNull();
      const actions = await service.auditActions(org, id);
      expect(actions.slice(-2)).toEqual(["credential.deactivate", "credential.delete"]);
    }
    expect(wd.state().resources).toEqual([]);
    clean();
  }, 120_000);
});
