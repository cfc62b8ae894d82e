// Which engines the e2e suites run against, and a fresh build of the plugin for them to launch.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
/** What dev_overrides point at: the directory holding terraform-provider-keyplane. */
export const pluginDir = join(repoRoot, "cdktf-provider/bin");

export interface Engine {
  bin: string;
  kind: "tofu" | "terraform";
  /** First line of `version`, e.g. "OpenTofu v1.11.0". */
  version: string;
}

/** One engine of each kind: KEYPLANE_TF_BINARY, tofu/terraform on PATH, the CI-built tofu cache. */
export function findEngines(): Engine[] {
  const candidates = [process.env.KEYPLANE_TF_BINARY];
  for (const name of ["tofu", "terraform"]) {
    candidates.push(spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim() || undefined);
  }
  const cache = join(process.env.HOME ?? "", ".cache/keyplane-tools");
  if (existsSync(cache)) {
    const builds = readdirSync(cache).filter((d) => d.startsWith("tofu-")).sort().reverse();
    candidates.push(...builds.map((d) => join(cache, d, "tofu")));
  }
  const engines: Engine[] = [];
  for (const bin of candidates) {
    if (!bin || !existsSync(bin)) continue;
    // A CLI config that does not exist would only add a warning; point it at nothing.
    const version = execFileSync(bin, ["version"], { encoding: "utf8", env: { ...process.env, TF_CLI_CONFIG_FILE: "/dev/null" } }).split("\n")[0];
    const kind = version.startsWith("OpenTofu") ? "tofu" : "terraform";
    if (!engines.some((e) => e.kind === kind)) engines.push({ bin, kind, version });
  }
  return engines;
}

/**
 * The engines for a suite. Without any, prints a loud line and, under KEYPLANE_REQUIRE_E2E=1,
 * registers a failing test instead of skipping silently.
 */
export function enginesFor(suite: string): Engine[] {
  const engines = findEngines();
  if (engines.length === 0) {
    console.warn(`\n*** ${suite} SKIPPED: no tofu/terraform binary found (set KEYPLANE_TF_BINARY or put tofu on PATH) ***\n`);
    if (process.env.KEYPLANE_REQUIRE_E2E === "1") {
      it("has an engine when KEYPLANE_REQUIRE_E2E=1", () => {
        expect.fail("KEYPLANE_REQUIRE_E2E=1 but no tofu/terraform binary was found");
      });
    }
  }
  return engines;
}

/** For describe.each: the engines, or one placeholder so that a skipped suite still lists a (skipped) test. */
export function engineCases(engines: Engine[]): Engine[] {
  return engines.length > 0 ? engines : [{ bin: "", kind: "tofu", version: "no engine" }];
}

function newestMtime(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newestMtime(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)),
  );
}

function isFresh(): boolean {
  // What the launcher runs: the bundle of the compiled plugin.
  const main = join(repoRoot, "dist/cdktf-provider/plugin/main.mjs");
  if (!existsSync(main)) return false;
  // The plugin runs service code too (the catalog and the secret rules).
  const sources = Math.max(newestMtime(join(repoRoot, "cdktf-provider/src")), newestMtime(join(repoRoot, "service")));
  return statSync(main).mtimeMs >= sources;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Compiles dist/ when it is older than the sources (once per run: suites in parallel workers
 * serialise on a lock directory and the later ones find dist fresh).
 */
export function ensureBuilt(): void {
  if (isFresh()) return;
  const lock = join(repoRoot, "dist/.e2e-build.lock");
  mkdirSync(join(repoRoot, "dist"), { recursive: true });
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock left by a killed run is removed after three minutes.
      if (waited > 180_000 || (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000)) rmSync(lock, { recursive: true, force: true });
      sleep(200);
    }
  }
  try {
    if (isFresh()) return;
    // tsc emits even with type errors elsewhere in the repository; the engine runs show real breakage.
    spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: repoRoot, stdio: "ignore" });
    execFileSync("node", ["scripts/copy-assets.mjs"], { cwd: repoRoot });
    execFileSync("node", ["scripts/bundle-plugin.mjs"], { cwd: repoRoot });
    if (!existsSync(join(repoRoot, "dist/cdktf-provider/plugin/main.mjs"))) throw new Error("npm run build produced no dist/cdktf-provider/plugin/main.mjs");
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
