// examples/terraform as documented in its README, with the real engine(s) against a real Keyplane
// service: validate, plan (hints only), apply, a no-change plan, a rotation by bumping
// *_wo_version, the chat alias switched to another provider, destroy — configured only through KEYPLANE_* and TF_VAR_* — plus installation
// through a filesystem mirror that symlinks the launcher. Skipped loudly without an engine.
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { enginesFor, type Engine, pluginDir, repoRoot } from "./support/engines.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const NO_ENGINE: Engine = { bin: "", kind: "tofu", version: "no engine" };
const engines = enginesFor("test/e2e/examples-terraform.test.ts");
const exampleDir = join(repoRoot, "examples/terraform");

const openaiKey = () => `sk-proj-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Q")}`;
const anthropicKey = () => `sk-ant-api03-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Z")}`;

function copyExample(wd: Workdir): void {
  for (const file of readdirSync(exampleDir).filter((f) => f.endsWith(".tf"))) wd.write(file, readFileSync(join(exampleDir, file), "utf8"));
}

// Without an engine the suite is still declared, as skipped: a file with no suite at all fails.
describe.skipIf(engines.length === 0).each(engines.length > 0 ? engines : [NO_ENGINE])("examples/terraform with $version", (engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  let wd: Workdir;
  const openai = openaiKey();
  const openaiRotated = openaiKey();
  const anthropic = anthropicKey();
  const hint = { openai: keyHint(openai, "openai"), rotated: keyHint(openaiRotated, "openai"), anthropic: keyHint(anthropic, "anthropic") };

  beforeAll(async () => {
    service = await startService();
    org = await service.seedOrganization();
    wd = new Workdir(engine, "examples", {
      env: { KEYPLANE_ENDPOINT: service.url, KEYPLANE_TOKEN: org.tokens.admin, KEYPLANE_ORGANIZATION_ID: org.id },
      vars: { openai_api_key: openai, anthropic_api_key: anthropic },
    });
    copyExample(wd);
  }, 180_000);

  afterAll(async () => {
    if (wd) {
      try {
        wd.assertClean([openai, openaiRotated, anthropic, ...Object.values(org.tokens)], [service.logText()]);
      } finally {
        wd.cleanup();
      }
    }
    await service?.close();
  });

  it("validates", async () => {
    const res = await wd.run(["validate"], { plainFlags: true });
    expect(res.code, res.out).toBe(0);
    expect(res.out).toContain("The configuration is valid");
  });

  it("plans hints, never keys", async () => {
    const { plan, json } = await wd.plan("create.tfplan");
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("# keyplane_project.support_bot will be created");
    expect(plan.out).toContain("# keyplane_credential.openai will be created");
    expect(plan.out).toContain(`"${hint.openai}"`);
    expect(plan.out).toContain(`"${hint.anthropic}"`);
    expect(plan.out).toContain("Plan: 4 to add, 0 to change, 0 to destroy.");
    expect(json.planned_values.outputs.key_hints.value).toEqual({ openai: hint.openai, support_bot_anthropic: hint.anthropic });
    const project = json.resource_changes.find((r: any) => r.address === "keyplane_project.support_bot");
    expect(project.change.after).toMatchObject({ organization_id: org.id, name: "support-bot", inherit_organization_credentials: true });
  });

  it("reports a key that does not fit its provider at api_key_wo", async () => {
    const res = await wd.run(["plan"], { vars: { anthropic_api_key: `sk-proj-${"x".repeat(40)}` } });
    expect(res.code).toBe(1);
    expect(res.out).toContain("api_key_wo");
    expect(res.out).toContain("sk-ant-");
  });

  it("applies, reads the credentials back, and then plans no changes", async () => {
    const apply = await wd.run(["apply", "-auto-approve"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain("Apply complete! Resources: 4 added, 0 changed, 0 destroyed.");
    const outputs = await wd.run(["output", "-json"], { plainFlags: true });
    const values = JSON.parse(outputs.stdout);
    expect(values.key_hints.value).toEqual({ openai: hint.openai, support_bot_anthropic: hint.anthropic });
    const projectId = values.support_bot_project_id.value;
    expect(projectId).toMatch(/^prj_/);
    expect(values.stored_credentials.value).toEqual({
      "openai-production": `openai ${hint.openai} (v1, organization)`,
      "support-bot-anthropic": `anthropic ${hint.anthropic} (v1, ${projectId})`,
    });
    const project = wd.instance("keyplane_project", "support_bot")!;
    expect(project.private).toEqual({ etag: '"v1"' });

    const again = await wd.run(["plan", "-detailed-exitcode"]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain("No changes.");
  }, 180_000);

  it("rotates by bumping api_key_wo_version, shown as a hint change", async () => {
    const vars = { openai_api_key: openaiRotated, openai_api_key_version: "2" };
    const plan = await wd.run(["plan"], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain(`"${hint.openai}" -> "${hint.rotated}"`);
    expect(plan.out).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
    const apply = await wd.run(["apply", "-auto-approve"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(wd.instance("keyplane_credential", "openai")!.attributes).toMatchObject({ key_hint: hint.rotated, key_version: 2, api_key_wo: null });
  }, 180_000);

  it("switches the chat alias to another provider as an in-place plan of provider, model and credential", async () => {
    const vars = { openai_api_key: openaiRotated, openai_api_key_version: "2", chat_provider: "anthropic" };
    const plan = await wd.run(["plan"], { vars });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("# keyplane_model_alias.support_chat will be updated in-place");
    expect(plan.out).toMatch(/~ provider_type\s+= "openai" -> "anthropic"/);
    expect(plan.out).toMatch(/~ model\s+= "gpt-5" -> "claude-sonnet-4-5"/);
    expect(plan.out).toMatch(/~ credential_id\s+= "cred_\w+" -> "cred_\w+"/);
    expect(plan.out).toContain("Plan: 0 to add, 1 to change, 0 to destroy.");
    const apply = await wd.run(["apply", "-auto-approve"], { vars });
    expect(apply.code, apply.out).toBe(0);
    expect(wd.instance("keyplane_model_alias", "support_chat")!.attributes).toMatchObject({
      provider_type: "anthropic",
      credential_id: wd.instance("keyplane_credential", "support_bot_anthropic")!.attributes.id,
    });
    const again = await wd.run(["plan", "-detailed-exitcode"], { vars });
    expect(again.code, again.out).toBe(0);
  }, 180_000);

  it("destroys credentials before their project", async () => {
    const destroy = await wd.run(["destroy", "-auto-approve"]);
    expect(destroy.code, destroy.out).toBe(0);
    expect(destroy.out).toContain("Destroy complete! Resources: 4 destroyed.");
    expect(await org.admin.listCredentials(org.id)).toEqual([]);
    expect(await org.admin.listModelAliases(org.id)).toEqual([]);
  }, 180_000);

  it("installs from a filesystem mirror that symlinks the launcher", async () => {
    const mirrorWd = new Workdir(engine, "examples-mirror", {
      env: { KEYPLANE_ENDPOINT: service.url, KEYPLANE_TOKEN: org.tokens.admin, KEYPLANE_ORGANIZATION_ID: org.id },
    });
    try {
      copyExample(mirrorWd);
      const version = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version as string;
      const target = `${process.platform}_${process.arch === "x64" ? "amd64" : process.arch}`;
      const host = engine.kind === "tofu" ? "registry.opentofu.org" : "registry.terraform.io";
      const mirror = join(mirrorWd.dir, "..", "mirror");
      const dir = join(mirror, host, "keyplane/keyplane", version, target);
      mkdirSync(dir, { recursive: true });
      symlinkSync(join(pluginDir, "terraform-provider-keyplane"), join(dir, `terraform-provider-keyplane_v${version}`));
      const cli = join(mirrorWd.dir, "..", "mirror.tfrc");
      writeFileSync(
        cli,
        `provider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["keyplane/keyplane"]\n  }\n  direct {\n    exclude = ["keyplane/keyplane"]\n  }\n}\n`,
      );
      const env = { TF_CLI_CONFIG_FILE: cli };
      const init = await mirrorWd.run(["init"], { env });
      expect(init.code, init.out).toBe(0);
      expect(init.out).toContain(`Installed keyplane/keyplane v${version}`);
      const validate = await mirrorWd.run(["validate"], { env, plainFlags: true });
      expect(validate.code, validate.out).toBe(0);
      expect(validate.out).toContain("The configuration is valid");
    } finally {
      mirrorWd.cleanup();
    }
  }, 180_000);
});
