// `tofu plan` of 100 and 400 keyplane_credential resources through the packaged plugin (what
// `init` installs), side by side with the same number of built-in terraform_data resources (the
// engine alone) and of the Go baseline provider's keyplane_credential (bench/go-provider:
// terraform-plugin-framework, one GET per resource), all against one service in one run. The
// plans of every configuration are interleaved round by round, so the machine's drift falls on
// all of them alike; each figure is the median of its rounds.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SIZES = [100, 400] as const;
const ROUNDS = Number(process.env.BENCH_PLAN_ROUNDS ?? 5);

interface Organization {
  id: string;
  adminToken: string;
}

export interface PlanBenchOptions {
  tofu: string;
  /** The packaged plugin executable (`npm run build:provider`): what `init` installs. */
  pluginExecutable: string;
  /** The directory holding the Go baseline's `terraform-provider-keyplane`, or null to skip it. */
  goProviderDir: string | null;
  endpoint: string;
  /** A new organization (each configuration gets its own, so listings hold only its credentials). */
  organization: (label: string) => Promise<Organization>;
}

type Kind = "keyplane" | "go_provider" | "terraform_data";

function hcl(kind: Kind, size: number): string {
  if (kind === "terraform_data") return `resource "terraform_data" "c" {\n  count = ${size}\n  input = { name = "bench-\${count.index}" }\n}\n`;
  // The same resource for both providers; only where the engine finds the plugin differs.
  const source = kind === "keyplane" ? "keyplane/keyplane" : "bench/keyplane";
  return `terraform {
  required_providers {
    keyplane = { source = "${source}" }
  }
}
provider "keyplane" {}
resource "keyplane_credential" "c" {
  count = ${size}
  provider_type = "openai"
  name = "bench-\${count.index}"
  api_key_wo = format("sk-bench%040d", count.index)
  api_key_wo_version = 1
}
`;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function planBench(opts: PlanBenchOptions) {
  const work = mkdtempSync(join(tmpdir(), "kp-bench-plan-"));
  try {
    const cliConfig = join(work, "tofurc");
    // dev_overrides takes a directory and runs the terraform-provider-keyplane in it.
    const pluginDir = join(work, "keyplane-plugin");
    mkdirSync(pluginDir);
    symlinkSync(opts.pluginExecutable, join(pluginDir, "terraform-provider-keyplane"));
    const overrides = [`    "keyplane/keyplane" = "${pluginDir}"`];
    if (opts.goProviderDir) overrides.push(`    "bench/keyplane" = "${opts.goProviderDir}"`);
    writeFileSync(cliConfig, `provider_installation {\n  dev_overrides {\n${overrides.join("\n")}\n  }\n  direct {}\n}\n`);

    const kinds: Kind[] = opts.goProviderDir ? ["keyplane", "go_provider", "terraform_data"] : ["keyplane", "terraform_data"];
    const configs: { name: string; dir: string; env: NodeJS.ProcessEnv }[] = [];
    for (const size of SIZES) {
      for (const kind of kinds) {
        const name = `${kind}_${size}`;
        const dir = join(work, name);
        mkdirSync(dir);
        writeFileSync(join(dir, "main.tf"), hcl(kind, size));
        const org = kind === "terraform_data" ? null : await opts.organization(name.replaceAll("_", "-"));
        const env: NodeJS.ProcessEnv = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, TF_IN_AUTOMATION: "1" };
        if (org) Object.assign(env, { KEYPLANE_ENDPOINT: opts.endpoint, KEYPLANE_TOKEN: org.adminToken, KEYPLANE_ORGANIZATION_ID: org.id });
        configs.push({ name, dir, env });
      }
    }
    const run = (config: (typeof configs)[number], ...args: string[]) => {
      const r = spawnSync(opts.tofu, args, { cwd: config.dir, env: config.env, encoding: "utf8" });
      // -detailed-exitcode: 2 would mean the plan found changes, which it must not.
      if (r.status !== 0) throw new Error(`tofu ${args.join(" ")} in ${config.name} failed (exit ${r.status}): ${r.stderr}${r.stdout.slice(-2000)}`);
    };
    for (const config of configs) {
      if (config.name.startsWith("terraform_data")) run(config, "init", "-input=false", "-no-color");
      run(config, "apply", "-auto-approve", "-input=false", "-no-color");
    }

    const samples: Record<string, number[]> = Object.fromEntries(configs.map((c) => [c.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // A different configuration goes first each round.
      const order = configs.map((_, i) => configs[(i + round) % configs.length]);
      for (const config of order) {
        const started = process.hrtime.bigint();
        run(config, "plan", "-input=false", "-no-color", "-detailed-exitcode");
        samples[config.name].push(Number(process.hrtime.bigint() - started) / 1e9);
      }
      console.error(`plan round ${round + 1}/${ROUNDS}: ${configs.map((c) => `${c.name} ${samples[c.name][round].toFixed(2)} s`).join(", ")}`);
    }

    const seconds = (name: string) => (samples[name] ? round2(median(samples[name])) : null);
    const ratioOf = (a: string, b: string) => (samples[a] && samples[b] ? round2(median(samples[a]) / median(samples[b])) : null);
    return {
      rounds: ROUNDS,
      keyplane_100_s: seconds("keyplane_100"),
      keyplane_400_s: seconds("keyplane_400"),
      go_provider_100_s: seconds("go_provider_100"),
      go_provider_400_s: seconds("go_provider_400"),
      terraform_data_100_s: seconds("terraform_data_100"),
      terraform_data_400_s: seconds("terraform_data_400"),
      ratio_vs_go_provider_100: ratioOf("keyplane_100", "go_provider_100"),
      ratio_vs_go_provider_400: ratioOf("keyplane_400", "go_provider_400"),
      ratio_vs_terraform_data: ratioOf("keyplane_100", "terraform_data_100"),
      samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map(round2)])),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
