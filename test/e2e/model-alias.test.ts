// keyplane_model_alias through a real engine against a real Keyplane service: create an alias, switch
// it to another provider as a reviewed plan (provider_type/model/credential_id old -> new, never a
// key), apply, plan no changes; import an alias made through the API and plan no changes; and a
// rotation by apply with rotation_grace_seconds, after which the previous key still resolves as
// "previous". After every step no secret is in the state, plans, `show -json`, output or logs.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineCases, enginesFor } from "./support/engines.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("test/e2e/model-alias.test.ts");

const openaiKey = () => `sk-proj-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Q")}`;
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
variable "openai_key_version" {
  type    = number
  default = 1
}
variable "anthropic_key" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "chat_provider" {
  type    = string
  default = "openai"
}

provider "keyplane" {
  endpoint        = var.endpoint
  token           = var.token
  organization_id = var.org
}

resource "keyplane_credential" "openai" {
  provider_type          = "openai"
  name                   = "openai-main"
  api_key_wo             = var.openai_key
  api_key_wo_version     = var.openai_key_version
  rotation_grace_seconds = 3600
  # This test resolves both keys just before destroying them: past the service's in-use guard.
  force_destroy = true
}

resource "keyplane_credential" "anthropic" {
  provider_type      = "anthropic"
  name               = "anthropic-main"
  api_key_wo         = var.anthropic_key
  api_key_wo_version = 1
  force_destroy      = true
}

locals {
  chat = {
    openai    = { model = "gpt-5", credential_id = keyplane_credential.openai.id }
    anthropic = { model = "claude-sonnet-4-5", credential_id = keyplane_credential.anthropic.id }
  }
}

resource "keyplane_model_alias" "chat" {
  name          = "chat"
  provider_type = var.chat_provider
  model         = local.chat[var.chat_provider].model
  credential_id = local.chat[var.chat_provider].credential_id
  params        = { temperature = 0.2, max_tokens = 1024, reasoning = "low" }
  description   = "Default chat model"
}
`;

const importedTf = `
resource "keyplane_model_alias" "legacy" {
  name          = "legacy-chat"
  provider_type = "openai"
  model         = "gpt-4.1"
  params        = { temperature = 0.5, stream = true }
  fallbacks     = [keyplane_model_alias.chat.name]
  environment   = "staging"
}
`;

describe.skipIf(engines.length === 0).each(engineCases(engines))("keyplane_model_alias with $version", (engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  let wd: Workdir;
  const keyA = openaiKey();
  const keyB = openaiKey();
  const keyAnthropic = anthropicKey();
  let secrets: string[];
  let aliasId: string;
  let started = 0;

  const clean = () => {
    const scanned = wd.assertClean(secrets, [service.logText()]);
    expect(scanned).toBeGreaterThan(wd.transcript.length);
  };
  const aliasChange = (json: any, address = "keyplane_model_alias.chat") => json.resource_changes.find((c: any) => c.address === address).change;

  beforeAll(async () => {
    started = Date.now();
    service = await startService();
    org = await service.seedOrganization();
    secrets = [keyA, keyB, keyAnthropic, org.tokens.admin, org.tokens.member, org.tokens.resolver];
    wd = new Workdir(engine, "model-alias", {
      vars: { endpoint: service.url, org: org.id, token: org.tokens.admin, openai_key: keyA, anthropic_key: keyAnthropic },
    });
    wd.write("main.tf", mainTf);
  }, 120_000);

  afterAll(async () => {
    console.log(`[e2e] model alias scenario on ${engine.version}: ${wd?.runs} engine runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    wd?.cleanup();
    await service?.close();
  });

  it("creates the alias with its credentials, and then plans no changes", async () => {
    const apply = await wd.run(["apply", "-auto-approve"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain("3 added");
    const instance = wd.instance("keyplane_model_alias", "chat")!;
    aliasId = instance.attributes.id;
    expect(aliasId).toMatch(/^mal_[0-9A-Z]{26}$/);
    expect(instance.attributes).toMatchObject({
      provider_type: "openai",
      model: "gpt-5",
      credential_id: wd.instance("keyplane_credential", "openai")!.attributes.id,
      params: { temperature: "0.2", max_tokens: "1024", reasoning: "low" },
      fallbacks: [],
      active: true,
    });
    expect(instance.private).toEqual({ etag: '"v1"' });
    const stored = await org.admin.getModelAlias(org.id, aliasId);
    expect(stored!.body.params).toEqual({ temperature: 0.2, max_tokens: 1024, reasoning: "low" });
    const resolved = await org.resolver.resolve(org.id, { alias: "chat" });
    expect(resolved).toMatchObject({ provider: "openai", model: "gpt-5", secret: keyA, params: { temperature: 0.2, max_tokens: 1024 } });

    const again = await wd.run(["plan", "-detailed-exitcode"]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain("No changes");
    clean();
  }, 180_000);

  it("switches the alias to another provider as a reviewed in-place plan that shows no key", async () => {
    const vars = { chat_provider: "anthropic" };
    const { plan, json } = await wd.plan("switch.tfplan", [], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("# keyplane_model_alias.chat will be updated in-place");
    expect(plan.out).toMatch(/~ provider_type\s+= "openai" -> "anthropic"/);
    expect(plan.out).toMatch(/~ model\s+= "gpt-5" -> "claude-sonnet-4-5"/);
    expect(plan.out).toMatch(/~ credential_id\s+= "cred_\w+" -> "cred_\w+"/);
    expect(plan.out).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
    const change = aliasChange(json);
    expect(change.actions).toEqual(["update"]);
    const anthropicId = wd.instance("keyplane_credential", "anthropic")!.attributes.id;
    expect(change.before).toMatchObject({ provider_type: "openai", model: "gpt-5" });
    expect(change.after).toMatchObject({ provider_type: "anthropic", model: "claude-sonnet-4-5", credential_id: anthropicId, id: aliasId });
    // Nothing of the alias is sensitive, and no key is in the plan (clean() scans it, raw and unpacked).
    expect(JSON.stringify([change.before_sensitive, change.after_sensitive])).not.toContain("true");

    const apply = await wd.run(["apply", "switch.tfplan"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect((await org.admin.getModelAlias(org.id, aliasId))!.body).toMatchObject({ provider: "anthropic", credential_id: anthropicId });
    expect(await org.resolver.resolve(org.id, { alias: "chat" })).toMatchObject({ provider: "anthropic", model: "claude-sonnet-4-5", secret: keyAnthropic });
    expect(wd.instance("keyplane_model_alias", "chat")!.private).toEqual({ etag: '"v2"' });

    const again = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(again.code, again.out).toBe(0);
    clean();
  }, 180_000);

  it("imports an alias made through the API with ORG_ID/ALIAS_ID, then plans no changes", async () => {
    const vars = { chat_provider: "anthropic" };
    const created = await org.admin.createModelAlias(org.id, {
      name: "legacy-chat",
      provider: "openai",
      model: "gpt-4.1",
      params: { temperature: 0.5, stream: true },
      fallbacks: ["chat"],
      environment: "staging",
    });
    wd.write("imported.tf", importedTf);
    const imported = await wd.run(["import", "keyplane_model_alias.legacy", `${org.id}/${created.body.id}`], { vars });
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain("Import successful!");
    expect(wd.instance("keyplane_model_alias", "legacy")!.attributes).toMatchObject({
      id: created.body.id,
      organization_id: org.id,
      params: { temperature: "0.5", stream: "true" },
      fallbacks: ["chat"],
    });
    const plan = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(plan.code, plan.out).toBe(0);

    const bad = await wd.run(["import", "keyplane_model_alias.legacy", "not/an/id"], { vars });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("ORG_ID/ALIAS_ID");
    clean();
  }, 180_000);

  it("rotates with rotation_grace_seconds: the previous key still resolves as previous", async () => {
    const vars = { chat_provider: "anthropic", openai_key: keyB, openai_key_version: "2" };
    const { plan, json } = await wd.plan("rotate.tfplan", [], { vars });
    expect(plan.code, plan.out).toBe(0);
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect(change.after).toMatchObject({ key_version: 2, rotation_grace_seconds: 3600 });
    const apply = await wd.run(["apply", "rotate.tfplan"], { vars });
    expect(apply.code, apply.out).toBe(0);

    expect((await org.resolver.resolve(org.id, { provider: "openai" })).secret).toBe(keyB);
    const previous = await org.resolver.resolve(org.id, { provider: "openai", version: "previous" });
    expect(previous).toMatchObject({ secret: keyA, key_version: 1 });
    const again = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(again.code, again.out).toBe(0);
    clean();
  }, 180_000);

  it("destroys the aliases before the credentials they pin", async () => {
    const destroy = await wd.run(["destroy", "-auto-approve"], { vars: { chat_provider: "anthropic", openai_key: keyB, openai_key_version: "2" } });
    expect(destroy.code, destroy.out).toBe(0);
    expect(await org.admin.listModelAliases(org.id)).toEqual([]);
    expect(await org.admin.listCredentials(org.id)).toEqual([]);
    clean();
  }, 180_000);
});
