// The checked-in CDKTF bindings against the plugin they describe: regenerated from the running
// plugin's GetProviderSchema they must be byte-identical (else `npm run gen:cdktf`), the
// schema conversion must equal what the engines print for `providers schema -json`, and the
// generated types must compile together with the example app.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as bindings from "../../cdktf-provider/cdktf/index.js";
import {
  SCHEMA_KEY,
  diffFiles,
  fetchProviderSchema,
  generateBindings,
  readCheckedIn,
  toProvidersSchemaJson,
  type ProvidersSchemaJson,
} from "../../scripts/gen-cdktf.mjs";
import { findEngines, pluginDir } from "../e2e/support/engines.js";
import { exampleDir, repoRoot } from "./support.js";

const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
let schema: ProvidersSchemaJson;
let scratch: string;

beforeAll(async () => {
  schema = toProvidersSchemaJson(await fetchProviderSchema());
  scratch = mkdtempSync(join(tmpdir(), "kp-cdktf-bindings-"));
}, 300_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("generated bindings", () => {
  it("are up to date with the plugin's schema", async () => {
    const started = performance.now();
    const files = await generateBindings(schema);
    const stale = diffFiles(files, readCheckedIn());
    console.log(`[cdktf] regenerated ${files.size} binding files from the plugin's schema in ${Math.round(performance.now() - started)} ms`);
    expect(stale, `cdktf-provider/cdktf/generated is stale (${stale.join(", ")}): run \`npm run gen:cdktf\``).toEqual([]);
  }, 120_000);

  it("bind every type of the schema, exported from keyplane/cdktf under cdktf naming", () => {
    const provider = schema.provider_schemas[SCHEMA_KEY];
    const exported = (Object.values(bindings) as unknown[]).filter(
      (v): v is { tfResourceType: string } => typeof v === "function" && typeof (v as { tfResourceType?: unknown }).tfResourceType === "string",
    );
    const byType = (type: string) => exported.filter((c) => c.tfResourceType === type);
    for (const type of Object.keys(provider.resource_schemas ?? {})) expect(byType(type), type).toHaveLength(1);
    for (const type of [...Object.keys(provider.data_source_schemas ?? {}), ...Object.keys(provider.ephemeral_resource_schemas ?? {})]) {
      expect(byType(type), type).toHaveLength(1);
    }
    expect(bindings.KeyplaneProvider.tfResourceType).toBe("keyplane");
    expect(bindings.Credential.tfResourceType).toBe("keyplane_credential");
    expect(bindings.Project.tfResourceType).toBe("keyplane_project");
    expect(bindings.ModelAlias.tfResourceType).toBe("keyplane_model_alias");
    expect(bindings.IdentityBinding.tfResourceType).toBe("keyplane_identity_binding");
    expect(bindings.DataKeyplaneModelAliases.tfResourceType).toBe("keyplane_model_aliases");
    expect(bindings.DataKeyplaneCredentials.tfResourceType).toBe("keyplane_credentials");
    expect(bindings.DataKeyplaneProviders.tfResourceType).toBe("keyplane_providers");
    expect(bindings.EphemeralKeyplaneResolvedCredential.tfResourceType).toBe("keyplane_resolved_credential");
    expect(typeof bindings.secretVariable).toBe("function");
    // The aspect's list comes from the schema: write-only and sensitive arguments.
    expect(bindings.secretAttributes.keyplane_credential).toEqual(["api_key_wo", "fields_wo"]);
    expect(bindings.secretAttributes.keyplane).toEqual(["token"]);
  });

  it("type-check together with the example app (tsc --noEmit, bindings from source)", () => {
    const tsconfig = join(scratch, "tsconfig.json");
    writeFileSync(
      tsconfig,
      JSON.stringify({
        extends: join(repoRoot, "tsconfig.json"),
        compilerOptions: {
          noEmit: true,
          rootDir: repoRoot,
          typeRoots: [join(repoRoot, "node_modules/@types")],
          paths: { "keyplane/cdktf": [join(repoRoot, "cdktf-provider/cdktf/index.ts")] },
        },
        include: [join(exampleDir, "main.ts"), join(repoRoot, "cdktf-provider/cdktf/**/*.ts")],
      }),
    );
    const res = spawnSync(process.execPath, [tsc, "-p", tsconfig, "--listFilesOnly"], { encoding: "utf8" });
    expect(res.stdout).toContain(join(repoRoot, "cdktf-provider/cdktf/generated/credential/index.ts"));
    const check = spawnSync(process.execPath, [tsc, "-p", tsconfig], { encoding: "utf8" });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  }, 120_000);

  it("type-check the example against the package's published types (keyplane/cdktf from dist)", () => {
    const check = spawnSync(process.execPath, [tsc, "-p", join(exampleDir, "tsconfig.json"), "--noEmit"], { encoding: "utf8" });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  }, 120_000);
});

const engines = findEngines();

describe.skipIf(engines.length === 0).each(engines)("schema conversion vs $version", (engine) => {
  it("equals the engine's `providers schema -json` for the plugin", () => {
    const dir = mkdtempSync(join(scratch, `${engine.kind}-`));
    writeFileSync(join(dir, "cli.tfrc"), `provider_installation {\n  dev_overrides {\n    "keyplane/keyplane" = "${pluginDir}"\n  }\n  direct {}\n}\n`);
    writeFileSync(join(dir, "main.tf"), `terraform {\n  required_providers {\n    keyplane = { source = "keyplane/keyplane" }\n  }\n}\n`);
    const res = spawnSync(engine.bin, ["providers", "schema", "-json"], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TF_CLI_CONFIG_FILE: join(dir, "cli.tfrc"), CHECKPOINT_DISABLE: "1" },
      timeout: 60_000,
    });
    expect(res.status, res.stderr).toBe(0);
    const printed = JSON.parse(res.stdout);
    const address = engine.kind === "tofu" ? "registry.opentofu.org/keyplane/keyplane" : "registry.terraform.io/keyplane/keyplane";
    const theirs = printed.provider_schemas[address];
    const ours = schema.provider_schemas[SCHEMA_KEY];
    // Newer engines add sections Keyplane has nothing in (identities, actions, list resources).
    for (const key of ["provider", "resource_schemas", "data_source_schemas", "ephemeral_resource_schemas"] as const) {
      expect(theirs[key], key).toEqual(ours[key]);
    }
  }, 60_000);
});
