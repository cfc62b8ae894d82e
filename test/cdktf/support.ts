// Shared by the CDKTF suites (test/cdktf/*.test.ts, test/e2e/cdktf*.test.ts): the example app
// (compiled by test/support/build.global.ts), synthesis through plain `node`, and the CDK command-line
// tools from the tool cache (cdktf-provider/scripts/install-cdk-tools.sh).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const exampleDir = join(repoRoot, "examples/cdktf");
export const exampleMain = join(exampleDir, "dist/main.js");
/** The stack the example declares. */
export const EXAMPLE_STACK = "ai-credentials";

export interface ProcessResult {
  code: number | null;
  out: string;
  ms: number;
}

/** Runs a command asynchronously (the Keyplane service of an e2e test lives in this process). */
export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ProcessResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: performance.now() - started });
    });
  });
}

/** The environment minus anything that would configure an engine or the provider behind a test's back. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(KEYPLANE_|TF_|CDKTF_|TERRAFORM_|VITEST)/.test(name)) continue;
    env[name] = value;
  }
  return { ...env, CHECKPOINT_DISABLE: "1", ...extra };
}

/** Synthesizes the example with `node` in `cwd` (stacks under cwd/cdktf.out) and returns the stack's configuration. */
export async function synthExample(cwd: string, env: Record<string, string> = {}): Promise<{ result: ProcessResult; stackDir: string; config: any }> {
  const result = await run(process.execPath, [exampleMain], { cwd, env: cleanEnv(env) });
  const stackDir = join(cwd, "cdktf.out/stacks", EXAMPLE_STACK);
  const file = join(stackDir, "cdk.tf.json");
  return { result, stackDir, config: existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined };
}

/** Files under `dir` (relative paths) whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: string): string[] {
  if (!existsSync(dir)) return [];
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []));
  return walk(dir)
    .filter((file) => readFileSync(file).includes(needle))
    .map((file) => relative(dir, file));
}

/**
 * A CLI configuration installing keyplane/keyplane from a filesystem mirror under `root` (a
 * symbolic link to the launcher, for both engines' registry hosts) and every other provider
 * directly. CDKTF stacks always declare a backend, so `init` runs (cdktf deploy runs it itself),
 * and init needs an installable provider: dev_overrides alone make init look the provider up in
 * the public registry.
 */
export function writeMirrorCliConfig(root: string): string {
  const version = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version as string;
  const platform = `${process.platform}_${process.arch === "x64" ? "amd64" : process.arch}`;
  const mirror = join(root, "mirror");
  for (const host of ["registry.opentofu.org", "registry.terraform.io"]) {
    const dir = join(mirror, host, "keyplane/keyplane", version, platform);
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(repoRoot, "cdktf-provider/bin/terraform-provider-keyplane"), join(dir, `terraform-provider-keyplane_v${version}`));
  }
  const file = join(root, "mirror.tfrc");
  writeFileSync(
    file,
    `provider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["keyplane/keyplane"]\n  }\n  direct {\n    exclude = ["keyplane/keyplane"]\n  }\n}\n`,
  );
  return file;
}

/**
 * The tool cache directory of `cdktf` (cdktf-cli) or `cdktn` (CDK Terrain), installing it from the
 * npm registry on first use. Undefined (with the reason) when that fails, e.g. offline.
 */
export function cdkTools(kind: "cdktf" | "cdktn"): { dir?: string; error?: string } {
  const script = join(repoRoot, "cdktf-provider/scripts/install-cdk-tools.sh");
  const res = spawnSync("bash", [script, kind], { encoding: "utf8", timeout: 540_000 });
  const dir = res.stdout.trim().split("\n").pop();
  if (res.status === 0 && dir && existsSync(join(dir, "node_modules"))) return { dir };
  return { error: `${script} ${kind} failed (${res.status ?? res.signal}): ${res.stderr.slice(-2000)}` };
}
