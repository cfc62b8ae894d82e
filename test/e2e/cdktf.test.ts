// CDKTF for real: the example (examples/cdktf) synthesized, applied and destroyed by
// OpenTofu/Terraform against a Keyplane service running in this process (PGlite, 127.0.0.1:0), the
// plugin installed from a filesystem mirror (stacks declare a backend, so `init` runs, and with
// dev_overrides alone init looks the provider up in the public registry). Per engine:
//   - `node app.js` synthesis, then the engine in the stack's configuration (init/apply/destroy);
//   - an app whose EphemeralKeyplaneResolvedCredential feeds another credential's write-only key;
//   - cdktf-cli: `cdktf synth`, `cdktf deploy`, `cdktf destroy` with TERRAFORM_BINARY_NAME.
// Plus `cdktf synth` of the example in place and of a program with a literal key.
// The keys reach the engine only as TF_VAR_ values; afterwards no key (nor a token) may be in the
// stack directory, the state, the plan, the CLI output, the provider log or the service log.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXAMPLE_STACK,
  cdkTools,
  cleanEnv,
  exampleDir,
  exampleMain,
  filesContaining,
  repoRoot,
  run,
  synthExample,
  writeMirrorCliConfig,
} from "../cdktf/support.js";
import { deployExampleWithCli } from "../cdktf/cli-deploy.js";
import { exampleKeys, exampleVars, expectDeployed, expectDestroyed, expectedHints, providerEnv } from "../cdktf/deploy.js";
import { enginesFor, type Engine } from "./support/engines.js";
import { startService, type E2eService } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const engines = enginesFor("cdktf e2e (test/e2e/cdktf.test.ts)");
const requireAll = process.env.KEYPLANE_REQUIRE_E2E === "1";
const tools = cdkTools("cdktf");
if (!tools.dir) console.warn(`\n*** cdktf-cli e2e SKIPPED: ${tools.error} ***\n`);
it.runIf(!tools.dir && requireAll)("has cdktf-cli when KEYPLANE_REQUIRE_E2E=1", () => {
  expect.fail(`cdktf-cli is not available: ${tools.error}`);
});
const cdktfCli = () => join(tools.dir!, "node_modules/.bin/cdktf");

describe.runIf(!!tools.dir)("cdktf-cli synth", () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "kp-e2e-cdktf-synth-"));
  }, 300_000);
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("`cdktf synth` in examples/cdktf, with the example's own cdktf.json", async () => {
    const out = join(scratch, "example-out");
    const synth = await run(cdktfCli(), ["synth", "--output", out], { cwd: exampleDir, env: cleanEnv({ CI: "1" }), timeoutMs: 240_000 });
    expect(synth.code, synth.out).toBe(0);
    const config = JSON.parse(readFileSync(join(out, "stacks", EXAMPLE_STACK, "cdk.tf.json"), "utf8"));
    expect(Object.keys(config.resource.keyplane_credential).sort()).toEqual(["anthropic", "openai"]);
    expect(config.variable.anthropic_api_key).toMatchObject({ sensitive: true, ephemeral: true });
    console.log(`[cdktf e2e] cdktf synth of examples/cdktf (tsc + node): ${Math.round(synth.ms)} ms`);
  }, 300_000);

  it("`cdktf synth` of a program with a literal key fails with the aspect's message and writes no key", async () => {
    const project = join(scratch, "literal");
    mkdirSync(project);
    symlinkSync(join(repoRoot, "node_modules"), join(project, "node_modules"));
    writeFileSync(join(project, "cdktf.json"), JSON.stringify({ language: "typescript", app: "node app.mjs", sendCrashReports: "false" }));
    writeFileSync(
      join(project, "app.mjs"),
      `import { App, TerraformStack } from "cdktf";
import * as kp from ${JSON.stringify(pathToFileURL(join(repoRoot, "dist/cdktf-provider/cdktf/index.js")).href)};
const app = new App();
const stack = new TerraformStack(app, "literal");
new kp.KeyplaneProvider(stack, "keyplane");
new kp.Credential(stack, "openai", { providerType: "openai", name: "n", apiKeyWo: "sk-proj-CLILITERAL000000000000" });
app.synth();
`,
    );
    const synth = await run(cdktfCli(), ["synth"], { cwd: project, env: cleanEnv({ CI: "1" }), timeoutMs: 240_000 });
    expect(synth.code).not.toBe(0);
    expect(synth.out).toContain("argument api_key_wo");
    expect(synth.out).toContain("TF_VAR_openai_api_key");
    expect(synth.out).not.toContain("CLILITERAL");
    expect(filesContaining(join(project, "cdktf.out"), "CLILITERAL")).toEqual([]);
  }, 300_000);
});

describe.skipIf(engines.length === 0).each(engines)("CDKTF example on $version", (engine: Engine) => {
  let service: E2eService;

  beforeAll(async () => {
    service = await startService("pglite");
  }, 300_000);

  afterAll(async () => {
    await service?.close();
  });

  it("node synth, then the engine applies and destroys the stack; no secret anywhere", async () => {
    const started = performance.now();
    const org = await service.seedOrganization();
    const keys = exampleKeys();
    const mirrorRoot = mkdtempSync(join(tmpdir(), "kp-e2e-cdktf-mirror-"));
    const env = { ...providerEnv(service.url, org), TF_CLI_CONFIG_FILE: writeMirrorCliConfig(mirrorRoot) };
    const wd = new Workdir(engine, "cdktf-node", { vars: exampleVars(keys), env });
    try {
      // Synthesize where the engine will run, so the stack's local backend keeps its state there.
      const synth = await synthExample(wd.dir);
      expect(synth.result.code, synth.result.out).toBe(0);
      copyFileSync(join(synth.stackDir, "cdk.tf.json"), join(wd.dir, "cdk.tf.json"));

      const init = await wd.run(["init"]);
      expect(init.code, init.out).toBe(0);
      const apply = await wd.run(["apply", "-auto-approve"]);
      expect(apply.code, apply.out).toBe(0);
      expect(apply.out).toContain("Apply complete! Resources: 3 added, 0 changed, 0 destroyed.");
      const output = await wd.run(["output", "-json"], { plainFlags: true });
      const outputs = Object.fromEntries(Object.entries(JSON.parse(output.stdout)).map(([k, v]) => [k, (v as { value: unknown }).value]));
      await expectDeployed(org, keys, outputs);

      const again = await wd.run(["plan", "-detailed-exitcode"]);
      expect(again.code, again.out).toBe(0);

      const destroy = await wd.run(["destroy", "-auto-approve"]);
      expect(destroy.code, destroy.out).toBe(0);
      expect(destroy.out).toContain("Destroy complete! Resources: 3 destroyed.");
      await expectDestroyed(org);

      expect(existsSync(join(wd.dir, `terraform.${EXAMPLE_STACK}.tfstate`))).toBe(true);
      const scanned = wd.assertClean([keys.openai, keys.anthropic, org.tokens.admin], [synth.result.out, service.logText()]);
      expect(scanned).toBeGreaterThan(5);
      console.log(`[cdktf e2e] ${engine.version}: node synth + init/apply/plan/destroy in ${Math.round(performance.now() - started)} ms`);
    } finally {
      wd.cleanup();
      rmSync(mirrorRoot, { recursive: true, force: true });
    }
  }, 300_000);

  it("an EphemeralKeyplaneResolvedCredential feeds a write-only key through a resolver-token provider alias", async () => {
    const org = await service.seedOrganization();
    const key = exampleKeys().openai;
    await org.admin.createCredential(org.id, { provider: "openai", name: "org-key", api_key: key }, `cdktf-e2e-${Date.now()}`);
    const appDir = mkdtempSync(join(tmpdir(), "kp-e2e-cdktf-ephemeral-app-"));
    const mirrorRoot = mkdtempSync(join(tmpdir(), "kp-e2e-cdktf-mirror-"));
    const env = { ...providerEnv(service.url, org), TF_CLI_CONFIG_FILE: writeMirrorCliConfig(mirrorRoot) };
    const wd = new Workdir(engine, "cdktf-ephemeral", { vars: { resolver_token: org.tokens.resolver }, env });
    try {
      symlinkSync(join(repoRoot, "node_modules"), join(appDir, "node_modules"));
      writeFileSync(
        join(appDir, "app.mjs"),
        `import { App, TerraformOutput, TerraformStack } from "cdktf";
import * as kp from ${JSON.stringify(pathToFileURL(join(repoRoot, "dist/cdktf-provider/cdktf/index.js")).href)};
const app = new App();
const stack = new TerraformStack(app, "copy");
new kp.KeyplaneProvider(stack, "keyplane");
const resolver = new kp.KeyplaneProvider(stack, "resolver", { alias: "resolver", token: kp.secretVariable(stack, "resolver_token").value });
const team = new kp.Project(stack, "team", { name: "team" });
const upstream = new kp.EphemeralKeyplaneResolvedCredential(stack, "upstream", { providerType: "openai", provider: resolver });
const copy = new kp.Credential(stack, "copy", { providerType: "openai", name: "copied", projectId: team.id, apiKeyWo: upstream.secret, apiKeyWoVersion: 1 });
new TerraformOutput(stack, "copy_hint", { value: copy.keyHint });
app.synth();
`,
      );
      const synth = await run(process.execPath, [join(appDir, "app.mjs")], { cwd: wd.dir, env: cleanEnv() });
      expect(synth.code, synth.out).toBe(0);
      copyFileSync(join(wd.dir, "cdktf.out/stacks/copy/cdk.tf.json"), join(wd.dir, "cdk.tf.json"));
      expect(JSON.parse(readFileSync(join(wd.dir, "cdk.tf.json"), "utf8")).ephemeral.keyplane_resolved_credential.upstream.provider).toBe("keyplane.resolver");

      expect((await wd.run(["init"])).code).toBe(0);
      const apply = await wd.run(["apply", "-auto-approve"]);
      expect(apply.code, apply.out).toBe(0);
      const copied = (await org.admin.listCredentials(org.id)).filter((c) => c.project_id !== null);
      expect(copied).toHaveLength(1);
      expect(copied[0]).toMatchObject({ name: "copied", provider: "openai", key_hint: expectedHints({ openai: key, anthropic: key }).openai });
      const destroy = await wd.run(["destroy", "-auto-approve"]);
      expect(destroy.code, destroy.out).toBe(0);
      expect((await org.admin.listCredentials(org.id)).map((c) => c.name)).toEqual(["org-key"]);
      wd.assertClean([key, org.tokens.admin, org.tokens.resolver], [synth.out, service.logText()]);
    } finally {
      wd.cleanup();
      rmSync(appDir, { recursive: true, force: true });
      rmSync(mirrorRoot, { recursive: true, force: true });
    }
  }, 300_000);

  describe("with cdktf-cli", () => {
    it.runIf(!!tools.dir)(
      "cdktf synth, deploy and destroy with TERRAFORM_BINARY_NAME; no secret anywhere",
      async () => {
        const root = mkdtempSync(join(tmpdir(), "kp-e2e-cdktf-cli-"));
        const project = join(root, "project");
        try {
          const projectConfig = JSON.parse(readFileSync(join(exampleDir, "cdktf.json"), "utf8"));
          // The example's own app line compiles main.ts in place; here the compiled app runs from a scratch project.
          mkdirSync(project);
          writeFileSync(join(project, "cdktf.json"), JSON.stringify({ ...projectConfig, app: `node ${exampleMain}` }, null, 2));
          await deployExampleWithCli({ label: "cdktf-cli", cli: [cdktfCli()], project, root, engine, service });
        } finally {
          if (process.env.KEYPLANE_E2E_KEEP === "1") console.log(`[e2e] kept ${root}`);
          else rmSync(root, { recursive: true, force: true });
        }
      },
      600_000,
    );
  });
});
