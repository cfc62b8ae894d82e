// Synthesis with `node` (no CDKTF CLI): the example's cdk.tf.json, and the synth-time literal-secret
// aspect stopping a program that writes a secret into its configuration before anything is on disk.
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { App, Aspects, Fn, TerraformStack, TerraformVariable, Token } from "cdktf";
import { Construct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Credential,
  DataKeyplaneCredentials,
  EphemeralKeyplaneResolvedCredential,
  KeyplaneProvider,
  LiteralSecretError,
  NoLiteralSecrets,
  Project,
  secretVariable,
} from "../../cdktf-provider/cdktf/index.js";
import { PROVIDER_VERSION_CONSTRAINT } from "../../scripts/gen-cdktf.mjs";
import { filesContaining, repoRoot, run, synthExample } from "./support.js";

const OPENAI_KEY = "sk-proj-SYNTHSENTINEL0000openai9Qz";
const ANTHROPIC_KEY = "sk-ant-api03-SYNTHSENTINEL0000anthropicx9Qz";
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "kp-cdktf-synth-"));
}, 300_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("example app (examples/cdktf) synthesized with node", () => {
  let synth: Awaited<ReturnType<typeof synthExample>>;
  let cwd: string;

  beforeAll(async () => {
    cwd = mkdtempSync(join(scratch, "example-"));
    // Exported as a user would before `cdktf deploy`: synthesis must not read them.
    synth = await synthExample(cwd, { TF_VAR_openai_api_key: OPENAI_KEY, TF_VAR_anthropic_api_key: ANTHROPIC_KEY });
    console.log(`[cdktf] example synth with node: ${Math.round(synth.result.ms)} ms`);
  }, 60_000);

  it("declares the organization's credentials, the inheriting project and the hint outputs", () => {
    expect(synth.result.code, synth.result.out).toBe(0);
    const { config } = synth;
    // cdktf-cli rejects stacks without a version constraint; a filesystem mirror install satisfies it.
    expect(config.terraform.required_providers.keyplane).toEqual({ source: "keyplane/keyplane", version: PROVIDER_VERSION_CONSTRAINT });
    const credentials = config.resource.keyplane_credential;
    expect(Object.keys(credentials).sort()).toEqual(["anthropic", "openai"]);
    expect(credentials.openai).toMatchObject({
      provider_type: "openai",
      name: "production",
      api_key_wo: "${var.openai_api_key}",
      api_key_wo_version: 1,
      is_default: true,
    });
    expect(credentials.anthropic).toMatchObject({ provider_type: "anthropic", api_key_wo: "${var.anthropic_api_key}", api_key_wo_version: 1 });
    expect(credentials.openai.project_id).toBeUndefined(); // organization-level
    expect(config.resource.keyplane_project.assistant).toMatchObject({ inherit_organization_credentials: true });
    expect(config.output.openai_key_hint.value).toBe("${keyplane_credential.openai.key_hint}");
    expect(config.output.anthropic_key_hint.value).toBe("${keyplane_credential.anthropic.key_hint}");
  });

  it("takes the keys through sensitive, ephemeral variables", () => {
    for (const name of ["openai_api_key", "anthropic_api_key"]) {
      expect(synth.config.variable[name]).toMatchObject({ type: "string", sensitive: true, ephemeral: true });
      expect(synth.config.variable[name].default).toBeUndefined();
    }
    // Endpoint, token and organization come from KEYPLANE_* at apply time.
    expect(synth.config.provider.keyplane).toEqual([{}]);
  });

  it("writes no secret: not the exported TF_VAR_ values, nothing that looks like a key", () => {
    const outdir = join(cwd, "cdktf.out");
    for (const secret of [OPENAI_KEY, ANTHROPIC_KEY, "SYNTHSENTINEL"]) expect(filesContaining(outdir, secret)).toEqual([]);
    expect(JSON.stringify(synth.config)).not.toMatch(/sk-(proj-|ant-)?[A-Za-z0-9_-]{8,}/);
    expect(synth.result.out).not.toContain("SYNTHSENTINEL");
  });
});

describe("a literal secret in the program", () => {
  /** A one-file app importing the compiled bindings, run with `node` like a user's app.js. */
  async function runApp(name: string, body: string) {
    const dir = mkdtempSync(join(scratch, `${name}-`));
    symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
    const bindings = pathToFileURL(join(repoRoot, "dist/cdktf-provider/cdktf/index.js")).href;
    writeFileSync(
      join(dir, "app.mjs"),
      `import { App, TerraformStack } from "cdktf";\nimport * as kp from ${JSON.stringify(bindings)};\n` +
        `const app = new App();\nconst stack = new TerraformStack(app, "literal");\n${body}\napp.synth();\n`,
    );
    const result = await run(process.execPath, ["app.mjs"], { cwd: dir });
    return { dir, result };
  }

  it("stops `node app.js` with the aspect's message, and nothing with the secret reaches the disk", async () => {
    const secret = "sk-proj-LITERALSECRET1234abcd";
    const { dir, result } = await runApp(
      "api-key",
      `new kp.KeyplaneProvider(stack, "keyplane");\n` +
        `new kp.Credential(stack, "openai", { providerType: "openai", name: "prod", apiKeyWo: ${JSON.stringify(secret)}, apiKeyWoVersion: 1 });`,
    );
    expect(result.code).not.toBe(0);
    expect(result.out).toContain("LiteralSecretError");
    expect(result.out).toContain("keyplane_credential at literal/openai, argument api_key_wo");
    expect(result.out).toContain('secretVariable(this, "openai_api_key")');
    expect(result.out).toContain("TF_VAR_openai_api_key");
    expect(result.out).not.toContain("LITERALSECRET");
    expect(filesContaining(dir, "LITERALSECRET").filter((f) => f !== "app.mjs")).toEqual([]);
    expect(filesContaining(join(dir, "cdktf.out"), "keyplane_credential")).toEqual([]); // the stack was not written at all
  }, 60_000);

  it("in the provider token points at KEYPLANE_TOKEN", async () => {
    const { dir, result } = await runApp("token", `new kp.KeyplaneProvider(stack, "keyplane", { token: "kp_LITERALTOKEN0123456789abcdef" });`);
    expect(result.code).not.toBe(0);
    expect(result.out).toContain("provider keyplane at literal/keyplane, argument token");
    expect(result.out).toContain("KEYPLANE_TOKEN");
    expect(result.out).not.toContain("LITERALTOKEN");
    expect(filesContaining(join(dir, "cdktf.out"), "LITERALTOKEN")).toEqual([]);
  }, 60_000);
});

describe("the literal-secret aspect (in process)", () => {
  function synthesize(build: (stack: TerraformStack) => void): { config: any; error?: unknown; outdir: string } {
    const outdir = mkdtempSync(join(scratch, "inproc-"));
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "s");
    build(stack);
    try {
      app.synth();
    } catch (error) {
      return { config: undefined, error, outdir };
    }
    return { config: JSON.parse(readFileSync(join(outdir, "stacks/s/cdk.tf.json"), "utf8")), outdir };
  }

  it("passes references of every kind: variables, ephemeral attributes, map tokens, functions", () => {
    const { config, error } = synthesize((stack) => {
      new KeyplaneProvider(stack, "keyplane", { token: secretVariable(stack, "keyplane_token").value });
      const resolved = new EphemeralKeyplaneResolvedCredential(stack, "upstream", { providerType: "openai" });
      const fields = new TerraformVariable(stack, "aws_fields", { type: "map(string)", sensitive: true });
      new Credential(stack, "copy", { providerType: "openai", name: "copy", apiKeyWo: resolved.secret, apiKeyWoVersion: 1 });
      new Credential(stack, "aws", { providerType: "bedrock", name: "aws", fieldsWo: Token.asStringMap(fields.value), fieldsWoVersion: 1 });
      new Credential(stack, "mixed", {
        providerType: "bedrock",
        name: "mixed",
        fieldsWo: { access_key_id: resolved.fields.lookup("access_key_id"), secret_access_key: Fn.trimspace(secretVariable(stack, "sak").value) },
      });
    });
    expect(error).toBeUndefined();
    expect(config.resource.keyplane_credential.copy.api_key_wo).toBe("${ephemeral.keyplane_resolved_credential.upstream.secret}");
    expect(config.resource.keyplane_credential.aws.fields_wo).toBe("${var.aws_fields}");
    expect(config.provider.keyplane[0].token).toBe("${var.keyplane_token}");
  });

  it("reports every literal at once: api_key_wo, a value inside fields_wo, an override, the provider token", () => {
    const { error, outdir } = synthesize((stack) => {
      new KeyplaneProvider(stack, "keyplane", { token: "kp_INPROCLITERAL0000000000000000" });
      new Credential(stack, "openai", { providerType: "openai", name: "a", apiKeyWo: "sk-INPROCLITERAL00000000" });
      new Credential(stack, "bedrock", {
        providerType: "bedrock",
        name: "b",
        fieldsWo: { access_key_id: "AKIAINPROCLITERAL000", secret_access_key: secretVariable(stack, "bedrock_sak").value },
      });
      new Credential(stack, "sneaky", { providerType: "openai", name: "c" }).addOverride("api_key_wo", "sk-INPROCLITERAL11111111");
    });
    expect(error).toBeInstanceOf(LiteralSecretError);
    const findings = (error as LiteralSecretError).findings.map((f) => `${f.constructPath} ${f.argument}`);
    expect(findings.sort()).toEqual(["s/bedrock fields_wo.access_key_id", "s/keyplane token", "s/openai api_key_wo", "s/sneaky api_key_wo"]);
    expect((error as Error).message).toContain('secretVariable(this, "bedrock_access_key_id")');
    expect((error as Error).message).not.toContain("INPROCLITERAL");
    expect(filesContaining(outdir, "INPROCLITERAL")).toEqual([]);
  });

  it("is added once per stack, by the provider, however many provider blocks there are", () => {
    const app = new App({ outdir: mkdtempSync(join(scratch, "aspects-")) });
    const stack = new TerraformStack(app, "s");
    new KeyplaneProvider(stack, "a");
    new KeyplaneProvider(new Construct(stack, "nested"), "b", { alias: "b" });
    expect(Aspects.of(stack).all.filter((a) => a instanceof NoLiteralSecrets)).toHaveLength(1);
  });

  it("leaves non-secret literals alone", () => {
    const { error } = synthesize((stack) => {
      new KeyplaneProvider(stack, "keyplane", { endpoint: "http://127.0.0.1:8080", organizationId: "org_01J0000000000000000000000" });
      new Credential(stack, "openai", { providerType: "openai", name: "n", settings: { openai_organization: "org-abc" }, owner: "me" });
      new Project(stack, "p", { name: "p" });
      new DataKeyplaneCredentials(stack, "all", { providerType: "openai" });
    });
    expect(error).toBeUndefined();
  });
});

describe("secretVariable", () => {
  it("is named exactly as given, wherever it is declared, so TF_VAR_<name> reaches it", () => {
    const outdir = mkdtempSync(join(scratch, "vars-"));
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "s");
    const nested = new Construct(new Construct(stack, "team"), "ml");
    const v = secretVariable(nested, "ml_openai_key", { description: "ML team key" });
    expect(v.envVar).toBe("TF_VAR_ml_openai_key");
    expect(v.value).toMatch(/^\$\{TfToken\[/);
    app.synth();
    const config = JSON.parse(readFileSync(join(outdir, "stacks/s/cdk.tf.json"), "utf8"));
    expect(config.variable).toEqual({
      ml_openai_key: { type: "string", sensitive: true, ephemeral: true, description: "ML team key" },
    });
  });

  it("rejects names a shell cannot export, and a second declaration of the same name", () => {
    const stack = new TerraformStack(new App({ outdir: mkdtempSync(join(scratch, "badvars-")) }), "s");
    expect(() => secretVariable(stack, "openai-key")).toThrow(/TF_VAR_openai-key can be exported/);
    secretVariable(stack, "dup");
    expect(() => secretVariable(new Construct(stack, "x"), "dup")).toThrow(/declared twice/);
  });
});

describe("EphemeralKeyplaneResolvedCredential", () => {
  it("emits an ephemeral block and ephemeral.* references", () => {
    const outdir = mkdtempSync(join(scratch, "ephemeral-"));
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "s");
    const provider = new KeyplaneProvider(stack, "keyplane");
    const resolved = new EphemeralKeyplaneResolvedCredential(stack, "key", { providerType: "anthropic", projectId: "prj_1", provider });
    new Credential(stack, "mirror", { providerType: "anthropic", name: "m", apiKeyWo: resolved.secret, dependsOn: [resolved] });
    app.synth();
    const config = JSON.parse(readFileSync(join(outdir, "stacks/s/cdk.tf.json"), "utf8"));
    expect(config.ephemeral.keyplane_resolved_credential.key).toMatchObject({ provider_type: "anthropic", project_id: "prj_1", provider: "keyplane" });
    expect(config.data).toBeUndefined();
    expect(config.resource.keyplane_credential.mirror.api_key_wo).toBe("${ephemeral.keyplane_resolved_credential.key.secret}");
    expect(config.resource.keyplane_credential.mirror.depends_on).toEqual(["ephemeral.keyplane_resolved_credential.key"]);
  });
});
