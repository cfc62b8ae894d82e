// Shared by the CDKTF suites (test/cdktf/*.test.ts, test/e2e/cdktf*.test.ts): a fresh dist/ of the
// bindings, the compiled example app, synthesis through plain `node`, and the CDK command-line
// tools from the tool cache (cdktf-provider/scripts/install-cdk-tools.sh).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const exampleDir = join(repoRoot, "examples/cdktf");
export const exampleMain = join(exampleDir, "dist/main.js");
/** The stack the example declares. */
export const EXAMPLE_STACK = "ai-credentials";

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  if (!statSync(path).isDirectory()) return statSync(path).mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

const mtime = (path: string) => (existsSync(path) ? statSync(path).mtimeMs : -1);

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Serialises builds across vitest workers (the same lock directory as test/e2e/support/engines.ts). */
function withBuildLock(work: () => void): void {
  const lock = join(repoRoot, "dist/.e2e-build.lock");
  mkdirSync(join(repoRoot, "dist"), { recursive: true });
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (waited > 180_000 || (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000)) rmSync(lock, { recursive: true, force: true });
      sleep(200);
    }
  }
  try {
    work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

const bindingsFresh = () =>
  mtime(join(repoRoot, "dist/cdktf-provider/cdktf/index.js")) >=
    Math.max(newestMtime(join(repoRoot, "cdktf-provider/cdktf")), newestMtime(join(repoRoot, "cdktf-provider/src")), newestMtime(join(repoRoot, "service"))) &&
  existsSync(join(repoRoot, "dist/cdktf-provider/src/protocol/proto/tfplugin6.proto"));

const exampleFresh = () =>
  mtime(exampleMain) >= Math.max(mtime(join(exampleDir, "main.ts")), mtime(join(repoRoot, "dist/cdktf-provider/cdktf/index.js")));

/** dist/ (plugin and bindings) newer than their sources, and examples/cdktf/dist/main.js compiled. */
export function ensureBuilt(): void {
  if (bindingsFresh() && exampleFresh()) return;
  withBuildLock(() => {
    if (!bindingsFresh()) {
      // tsc emits even when unrelated files do not type-check; the tests show real breakage.
      spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: repoRoot, stdio: "ignore" });
      execFileSync(process.execPath, ["scripts/copy-assets.mjs"], { cwd: repoRoot });
      if (!existsSync(join(repoRoot, "dist/cdktf-provider/cdktf/index.js"))) throw new Error("the build produced no dist/cdktf-provider/cdktf/index.js");
    }
    if (!exampleFresh()) {
      const tsc = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: exampleDir, encoding: "utf8" });
      if (tsc.status !== 0 || !existsSync(exampleMain)) throw new Error(`compiling examples/cdktf failed:\n${tsc.stdout}${tsc.stderr}`);
    }
  });
}

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
