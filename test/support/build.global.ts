/**
 * Global setup of every vitest run (`npm test` or `npx vitest run <file>`): builds dist/ and the
 * CDKTF example app once, before any suite starts, each only when it is missing or older than its
 * sources, so a single suite that launches the compiled service, CLI or provider plugin finds it
 * built and current even on a fresh clone; then the provider release (`scripts/build-provider.mjs`,
 * which rebuilds its executable only when the bundle or Node changed). Suites never build by themselves.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Everything `npm run build` reads (service/ holds the console's sources and Vite config too). */
const SOURCES = [
  "service",
  "cdktf-provider/src",
  "cdktf-provider/cdktf",
  "bench",
  "tsconfig.json",
  "tsconfig.build.json",
  "scripts/copy-assets.mjs",
  "scripts/bundle-plugin.mjs",
  "package-lock.json",
];

/** What the suites launch: the service and CLI, the bundled plugin, the CDKTF bindings, a copied asset. */
const OUTPUTS = [
  "dist/service/cli/main.js",
  "dist/cdktf-provider/plugin/main.mjs",
  "dist/cdktf-provider/cdktf/index.js",
  "dist/cdktf-provider/src/protocol/proto/tfplugin6.proto",
  "dist/service/console/index.html",
];

/** Written by the suites themselves (the console's screenshots), so never a reason to rebuild. */
const NOT_SOURCES = new Set(["service/console/screenshots"].map((p) => join(repoRoot, p)));

function newestMtime(path: string): number {
  if (!existsSync(path) || NOT_SOURCES.has(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Fresh when every output exists and the oldest of them is newer than the newest source. */
export function distIsFresh(): boolean {
  const outputs = OUTPUTS.map((p) => join(repoRoot, p));
  if (!outputs.every((p) => existsSync(p))) return false;
  const oldestOutput = Math.min(...outputs.map((p) => statSync(p).mtimeMs));
  return oldestOutput >= Math.max(...SOURCES.map((p) => newestMtime(join(repoRoot, p))));
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
  if (!distIsFresh()) {
    run("npm run build", "npm", ["run", "build", "--silent"], repoRoot);
    if (!distIsFresh()) throw new Error(`npm run build left dist/ older than its sources or without one of ${OUTPUTS.join(", ")}`);
  }
  if (!exampleIsFresh()) run("compiling examples/cdktf", "npx", ["tsc", "-p", "tsconfig.json"], join(repoRoot, EXAMPLE.dir));
  run("the provider release (dist/provider)", process.execPath, ["scripts/build-provider.mjs"], repoRoot);
}
