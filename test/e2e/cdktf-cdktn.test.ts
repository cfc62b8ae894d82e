// The same bindings under CDK Terrain (cdktn 0.24), the maintained fork of CDKTF: a project whose
// `cdktf` module is cdktn (what an npm alias `"cdktf": "npm:cdktn@^0.24"` gives an app), running the
// compiled bindings and the compiled example with `node`. Synthesis, the literal-secret aspect and
// the ephemeral block are checked, then each engine applies and destroys the stack against a real
// service, once from `node` synthesis and once driven by cdktn-cli (`cdktn synth/deploy/destroy`).
// cdktn and cdktn-cli come from the tool cache (cdktf-provider/scripts/install-cdk-tools.sh).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployExampleWithCli } from "../cdktf/cli-deploy.js";
import { exampleKeys, exampleVars, expectDeployed, expectDestroyed, providerEnv } from "../cdktf/deploy.js";
import { EXAMPLE_STACK, cdkTools, cleanEnv, exampleDir, exampleMain, filesContaining, repoRoot, run, writeMirrorCliConfig } from "../cdktf/support.js";
import { enginesFor, type Engine } from "./support/engines.js";
import { startService, type E2eService } from "../support/service.js";
import { Workdir } from "./support/workdir.js";

const tools = cdkTools("cdktn");
if (!tools.dir) console.warn(`\n*** cdktn (CDK Terrain) suite SKIPPED: ${tools.error} ***\n`);
it.runIf(!tools.dir && process.env.KEYPLANE_REQUIRE_E2E === "1")("has cdktn when KEYPLANE_REQUIRE_E2E=1", () => {
  expect.fail(`cdktn is not available: ${tools.error}`);
});
// cdktn-cli declares Node >= 22.19, above the project's own floor (22).
const [nodeMajor, nodeMinor] = process.versions.node.split(".").map(Number);
const cliRuns = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 19);
if (tools.dir && !cliRuns) console.warn(`\n*** cdktn-cli deploys SKIPPED: cdktn-cli needs Node >= 22.19, this is ${process.version} ***\n`);
it.runIf(!!tools.dir && !cliRuns && process.env.KEYPLANE_REQUIRE_E2E === "1")("runs on a Node cdktn-cli supports when KEYPLANE_REQUIRE_E2E=1", () => {
  expect.fail(`cdktn-cli needs Node >= 22.19, this is ${process.version}`);
});

/** A scratch project where `import "cdktf"` is cdktn, holding the compiled bindings and the example. */
function cdktnProject(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kp-cdktn-${name}-`));
  const modules = join(tools.dir!, "node_modules");
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(join(modules, "cdktn"), join(dir, "node_modules/cdktf"));
  symlinkSync(join(modules, "constructs"), join(dir, "node_modules/constructs"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }));
  cpSync(join(repoRoot, "dist/cdktf-provider/cdktf"), join(dir, "keyplane-cdktf"), { recursive: true });
  const main = readFileSync(exampleMain, "utf8");
  if (!main.includes('from "keyplane/cdktf"')) throw new Error("the compiled example no longer imports keyplane/cdktf");
  writeFileSync(join(dir, "main.js"), main.replace('from "keyplane/cdktf"', 'from "./keyplane-cdktf/index.js"'));
  return dir;
}

describe.runIf(!!tools.dir)("bindings under cdktn", () => {
  let project: string;

  beforeAll(() => {
    project = cdktnProject("synth");
  }, 300_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it("run on cdktn's classes (not a second copy of cdktf)", async () => {
    const probe = join(project, "probe.mjs");
    writeFileSync(
      probe,
      `import { createRequire } from "node:module";\nimport * as cdktf from "cdktf";\nimport { Credential } from "./keyplane-cdktf/index.js";\n` +
        `const pkg = createRequire(import.meta.url)("cdktf/package.json");\n` +
        `console.log(JSON.stringify({ name: pkg.name, version: pkg.version, resource: Object.getPrototypeOf(Credential) === cdktf.TerraformResource }));\n`,
    );
    const res = await run(process.execPath, [probe], { cwd: project });
    expect(res.code, res.out).toBe(0);
    expect(JSON.parse(res.out)).toEqual({ name: "cdktn", version: "0.24.0", resource: true });
  });

  it("synthesize the example: credentials, ephemeral variables, no secret", async () => {
    const keys = exampleKeys();
    const res = await run(process.execPath, ["main.js"], {
      cwd: project,
      env: cleanEnv(Object.fromEntries(Object.entries(exampleVars(keys)).map(([k, v]) => [`TF_VAR_${k}`, v]))),
    });
    expect(res.code, res.out).toBe(0);
    const config = JSON.parse(readFileSync(join(project, "cdktf.out/stacks", EXAMPLE_STACK, "cdk.tf.json"), "utf8"));
    expect(config["//"].metadata.version).toBe("0.24.0");
    expect(Object.keys(config.resource.keyplane_credential).sort()).toEqual(["anthropic", "openai"]);
    expect(config.resource.keyplane_credential.openai.api_key_wo).toBe("${var.openai_api_key}");
    expect(config.variable.openai_api_key).toMatchObject({ type: "string", sensitive: true, ephemeral: true });
    for (const key of [keys.openai, keys.anthropic]) expect(filesContaining(join(project, "cdktf.out"), key)).toEqual([]);
    console.log(`[cdktf e2e] example synth under cdktn 0.24.0: ${Math.round(res.ms)} ms`);
  });

  it("stop a literal secret with the aspect's message, and emit ephemeral blocks", async () => {
    const app = (body: string) =>
      `import { App, TerraformStack } from "cdktf";\nimport * as kp from "./keyplane-cdktf/index.js";\n` +
      `const app = new App({ outdir: "out" });\nconst stack = new TerraformStack(app, "s");\nnew kp.KeyplaneProvider(stack, "keyplane");\n${body}\napp.synth();\n`;
    writeFileSync(
      join(project, "literal.mjs"),
      app(`new kp.Credential(stack, "openai", { providerType: "openai", name: "n", apiKeyWo: "sk-CDKTNLITERAL0000000000" });`),
    );
    const literal = await run(process.execPath, ["literal.mjs"], { cwd: project });
    expect(literal.code).not.toBe(0);
    expect(literal.out).toContain("LiteralSecretError");
    expect(literal.out).toContain("argument api_key_wo");
    expect(literal.out).not.toContain("CDKTNLITERAL");
    expect(filesContaining(join(project, "out"), "CDKTNLITERAL")).toEqual([]);

    writeFileSync(
      join(project, "ephemeral.mjs"),
      app(
        `const r = new kp.EphemeralKeyplaneResolvedCredential(stack, "r", { providerType: "openai" });\n` +
          `new kp.Credential(stack, "copy", { providerType: "openai", name: "c", apiKeyWo: r.secret, apiKeyWoVersion: 1 });`,
      ),
    );
    const ephemeral = await run(process.execPath, ["ephemeral.mjs"], { cwd: project });
    expect(ephemeral.code, ephemeral.out).toBe(0);
    const config = JSON.parse(readFileSync(join(project, "out/stacks/s/cdk.tf.json"), "utf8"));
    expect(config.ephemeral.keyplane_resolved_credential.r.provider_type).toBe("openai");
    expect(config.resource.keyplane_credential.copy.api_key_wo).toBe("${ephemeral.keyplane_resolved_credential.r.secret}");
  });
});

const engines = tools.dir ? enginesFor("cdktn e2e (test/e2e/cdktf-cdktn.test.ts)") : [];

describe.skipIf(engines.length === 0).each(engines)("example under cdktn applied by $version", (engine: Engine) => {
  let service: E2eService;

  beforeAll(async () => {
    service = await startService("pglite");
  }, 300_000);

  afterAll(async () => {
    await service?.close();
  });

  it("applies and destroys; no secret anywhere", async () => {
    const started = performance.now();
    const org = await service.seedOrganization();
    const keys = exampleKeys();
    const project = cdktnProject("apply");
    const env = { ...providerEnv(service.url, org), TF_CLI_CONFIG_FILE: writeMirrorCliConfig(project) };
    const wd = new Workdir(engine, "cdktn", { vars: exampleVars(keys), env });
    try {
      // The stack's local backend keeps its state where the app ran: synthesize in the engine's directory.
      const synth = await run(process.execPath, [join(project, "main.js")], { cwd: wd.dir, env: cleanEnv() });
      expect(synth.code, synth.out).toBe(0);
      cpSync(join(wd.dir, "cdktf.out/stacks", EXAMPLE_STACK, "cdk.tf.json"), join(wd.dir, "cdk.tf.json"));
      const init = await wd.run(["init"]);
      expect(init.code, init.out).toBe(0);
      const apply = await wd.run(["apply", "-auto-approve"]);
      expect(apply.code, apply.out).toBe(0);
      const output = await wd.run(["output", "-json"], { plainFlags: true });
      const outputs = Object.fromEntries(Object.entries(JSON.parse(output.stdout)).map(([k, v]) => [k, (v as { value: unknown }).value]));
      await expectDeployed(org, keys, outputs);
      const destroy = await wd.run(["destroy", "-auto-approve"]);
      expect(destroy.code, destroy.out).toBe(0);
      await expectDestroyed(org);
      wd.assertClean([keys.openai, keys.anthropic, org.tokens.admin], [synth.out, service.logText()]);
      console.log(`[cdktf e2e] ${engine.version}: cdktn synth + init/apply/destroy in ${Math.round(performance.now() - started)} ms`);
    } finally {
      wd.cleanup();
      rmSync(project, { recursive: true, force: true });
    }
  }, 300_000);

  it.runIf(cliRuns)(
    "cdktn synth, deploy and destroy with TERRAFORM_BINARY_NAME; no secret anywhere",
    async () => {
      const project = cdktnProject("cli");
      try {
        const projectConfig = JSON.parse(readFileSync(join(exampleDir, "cdktf.json"), "utf8"));
        writeFileSync(join(project, "cdktf.json"), JSON.stringify({ ...projectConfig, app: "node main.js" }, null, 2));
        // Run by this process's Node: the launcher's `env node` could find an older one on PATH.
        const cli: [string, string] = [process.execPath, join(tools.dir!, "node_modules/cdktn-cli/bin/cdktn")];
        await deployExampleWithCli({ label: "cdktn-cli 0.24.0", cli, project, root: project, engine, service });
      } finally {
        rmSync(project, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
