// keyplane_credential under the lifecycles HashiCorp's acceptance tests exercise, on every engine
// found (issue 18): each scenario applies, then requires an empty second plan (or an import, then
// an empty plan). lifecycle ignore_changes; a key that differs between plan and apply (the planned
// hint as a review guarantee, and plan_key_hint = false); an api_key_wo_version unknown at plan;
// destroy and plans without the secret or with a placeholder (api_token, aws and
// service_account_json types); plan-time checks of what the catalog and contract know; a provider
// organization_id the token cannot use; destroy -refresh=false after a change made outside.
// No secret is in any state, plan, output or log afterwards.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { startService, type E2eService, type SeededOrganization } from "../support/service.js";
import { engineCases, enginesFor, type Engine } from "./support/engines.js";
import { keyplanePrologue } from "./support/hcl.js";
import { Workdir, type RunOptions } from "./support/workdir.js";

const engines = enginesFor("test/e2e/credential-lifecycle.test.ts");

const openaiKey = () => `sk-proj-${randomBytes(30).toString("base64url").replace(/[-_]/g, "Q")}`;
const hint = (key: string) => keyHint(key, "openai");
/** Engine output with box-drawing margins removed and whitespace collapsed, for sentence checks. */
const flat = (out: string) => out.replace(/[│╷╵]/g, " ").replace(/\s+/g, " ");

/** An HCL map literal for a TF_VAR_ of type map(string). */
const hclMap = (fields: Record<string, string>) =>
  `{${Object.entries(fields)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join(", ")}}`;

function serviceAccount(): Record<string, string> {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    service_account_json: JSON.stringify({ type: "service_account", client_email: "kp-e2e@example.iam.gserviceaccount.com", private_key: pem }),
  };
}

const awsFields = () => ({
  access_key_id: `AKIA${randomBytes(8).toString("hex").toUpperCase().slice(0, 16)}`,
  secret_access_key: randomBytes(30).toString("base64url"),
});

describe.skipIf(engines.length === 0).each(engineCases(engines))("keyplane_credential lifecycles with $version", (engine: Engine) => {
  let service: E2eService;
  let org: SeededOrganization;
  const dirs: Workdir[] = [];
  const secrets: string[] = [];
  let started = 0;

  const workdir = (name: string, tf: string, vars: Record<string, string> = {}) => {
    const wd = new Workdir(engine, name, { vars: { endpoint: service.url, org: org.id, token: org.tokens.admin, ...vars } });
    wd.write("main.tf", tf);
    dirs.push(wd);
    return wd;
  };
  const key = () => {
    const k = openaiKey();
    secrets.push(k);
    return k;
  };
  const current = async (id: string) => (await org.admin.getCredential(org.id, id))?.body;
  const idOf = (wd: Workdir, name: string) => wd.instance("keyplane_credential", name)!.attributes.id as string;

  /** Apply, then the acceptance-test check: the next plan is empty. */
  const applyThenEmpty = async (wd: Workdir, options: RunOptions = {}) => {
    const apply = await wd.run(["apply", "-auto-approve"], options);
    expect(apply.code, apply.out).toBe(0);
    await expectEmptyPlan(wd, options);
    return apply;
  };
  const expectEmptyPlan = async (wd: Workdir, options: RunOptions = {}) => {
    const plan = await wd.run(["plan", "-detailed-exitcode"], options);
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("No changes");
  };

  beforeAll(async () => {
    started = Date.now();
    service = await startService();
    org = await service.seedOrganization();
    secrets.push(...Object.values(org.tokens));
  }, 120_000);

  afterAll(async () => {
    const runs = dirs.reduce((n, wd) => n + wd.runs, 0);
    console.log(`[e2e] credential lifecycles on ${engine.version}: ${runs} engine runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const wd of dirs) wd.cleanup();
    await service?.close();
  });

  it("lifecycle ignore_changes = all and = [api_key_wo]: later plans are empty, with the secret changed or unset", async () => {
    const tf = `${keyplanePrologue({ key: { secret: true, default: "null" }, key_version: { type: "number", default: "1" } })}
resource "keyplane_credential" "all" {
  provider_type      = "openai"
  name               = "ignore-all"
  api_key_wo         = var.key
  api_key_wo_version = var.key_version
  lifecycle {
    ignore_changes = all
  }
}

resource "keyplane_credential" "key" {
  provider_type      = "openai"
  name               = "ignore-key"
  environment        = "staging"
  api_key_wo         = var.key
  api_key_wo_version = 1
  lifecycle {
    ignore_changes = [api_key_wo]
  }
}
`;
    const keyA = key();
    const wd = workdir("ignore", tf);
    await applyThenEmpty(wd, { vars: { key: keyA } });
    // Another key, no key at all, a version bump under ignore_changes = all: nothing to do.
    await expectEmptyPlan(wd, { vars: { key: key() } });
    await expectEmptyPlan(wd);
    await expectEmptyPlan(wd, { vars: { key: key(), key_version: "2" } });
    for (const name of ["all", "key"]) expect(await current(idOf(wd, name))).toMatchObject({ key_version: 1, key_hint: hint(keyA) });
    wd.assertClean(secrets, [service.logText()]);
  }, 240_000);

  it("the planned key_hint is a review guarantee; plan_key_hint = false takes a key that changes between plan and apply", async () => {
    const tf = `${keyplanePrologue({ key: { secret: true }, key_version: { type: "number", default: "1" }, plan_key_hint: { type: "bool", default: "null" } })}
resource "keyplane_credential" "openai" {
  provider_type      = "openai"
  name               = "review"
  api_key_wo         = var.key
  api_key_wo_version = var.key_version
  plan_key_hint      = var.plan_key_hint
}
`;
    const [keyA, keyB, keyC] = [key(), key(), key()];
    const wd = workdir("review", tf);
    await applyThenEmpty(wd, { vars: { key: keyA } });
    const id = idOf(wd, "openai");

    // A saved plan reviewed with key B, applied with key C: stops, nothing sent.
    const { plan } = await wd.plan("rotate.tfplan", [], { vars: { key: keyB, key_version: "2" } });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toMatch(new RegExp(`~ key_hint\\s+= "${hint(keyA)}" -> "${hint(keyB)}"`));
    const refused = await wd.run(["apply", "rotate.tfplan"], { vars: { key: keyC, key_version: "2" } });
    expect(refused.code, refused.out).toBe(1);
    expect(flat(refused.out)).toContain("Provider produced inconsistent final plan");
    expect(flat(refused.out)).toContain(".key_hint");
    expect(await current(id)).toMatchObject({ key_version: 1, key_hint: hint(keyA) });
    expect((await org.resolver.resolve(org.id, { provider: "openai" })).secret).toBe(keyA);

    // plan_key_hint = false: the hint is known after apply, so another key at apply goes through.
    const vars = { key_version: "2", plan_key_hint: "false" };
    const saved = await wd.plan("generated.tfplan", [], { vars: { ...vars, key: keyB } });
    expect(saved.plan.code, saved.plan.out).toBe(0);
    expect(saved.plan.out).toMatch(/~ key_hint\s+= "[^"]+" -> \(known after apply\)/);
    const change = saved.json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect(change.after_unknown.key_hint).toBe(true);
    expect(change.after.key_version).toBe(2);
    const applied = await wd.run(["apply", "generated.tfplan"], { vars: { ...vars, key: keyC } });
    expect(applied.code, applied.out).toBe(0);
    expect(await current(id)).toMatchObject({ key_version: 2, key_hint: hint(keyC) });
    expect(wd.instance("keyplane_credential", "openai")!.attributes).toMatchObject({ key_hint: hint(keyC), plan_key_hint: false });
    await expectEmptyPlan(wd, { vars: { ...vars, key: keyC } });
    wd.assertClean(secrets, [service.logText()]);
  }, 240_000);

  it("an api_key_wo_version unknown at plan plans key_version as known after apply; unchanged, nothing rotates; changed, it rotates", async () => {
    const tf = `${keyplanePrologue({ key: { secret: true }, key_version: { type: "number", default: "1" }, nonce: { default: '"a"' } })}
resource "terraform_data" "version" {
  input            = var.key_version
  triggers_replace = [var.nonce]
}

resource "keyplane_credential" "openai" {
  provider_type      = "openai"
  name               = "unknown-version"
  environment        = "unknown-version"
  api_key_wo         = var.key
  api_key_wo_version = terraform_data.version.output
}
`;
    const [keyA, keyB] = [key(), key()];
    const wd = workdir("unknown", tf);
    await applyThenEmpty(wd, { vars: { key: keyA } });
    const id = idOf(wd, "openai");

    const { plan, json } = await wd.plan("same.tfplan", [], { vars: { key: keyA, nonce: "b" } });
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toMatch(/~ key_version\s+= 1 -> \(known after apply\)/);
    const change = json.resource_changes.find((c: any) => c.address === "keyplane_credential.openai").change;
    expect(change.after_unknown).toMatchObject({ key_version: true, key_hint: true, rotated_at: true });
    const same = await wd.run(["apply", "same.tfplan"], { vars: { key: keyA, nonce: "b" } });
    expect(same.code, same.out).toBe(0);
    expect(await current(id)).toMatchObject({ key_version: 1, rotated_at: null });
    await expectEmptyPlan(wd, { vars: { key: keyA, nonce: "b" } });

    await applyThenEmpty(wd, { vars: { key: keyB, nonce: "c", key_version: "2" } });
    expect(await current(id)).toMatchObject({ key_version: 2, key_hint: hint(keyB) });
    wd.assertClean(secrets, [service.logText()]);
  }, 240_000);

  it("plans and destroys without the secret, or with a placeholder invalid for the type (api_token, aws, service_account_json)", async () => {
    const tf = `${keyplanePrologue({
      key: { secret: true, default: "null" },
      aws: { type: "map(string)", secret: true, default: "null" },
      gcp: { type: "map(string)", secret: true, default: "null" },
    })}
resource "keyplane_credential" "openai" {
  provider_type      = "openai"
  name               = "secretless-destroy"
  api_key_wo         = var.key
  api_key_wo_version = 1
}

resource "keyplane_credential" "bedrock" {
  provider_type     = "bedrock"
  name              = "secretless-destroy"
  settings          = { region = "eu-west-1" }
  fields_wo         = var.aws
  fields_wo_version = 1
}

resource "keyplane_credential" "vertex" {
  provider_type     = "vertex"
  name              = "secretless-destroy"
  fields_wo         = var.gcp
  fields_wo_version = 1
}
`;
    const aws = awsFields();
    const gcp = serviceAccount();
    secrets.push(aws.secret_access_key);
    const real = { key: key(), aws: hclMap(aws), gcp: hclMap(gcp) };
    const placeholders = { key: "placeholder", aws: hclMap({ access_key_id: "x" }), gcp: hclMap({ service_account_json: "{}" }) };

    for (const destroyWith of [{}, placeholders]) {
      const wd = workdir("secretless", tf);
      await applyThenEmpty(wd, { vars: real });
      // The version is unchanged: nothing is sent, so nothing needs (or checks) the secret.
      await expectEmptyPlan(wd);
      await expectEmptyPlan(wd, { vars: placeholders });
      const ids = ["openai", "bedrock", "vertex"].map((name) => idOf(wd, name));
      const destroy = await wd.run(["destroy", "-auto-approve"], { vars: destroyWith });
      expect(destroy.code, destroy.out).toBe(0);
      expect(destroy.out).toContain("3 destroyed");
      for (const id of ids) expect(await current(id)).toBeUndefined();
      wd.assertClean(secrets, [service.logText()]);
    }
  }, 300_000);

  it("fails at plan, naming the attribute, for what the catalog and contract know; nothing is created", async () => {
    const bad: [string, string, string][] = [
      ["name", 'name = ""', "Empty name"],
      ["owner", 'owner = ""', "Empty owner"],
      ["environment", 'environment = ""', "Invalid environment"],
      ["rotation_zero", "rotation_period_days = 0", "Invalid rotation_period_days"],
      ["rotation_fraction", "rotation_period_days = 1.5", "Invalid rotation_period_days"],
      ["settings", 'settings = { region = "eu" }', "Setting not allowed"],
      ["env_var", 'env_var = "openai-key"', "Invalid env_var"],
      ["env_var_refused", 'env_var = "LD_PRELOAD"', "Invalid env_var"],
      ["api_base", 'api_base = "ftp://gateway.example.com"', "Invalid api_base"],
      ["category", 'category = "llm"', "Invalid category"],
    ];
    const resources = bad.map(
      ([name, line]) => `
resource "keyplane_credential" "${name}" {
  provider_type      = "openai"
  api_key_wo         = var.key
  api_key_wo_version = 1
  ${line.startsWith("name ") ? line : `name = "${name}"\n  ${line}`}
}
`,
    );
    const tf = `${keyplanePrologue({ key: { secret: true } })}${resources.join("")}`;
    const before = (await org.admin.listCredentials(org.id)).length;
    const wd = workdir("checks", tf, { key: key() });
    const plan = await wd.run(["plan"]);
    expect(plan.code, plan.out).toBe(1);
    const text = flat(plan.out);
    for (const [name, , summary] of bad) {
      expect(text).toMatch(new RegExp(`Error: ${summary} with keyplane_credential\\.${name},`));
    }
    expect(await org.admin.listCredentials(org.id)).toHaveLength(before);
    wd.assertClean(secrets, [service.logText()]);
  }, 240_000);

  it("stops at the provider block when organization_id is one the token cannot use, planning no replacement", async () => {
    const tf = `${keyplanePrologue()}
resource "keyplane_credential" "imported" {
  provider_type = "anthropic"
  name          = "whoami"
}
`;
    const created = await org.admin.createCredential(
      org.id,
      { provider: "anthropic", name: "whoami", api_key: `sk-ant-api03-${randomBytes(30).toString("base64url")}` },
      `e2e-whoami-${engine.kind}`,
    );
    const wd = workdir("whoami", tf);
    const imported = await wd.run(["import", "keyplane_credential.imported", `${org.id}/${created.body.id}`]);
    expect(imported.code, imported.out).toBe(0);
    await expectEmptyPlan(wd);

    const other = await service.seedOrganization();
    const plan = await wd.run(["plan"], { vars: { org: other.id } });
    expect(plan.code, plan.out).toBe(1);
    expect(flat(plan.out)).toContain("Error: Token of another organization");
    expect(flat(plan.out)).toContain(`belongs to organization ${org.id}, but organization_id is ${other.id}`);
    expect(plan.out).not.toContain("must be replaced");
    expect(await current(created.body.id)).toMatchObject({ active: true });
    wd.assertClean(secrets, [service.logText()]);
  }, 240_000);

  it("destroy -refresh=false after a change made outside Terraform deletes the credential (no 412)", async () => {
    const tf = `${keyplanePrologue({ key: { secret: true } })}
resource "keyplane_credential" "openai" {
  provider_type      = "openai"
  name               = "stale-destroy"
  environment        = "stale"
  api_key_wo         = var.key
  api_key_wo_version = 1
}
`;
    const wd = workdir("stale", tf, { key: key() });
    await applyThenEmpty(wd);
    const id = idOf(wd, "openai");
    const got = await org.admin.getCredential(org.id, id);
    await org.admin.updateCredential(org.id, id, { description: "edited by hand" }, got!.etag);
    const destroy = await wd.run(["destroy", "-auto-approve", "-refresh=false"]);
    expect(destroy.code, destroy.out).toBe(0);
    expect(destroy.out).toContain("1 destroyed");
    expect(await current(id)).toBeUndefined();
    wd.assertClean(secrets, [service.logText()]);
  }, 240_000);
});
