// `npm start`, `npm run bench` and the tests' global setup run this instead of always building
// (a build takes 12–26 s; a start should take under 3). It builds only when dist/ is missing one of
// the outputs or is older than its sources. Staleness is read from modification times, not
// content: one stat per source file (a few milliseconds), and a checkout or an edit always gives
// the files it touches a newer time, so it errs towards building. What it misses is a source
// edited while a build runs (that build's outputs come out newer) — run `npm run build` then.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

/** Everything `npm run build` reads (service/ holds the console's sources and Vite config too). */
const SOURCES = [
  "service",
  "cdktf-provider/src",
  "cdktf-provider/cdktf",
  "bench",
  "openapi.yaml",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "scripts/copy-assets.mjs",
  "scripts/bundle-plugin.mjs",
];

/** What gets launched: the service and CLI, the bundled plugin, the CDKTF bindings, copied assets. */
const OUTPUTS = [
  "dist/service/cli/main.js",
  "dist/cdktf-provider/plugin/main.mjs",
  "dist/cdktf-provider/cdktf/index.js",
  "dist/cdktf-provider/src/protocol/proto/tfplugin6.proto",
  "dist/openapi.json",
  "dist/service/db/pglite-cluster.tar.gz",
  "dist/service/console/index.html",
];

/** Written by the tests and the bench themselves, so never a reason to rebuild. */
const NOT_SOURCES = new Set(
  ["service/console/screenshots", "bench/results.json", "bench/results.partial.json", "bench/go-provider"].map((p) => join(repoRoot, p)),
);

function newestMtime(path) {
  if (NOT_SOURCES.has(path) || !existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Fresh when every output exists and the oldest of them is newer than the newest source. */
function distIsFresh() {
  const outputs = OUTPUTS.map((p) => join(repoRoot, p));
  if (!outputs.every((p) => existsSync(p))) return false;
  const oldestOutput = Math.min(...outputs.map((p) => statSync(p).mtimeMs));
  return oldestOutput >= Math.max(...SOURCES.map((p) => newestMtime(join(repoRoot, p))));
}

if (!distIsFresh()) {
  const started = performance.now();
  const result = spawnSync("npm", ["run", "build", "--silent"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) process.exit(result.status ?? 1);
  if (!distIsFresh()) {
    console.error(`npm run build left dist/ older than its sources or without one of ${OUTPUTS.join(", ")}`);
    process.exit(1);
  }
  console.error(`npm run build: ${((performance.now() - started) / 1000).toFixed(1)} s (dist/ was missing or older than its sources)`);
}
