// `npm run build:provider` (after `npm run build`): the provider as a release for the build host's
// platform, in dist/provider/ — the layout the service's registry serves (KEYPLANE_PROVIDER_DIR):
//
//   terraform-provider-keyplane_v<version>                   a Node single executable application
//   terraform-provider-keyplane_<version>_<os>_<arch>.zip    it, zipped (mode 0755 kept)
//   terraform-provider-keyplane_<version>_SHA256SUMS         and its detached OpenPGP signature (.sig),
//   terraform-provider-keyplane_<version>_signing-key.asc    the public key, the manifest (protocol 6.0)
//
// The executable is the Node running this script with the bundled plugin injected (postject) and
// V8 code caches for it — Node's for what runs before the handshake line, and one recorded by
// running the plugin through a plan's calls for the rest — so the engine's three plugin starts
// per plan compile next to nothing. Building it
// copies and rewrites a ~120 MB binary and zips it, so the executable and the zip are cached by a
// hash of everything that goes in (bundle, Node version, this script) and rebuilt only when it changes.
//
// Signing key: KEYPLANE_PROVIDER_SIGNING_KEY_FILE (armored private key), else
// .keyplane/provider-signing-key.asc (where `keyplane provider keygen` writes by default), made on
// first use for development (.keyplane/ is not committed); either unlocked with
// KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE. See the README, "Signing key".
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import postject from "postject";
import yazl from "yazl";
import { checkCodeCaches, trainCodeCache } from "./provider-executable/train-code-cache.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const started = performance.now();
const log = (message) => console.log(`build:provider: ${message} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

const entry = join(root, "dist/cdktf-provider/src/main.js");
if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
const { releaseFiles } = await import(join(root, "dist/service/provider-registry/registry-service.js"));
const { signDetached } = await import(join(root, "dist/service/provider-registry/release-signing.js"));
const { releaseSigningKey } = await import(join(root, "dist/service/cli/provider.js"));

const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
const OS = { linux: "linux", darwin: "darwin", win32: "windows", freebsd: "freebsd" }[process.platform];
const ARCH = { x64: "amd64", arm64: "arm64", ia32: "386", arm: "arm" }[process.arch];
if (!OS || !ARCH) throw new Error(`no Terraform platform name for ${process.platform}/${process.arch}`);

const out = join(root, "dist/provider");
const work = join(out, ".build");
mkdirSync(work, { recursive: true });
const files = releaseFiles(version);
const exeName = `terraform-provider-keyplane_v${version}${OS === "windows" ? ".exe" : ""}`;
const exe = join(out, exeName);
const zip = join(out, files.zip(OS, ARCH));

// 1. Two CommonJS files. The executable's main script (plugin.cjs) holds what runs before the
//    handshake line; the plugin's dynamic imports of the gRPC server and the provider load the
//    second (plugin-late.cjs, an asset) through provider-executable/late-parts.mjs, with a code
//    cache recorded below.
const bundle = join(work, "plugin.cjs");
const lateBundle = join(work, "plugin-late.cjs");
const lateLoader = join(root, "scripts/provider-executable/late-parts.mjs");
const pluginSource = join(root, "dist/cdktf-provider/src");
/**
 * V8 flags the executable runs with. A plugin lives for one step of a plan and allocates tens of
 * megabytes in it; V8's young generation starts at 1 MB and grows only after collections, which
 * every start paid for. Starting it at 16 MB made a 100-resource plan 3–5 % faster.
 * The SEA builder runs with the same flags: V8 refuses a code cache made under other flags.
 */
const [nodeMajor, nodeMinor] = process.versions.node.split(".").map(Number);
/** A single executable's `execArgv` arrived in Node 22.20 and 24.6; older ones would ignore it. */
const seaTakesExecArgv = nodeMajor > 24 || (nodeMajor === 24 && nodeMinor >= 6) || (nodeMajor === 22 && nodeMinor >= 20);
const EXECUTABLE_V8_FLAGS = seaTakesExecArgv ? ["--min-semi-space-size=16", "--max-semi-space-size=32"] : [];

/** @type {import("esbuild").BuildOptions} */
const bundleOptions = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node24",
  minify: true,
  logLevel: "warning",
  // Only the file-system fallback of the protocol descriptor reads it; the executable carries
  // the descriptor as an asset.
  define: { "import.meta.url": "undefined" },
  // As in scripts/bundle-plugin.mjs: only channelz and ORCA would load it, and the plugin serves neither.
  external: ["@grpc/proto-loader"],
};
/** @type {Record<string, string>} importer (relative to the compiled plugin) → the import that becomes a late part */
const lateImports = { "protocol/handshake.js": "./server.js", "main.js": "./provider.js" };
const { metafile } = await build({
  ...bundleOptions,
  entryPoints: [entry],
  outfile: bundle,
  metafile: true,
  plugins: [
    {
      name: "late-parts",
      setup(builder) {
        builder.onResolve({ filter: /^\.\/(server|provider)\.js$/ }, (args) => {
          const importer = relative(pluginSource, args.importer).split(sep).join("/");
          if (lateImports[importer] !== args.path) return undefined;
          return { path: args.path === "./server.js" ? "server" : "provider", namespace: "late-part" };
        });
        builder.onLoad({ filter: /.*/, namespace: "late-part" }, (args) => ({
          contents: `module.exports = require(${JSON.stringify(lateLoader)}).lateParts().${args.path};`,
          loader: "js",
          resolveDir: root,
        }));
      },
    },
  ],
});
if (Object.keys(metafile?.inputs ?? {}).some((input) => input.includes("@grpc/grpc-js"))) {
  throw new Error("the executable's main script bundles grpc-js: the late-parts split no longer matches the plugin's imports");
}
// grpc-js requires these Node modules as its own modules load, for what a plugin never does: HTTP
// CONNECT proxies (http) and DNS names (dns) of client channels, and compressed messages (zlib;
// the engines send none). Loading them took ~6 ms of each start; in the executable they load on
// first use instead.
const onFirstUse = {
  name: "grpc-builtins-on-first-use",
  /** @param {import("esbuild").PluginBuild} builder */
  setup(builder) {
    const grpcJs = `${sep}@grpc${sep}grpc-js${sep}`;
    builder.onResolve({ filter: /^(http|dns|zlib)$/ }, (args) => (args.importer.includes(grpcJs) ? { path: args.path, namespace: "on-first-use" } : undefined));
    builder.onLoad({ filter: /.*/, namespace: "on-first-use" }, (args) => ({
      contents: `module.exports = new Proxy({}, { get: (_, name) => require("node:${args.path}")[name] });`,
      loader: "js",
    }));
  },
};
await build({
  ...bundleOptions,
  plugins: [onFirstUse],
  stdin: {
    contents: 'export * as server from "./protocol/server.js";\nexport * as provider from "./provider.js";\n',
    resolveDir: pluginSource,
    sourcefile: "late-parts-entry.js",
  },
  outfile: lateBundle,
});
const descriptor = join(root, "cdktf-provider/src/protocol/proto/protocol.json");
const assets = { "protocol.json": descriptor, "plugin-late.cjs": lateBundle };
const hash = createHash("sha256");
for (const part of [
  readFileSync(bundle),
  readFileSync(lateBundle),
  readFileSync(descriptor),
  readFileSync(fileURLToPath(import.meta.url)),
  readFileSync(lateLoader),
  readFileSync(join(root, "scripts/provider-executable/train-code-cache.mjs")),
  process.version,
  process.platform,
  process.arch,
])
  hash.update(part);
const inputs = hash.digest("hex");
const stamp = join(work, "inputs.sha256");

// 2. The executable and its zip, unless what went into them is unchanged: first one without the
//    late parts' code cache, which the build runs through a plan's calls to record it, then the
//    executable with it.
if (existsSync(exe) && existsSync(zip) && existsSync(stamp) && readFileSync(stamp, "utf8") === inputs) {
  log(`${exeName} is current`);
} else {
  rmSync(stamp, { force: true });
  const training = join(work, exeName);
  const cache = join(work, "plugin-late.cache");
  rmSync(cache, { force: true });
  await singleExecutable(training, assets);
  await trainCodeCache(root, training, cache);
  rmSync(training);
  log(`recorded the code cache of the late parts (${(readFileSync(cache).length / 1e3).toFixed(0)} kB)`);
  const temporary = `${exe}.tmp`;
  await singleExecutable(temporary, { ...assets, "plugin-late.cache": cache });
  await checkCodeCaches(root, temporary);
  renameSync(temporary, exe);
  log(`built ${exeName}`);
  await writeZip(exe, exeName, zip);
  writeFileSync(stamp, inputs);
  log(`zipped ${files.zip(OS, ARCH)}`);
}

// 3. Sums, signature, public key and manifest: cheap, so always written (a new key re-signs).
const sums = `${sha256(readFileSync(zip))}  ${files.zip(OS, ARCH)}\n`;
const { privateKey, passphrase } = await signingKey();
const { signature, publicKey } = await signDetached(Buffer.from(sums), privateKey, passphrase);
writeFileSync(join(out, files.sums), sums);
writeFileSync(join(out, files.signature), signature);
writeFileSync(join(out, files.signingKey), publicKey);
writeFileSync(join(out, files.manifest), `${JSON.stringify({ version: 1, metadata: { protocol_versions: ["6.0"] } }, null, 2)}\n`);
log(`signed ${files.sums} (${(readFileSync(exe).length / 1e6).toFixed(0)} MB executable, ${(readFileSync(zip).length / 1e6).toFixed(0)} MB zip) in ${out}`);

function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The Node running this script with `bundle` injected as its main script and `assets` beside it; checked to run. */
async function singleExecutable(target, assetFiles) {
  const seaConfig = {
    main: bundle,
    output: join(work, "sea-prep.blob"),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    execArgv: EXECUTABLE_V8_FLAGS,
    assets: assetFiles,
  };
  writeFileSync(join(work, "sea-config.json"), JSON.stringify(seaConfig, null, 2));
  execFileSync(process.execPath, [...EXECUTABLE_V8_FLAGS, "--experimental-sea-config", join(work, "sea-config.json")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  copyFileSync(process.execPath, target);
  chmodSync(target, 0o755);
  // macOS refuses a modified signed binary: drop Node's signature, sign ad hoc afterwards.
  if (OS === "darwin") execFileSync("codesign", ["--remove-signature", target]);
  await postject.inject(target, "NODE_SEA_BLOB", readFileSync(seaConfig.output), {
    sentinelFuse: "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
    machoSegmentName: OS === "darwin" ? "NODE_SEA" : undefined,
  });
  if (OS === "darwin") execFileSync("codesign", ["--sign", "-", target]);
  checkExecutable(target);
}

/** Run without the engine's cookie, the plugin must say it is a plugin and exit 1: proof that the injected bundle runs. */
function checkExecutable(path) {
  const run = spawnSync(path, [], { encoding: "utf8", env: { PATH: process.env.PATH }, timeout: 30_000 });
  if (run.status !== 1 || !run.stderr.includes("plugin for OpenTofu and Terraform")) {
    throw new Error(`the built executable does not run as the plugin (exit ${run.status}):\n${run.stdout}${run.stderr}`);
  }
}

/** A reproducible zip (fixed time stamp) whose entry keeps mode 0755, which the engines restore on unpacking. */
function writeZip(path, name, target) {
  return /** @type {Promise<void>} */ (
    new Promise((resolve, reject) => {
      const archive = new yazl.ZipFile();
      archive.addFile(path, name, { mode: 0o100755, mtime: new Date(Date.UTC(2020, 0, 1)), compress: true });
      archive.end();
      const temporary = `${target}.tmp`;
      archive.outputStream
        .pipe(createWriteStream(temporary))
        .on("error", reject)
        .on("close", () => {
          renameSync(temporary, target);
          resolve();
        });
    })
  );
}

/** The release key, found as `keyplane provider publish` finds it (a development key made on first use). */
async function signingKey() {
  const { privateKey, passphrase, generated } = await releaseSigningKey(root, { makeDevelopmentKey: true });
  if (generated) {
    console.warn(
      `build:provider: GENERATED a development signing key at ${generated.file} (key id ${generated.keyId}); set KEYPLANE_PROVIDER_SIGNING_KEY_FILE for releases`,
    );
  }
  return { privateKey, passphrase };
}
