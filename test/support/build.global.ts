/**
 * Global setup of every vitest run (`npm test` or `npx vitest run <file>`): builds dist/ and the
 * CDKTF example app once, before any suite starts, each only when it is missing or older than its
 * sources (dist/ through scripts/ensure-built.mjs, the check `npm start` makes), so a single suite
 * that launches the compiled service, CLI or provider plugin finds it built and current even on a
 * fresh clone; then the provider release (`scripts/build-provider.mjs`, which rebuilds its
 * executable only when the bundle or Node changed). Suites never build by themselves.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** The CDKTF example app the cdktf suites synthesise, compiled against the built bindings. */
const EXAMPLE = {
  dir: "examples/cdktf",
  output: "examples/cdktf/dist/main.js",
  sources: ["examples/cdktf/main.ts", "examples/cdktf/tsconfig.json", "dist/cdktf-provider/cdktf"],
};

function exampleIsFresh(): boolean {
  return newestMtime(join(repoRoot, EXAMPLE.output)) >= Math.max(...EXAMPLE.sources.map((p) => newestMtime(join(repoRoot, p))));
}

function run(what: string, command: string, args: string[], cwd: string): void {
  const started = performance.now();
  const result = spawnSync(command, args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
  console.log(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

export default function setup(): void {
  // The same check `npm start` makes (it prints the build's time when it builds).
  const built = spawnSync(process.execPath, [join(repoRoot, "scripts/ensure-built.mjs")], { cwd: repoRoot, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`npm run build failed (exit ${built.status}):\n${built.stdout}${built.stderr}`);
  if (built.stderr) console.log(built.stderr.trim());
  if (!exampleIsFresh()) run("compiling examples/cdktf", "npx", ["tsc", "-p", "tsconfig.json"], join(repoRoot, EXAMPLE.dir));
  run("the provider release (dist/provider)", process.execPath, ["scripts/build-provider.mjs"], repoRoot);
}
