// One OpenTofu/Terraform working directory per scenario: HCL, a CLI config whose dev_overrides
// point keyplane/keyplane at cdktf-provider/bin, and every engine run's output kept for the leak
// scans. Engines run asynchronously: the Keyplane service they call lives in this very process.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pluginDir, type Engine } from "./engines.js";
import { assertNoSecret } from "./secrets.js";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr */
  out: string;
  ms: number;
}

export interface RunOptions {
  /** Input variables, passed as TF_VAR_<name> (never on the command line). */
  vars?: Record<string, string>;
  env?: Record<string, string>;
  /** Omit -no-color/-input=false (commands such as `state rm` take neither). */
  plainFlags?: boolean;
  timeoutMs?: number;
}

/** Totals over every working directory of the run, for the report. */
export const engineStats = { runs: 0, ms: 0 };

// Only what an engine needs from the test process: nothing that could configure the provider
// behind the test's back (KEYPLANE_*) or change the engine's behaviour (TF_*).
function baseEnv(): Record<string, string> {
  const keep: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name.startsWith("KEYPLANE_") || name.startsWith("TF_") || name.startsWith("VITEST")) continue;
    keep[name] = value;
  }
  return keep;
}

export class Workdir {
  /** The directory holding the HCL, state and plans (what the leak scan covers). */
  readonly dir: string;
  private readonly root: string;
  private readonly cliConfig: string;
  /** Output of every run and `show -json`, in order. */
  readonly transcript: string[] = [];
  runs = 0;
  private readonly defaults: RunOptions;

  constructor(
    readonly engine: Engine,
    name: string,
    defaults: RunOptions = {},
  ) {
    this.root = mkdtempSync(join(tmpdir(), `kp-e2e-${name}-`));
    this.dir = join(this.root, "work");
    mkdirSync(this.dir);
    this.cliConfig = join(this.root, "cli.tfrc");
    writeFileSync(this.cliConfig, `provider_installation {\n  dev_overrides {\n    "keyplane/keyplane" = "${pluginDir}"\n  }\n  direct {}\n}\n`);
    this.defaults = defaults;
  }

  write(file: string, content: string): void {
    writeFileSync(join(this.dir, file), content);
  }

  remove(file: string): void {
    rmSync(join(this.dir, file), { force: true });
  }

  async run(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const [command, ...rest] = args;
    const flags = options.plainFlags ? [] : ["-no-color", "-input=false"];
    const vars = { ...this.defaults.vars, ...options.vars };
    const env = {
      ...baseEnv(),
      TF_CLI_CONFIG_FILE: this.cliConfig,
      TF_IN_AUTOMATION: "1",
      CHECKPOINT_DISABLE: "1",
      // Provider log lines land in a file of the working directory, so the leak scan reads them.
      TF_LOG_PROVIDER: "debug",
      TF_LOG_PATH: join(this.dir, "engine.log"),
      ...this.defaults.env,
      ...options.env,
      ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [`TF_VAR_${k}`, v])),
    };
    const started = Date.now();
    const result = await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(this.engine.bin, [command, ...flags, ...rest], { cwd: this.dir, env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? this.defaults.timeoutMs ?? 120_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, out: stdout + stderr, ms: Date.now() - started });
      });
    });
    this.runs++;
    engineStats.runs++;
    engineStats.ms += result.ms;
    this.transcript.push(`$ ${this.engine.kind} ${args.join(" ")}\n${result.out}`);
    return result;
  }

  /** `plan -out=<file>` then `show -json <file>` (kept in the transcript for the leak scan). */
  async plan(file: string, args: string[] = [], options: RunOptions = {}): Promise<{ plan: RunResult; json: any; jsonText: string }> {
    const plan = await this.run(["plan", `-out=${file}`, ...args], options);
    if (plan.code !== 0 && plan.code !== 2) return { plan, json: undefined, jsonText: "" };
    const show = await this.run(["show", "-json", file], { ...options, plainFlags: true, vars: {} });
    if (show.code !== 0) throw new Error(`show -json ${file} failed:\n${show.out}`);
    return { plan, json: JSON.parse(show.stdout), jsonText: show.stdout };
  }

  state(): any {
    return JSON.parse(readFileSync(join(this.dir, "terraform.tfstate"), "utf8"));
  }

  /** The one instance of a managed resource in the state file, private state decoded. */
  instance(type: string, name: string): { attributes: Record<string, any>; private: any } | undefined {
    const resource = this.state().resources.find((r: any) => r.mode === "managed" && r.type === type && r.name === name);
    const instance = resource?.instances[0];
    if (!instance) return undefined;
    return {
      attributes: instance.attributes,
      private: instance.private ? JSON.parse(Buffer.from(instance.private, "base64").toString("utf8")) : undefined,
    };
  }

  /** No secret in the working directory, the CLI output, the `show -json` output and `extraTexts` (e.g. the service log). */
  assertClean(secrets: readonly string[], extraTexts: readonly string[] = []): number {
    return assertNoSecret(secrets, this.dir, [...this.transcript, ...extraTexts]);
  }

  /** Removes the directory, unless KEYPLANE_E2E_KEEP=1 (then prints where it is, for debugging). */
  cleanup(): void {
    if (process.env.KEYPLANE_E2E_KEEP === "1") console.log(`[e2e] kept ${this.root}`);
    else rmSync(this.root, { recursive: true, force: true });
  }
}
