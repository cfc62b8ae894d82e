// Builds the Go baseline provider (bench/go-provider) with the machine's Go, once per source: the
// binary is cached outside the repository, like the other tools in ~/.cache/keyplane-tools, under
// a hash of its sources and the Go version, so a second bench run does not spend minutes compiling.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The directory holding `terraform-provider-keyplane` built from bench/go-provider, or null without Go. */
export function buildGoProvider(root: string): string | null {
  const source = join(root, "bench/go-provider");
  const version = spawnSync("go", ["version"], { encoding: "utf8" });
  if (version.status !== 0) {
    console.error("go is not on PATH: skipping the Go provider baseline (plan.go_provider_*)");
    return null;
  }
  const hash = createHash("sha256").update(version.stdout);
  for (const name of readdirSync(source).sort()) {
    if (name.endsWith(".go") || name === "go.mod" || name === "go.sum") hash.update(`${name}\0`).update(readFileSync(join(source, name)));
  }
  const cache = process.env.KEYPLANE_TOOL_CACHE ?? join(homedir(), ".cache/keyplane-tools");
  const dir = join(cache, `go-provider-${hash.digest("hex").slice(0, 16)}`);
  const binary = join(dir, "terraform-provider-keyplane");
  if (existsSync(binary)) return dir;
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  // -mod=readonly: every module comes from the proxy at the version go.sum pins, or the build fails.
  const built = spawnSync("go", ["build", "-mod=readonly", "-o", `${binary}.tmp`, "."], { cwd: source, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`building bench/go-provider failed:\n${built.stderr}`);
  renameSync(`${binary}.tmp`, binary);
  console.error(`built the Go baseline provider in ${((performance.now() - started) / 1000).toFixed(0)} s (cached in ${dir})`);
  return dir;
}
