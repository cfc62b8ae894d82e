// Which engines the engine suites (test/e2e, test/provider) run against: the one engine finder.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
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
    const builds = readdirSync(cache)
      .filter((d) => d.startsWith("tofu-"))
      .sort()
      .reverse();
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
