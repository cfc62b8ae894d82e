// The protocol layer against the real engine: OpenTofu (or Terraform) launches a small provider
// built on cdktf-provider/src/protocol through dev_overrides and runs plan/apply/import/destroy.
// Proves the handshake, AutoMTLS, msgpack values, write-only attributes, private state, ephemeral
// resources and requires_replace as the engine really uses them. Skipped (loudly) without a binary.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enginesFor } from "../e2e/support/engines.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const engines = enginesFor("protocol-engine.test.ts").map((engine) => engine.bin);

// A provider written in plain JS on the compiled protocol layer; "remote" objects live in a JSON file.
const fixtureProvider = (protocolDir: string) => `
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { runPlugin } from "${pathToFileURL(join(protocolDir, "handshake.js"))}";
import { diag, t, Unknown } from "${pathToFileURL(join(protocolDir, "index.js"))}";

const storePath = process.env.KPTEST_STORE;
const load = () => (existsSync(storePath) ? JSON.parse(readFileSync(storePath, "utf8")) : { objects: {}, closed: [], next: 1 });
const save = (db) => writeFileSync(storePath, JSON.stringify(db));
const hint = (key) => key.slice(0, 3) + "…" + key.slice(-4);

const secret = {
  schema: {
    block: {
      attributes: {
        id: { type: t.string, computed: true, useStateForUnknown: true },
        organization_id: { type: t.string, required: true, requiresReplace: true },
        name: { type: t.string, required: true },
        api_key_wo: { type: t.string, optional: true, sensitive: true, writeOnly: true },
        api_key_wo_version: { type: t.number, optional: true },
        key_hint: { type: t.string, computed: true },
        tags: { type: t.map(t.string), optional: true },
      },
    },
  },
  validate({ config }) {
    if (typeof config.api_key_wo === "string" && !config.api_key_wo.startsWith("sk-")) {
      return [diag.error("Invalid API key", "The key must start with sk-.", ["api_key_wo"])];
    }
  },
  // Hints, never secrets: the new key's hint is computed from the write-only value while planning.
  plan({ priorState, proposedNewState, config }) {
    if (proposedNewState === null) return { plannedState: null };
    const planned = { ...proposedNewState };
    if (priorState === null) planned.id = Unknown;
    if (priorState === null || priorState.api_key_wo_version !== config.api_key_wo_version) {
      planned.key_hint = typeof config.api_key_wo === "string" ? hint(config.api_key_wo) : Unknown;
    }
    return { plannedState: planned };
  },
  apply({ priorState, plannedState, config }) {
    const db = load();
    if (plannedState === null) {
      delete db.objects[priorState.id];
      save(db);
      return { newState: null };
    }
    const id = priorState?.id ?? "sec_" + db.next++;
    const key = typeof config.api_key_wo === "string" && (priorState === null || priorState.api_key_wo_version !== config.api_key_wo_version)
      ? config.api_key_wo
      : db.objects[id]?.key;
    db.objects[id] = { org: plannedState.organization_id, name: plannedState.name, key };
    save(db);
    return { newState: { ...plannedState, id, key_hint: key ? hint(key) : null }, private: Buffer.from("rev-" + db.next) };
  },
  read({ currentState, private: priv }) {
    const record = load().objects[currentState.id];
    if (!record) return { newState: null };
    return {
      newState: { ...currentState, organization_id: record.org, name: record.name, key_hint: record.key ? hint(record.key) : null },
      private: priv.length > 0 ? priv : Buffer.from("rev-imported"),
    };
  },
  import({ id }) {
    const [org, sec] = id.split("/");
    return { state: { id: sec, organization_id: org } };
  },
};

runPlugin(async () => ({
  schema: { block: { attributes: { endpoint: { type: t.string, optional: true } } } },
  resources: { kptest_secret: secret },
  dataSources: {
    kptest_secrets: {
      schema: { block: { attributes: { organization_id: { type: t.string, required: true }, names: { type: t.list(t.string), computed: true } } } },
      read: ({ config }) => ({
        state: { ...config, names: Object.values(load().objects).filter((o) => o.org === config.organization_id).map((o) => o.name).sort() },
      }),
    },
  },
  ephemeralResources: {
    kptest_token: {
      schema: { block: { attributes: { name: { type: t.string, required: true }, value: { type: t.string, computed: true, sensitive: true } } } },
      open: ({ config }) => ({ result: { name: config.name, value: "sk-ephemeral-" + config.name + "-7777" }, private: Buffer.from(config.name) }),
      close: ({ private: priv }) => {
        const db = load();
        db.closed.push(String(priv));
        save(db);
      },
    },
  },
  configure: ({ config }) => (config.endpoint === "http://fixture" ? { data: {} } : { diagnostics: [diag.error("Bad endpoint", "", ["endpoint"])] }),
}));
`;

const configuration = `
terraform {
  required_providers {
    kptest = { source = "keyplane/kptest" }
  }
}

provider "kptest" {
  endpoint = "http://fixture"
}

variable "key" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "key_version" {
  type    = number
  default = 1
}

variable "org" {
  type    = string
  default = "org_1"
}

resource "kptest_secret" "a" {
  organization_id    = var.org
  name               = "openai"
  api_key_wo         = var.key
  api_key_wo_version = var.key_version
  tags               = { team = "ml" }
}

ephemeral "kptest_token" "t" {
  name = "gen"
}

resource "kptest_secret" "b" {
  organization_id    = "org_1"
  name               = "from-ephemeral"
  api_key_wo         = ephemeral.kptest_token.t.value
  api_key_wo_version = 1
}

data "kptest_secrets" "all" {
  organization_id = "org_1"
  depends_on      = [kptest_secret.a, kptest_secret.b]
}

output "hint" {
  value = kptest_secret.a.key_hint
}

output "names" {
  value = data.kptest_secrets.all.names
}
`;

describe.skipIf(engines.length === 0).each(engines.length > 0 ? engines : ["none"])("real engine %s", (engine) => {
  let dir: string;
  let store: string;
  const run = (args: string[], vars: Record<string, string> = {}, flags = ["-no-color", "-input=false"]) => {
    const result = spawnSync(engine, [args[0], ...flags, ...args.slice(1)], {
      cwd: join(dir, "work"),
      encoding: "utf8",
      env: {
        ...process.env,
        TF_CLI_CONFIG_FILE: join(dir, "cli.tfrc"),
        TF_IN_AUTOMATION: "1",
        KPTEST_STORE: store,
        TF_VAR_key: "sk-test-SECRET1234",
        ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [`TF_VAR_${k}`, v])),
      },
      timeout: 60_000,
    });
    return { code: result.status, out: result.stdout + result.stderr };
  };
  const stateText = () => readFileSync(join(dir, "work/terraform.tfstate"), "utf8");
  const instance = (name: string) => JSON.parse(stateText()).resources.find((r: any) => r.type === "kptest_secret" && r.name === name).instances[0];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "kp-engine-"));
    store = join(dir, "remote.json");
    const plugins = join(dir, "plugins");
    execFileSync("mkdir", ["-p", plugins, join(dir, "work")]);
    writeFileSync(join(plugins, "kptest.mjs"), fixtureProvider(join(root, "dist/cdktf-provider/src/protocol")));
    writeFileSync(join(plugins, "terraform-provider-kptest"), `#!/bin/sh\nexec node "${join(plugins, "kptest.mjs")}" "$@"\n`);
    chmodSync(join(plugins, "terraform-provider-kptest"), 0o755);
    writeFileSync(join(dir, "cli.tfrc"), `provider_installation {\n  dev_overrides {\n    "keyplane/kptest" = "${plugins}"\n  }\n  direct {}\n}\n`);
    writeFileSync(join(dir, "work/main.tf"), configuration);
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("plans with hints only, applies, and stores no secret anywhere", () => {
    const plan = run(["plan"]);
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain('key_hint           = "sk-…1234"');
    expect(plan.out).toContain("# kptest_secret.a will be created");
    expect(plan.out).not.toContain("SECRET");

    const apply = run(["apply", "-auto-approve"]);
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain('hint = "sk-…1234"');
    expect(apply.out).toMatch(/names = tolist\(\[\s*"from-ephemeral",\s*"openai",\s*\]\)/);
    expect(apply.out).not.toContain("SECRET");

    const state = stateText();
    expect(state).not.toContain("SECRET1234");
    expect(state).not.toContain("sk-ephemeral");
    for (const name of ["a", "b"]) {
      expect(instance(name).attributes.api_key_wo).toBeNull();
      expect(Buffer.from(instance(name).private, "base64").toString()).toMatch(/^rev-\d+$/); // private state kept
    }
    expect(instance("a").attributes.key_hint).toBe("sk-…1234");
    const remote = JSON.parse(readFileSync(store, "utf8"));
    expect(
      Object.values(remote.objects)
        .map((o: any) => o.key)
        .sort(),
    ).toEqual(["sk-ephemeral-gen-7777", "sk-test-SECRET1234"]);
    expect(remote.closed).toContain("gen"); // the ephemeral resource was closed
  }, 120_000);

  it("plans no changes on a second run (write-only values and private state are consistent)", () => {
    const plan = run(["plan", "-detailed-exitcode"]);
    expect(plan.code, plan.out).toBe(0);
    expect(plan.out).toContain("No changes");
  }, 60_000);

  it("shows a rotation as a hint change, and a changed requiresReplace attribute as a replacement", () => {
    const rotate = run(["plan"], { key: "sk-test-NEWKEY9876", key_version: "2" });
    expect(rotate.code, rotate.out).toBe(0);
    expect(rotate.out).toContain('~ key_hint           = "sk-…1234" -> "sk-…9876"');
    expect(rotate.out).not.toContain("NEWKEY");

    const move = run(["plan"], { org: "org_2" });
    expect(move.code, move.out).toBe(0);
    expect(move.out).toContain("# kptest_secret.a must be replaced");
    expect(move.out).toContain('~ organization_id    = "org_1" -> "org_2" # forces replacement');
  }, 60_000);

  it("reports validation errors at the attribute", () => {
    const bad = run(["plan"], { key: "pk-wrong" });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("Error: Invalid API key");
    expect(bad.out).toContain("api_key_wo");
  }, 60_000);

  it("imports an existing object and destroys everything", () => {
    const removed = run(["state", "rm", "kptest_secret.a"], {}, []);
    expect(removed.code, removed.out).toBe(0);
    const remote = JSON.parse(readFileSync(store, "utf8"));
    const id = Object.entries(remote.objects).find(([, o]: [string, any]) => o.name === "openai")![0];
    const imported = run(["import", "kptest_secret.a", `org_1/${id}`]);
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain("Import successful!");
    expect(instance("a").attributes).toMatchObject({ key_hint: "sk-…1234", name: "openai", organization_id: "org_1" });
    expect(Buffer.from(instance("a").private, "base64").toString()).toBe("rev-imported");

    const destroy = run(["destroy", "-auto-approve"]);
    expect(destroy.code, destroy.out).toBe(0);
    expect(JSON.parse(readFileSync(store, "utf8")).objects).toEqual({});
  }, 120_000);
});
