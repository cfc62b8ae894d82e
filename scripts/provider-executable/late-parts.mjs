// Runs inside the packaged executable only (scripts/build-provider.mjs bundles it in place of the
// plugin's dynamic imports of protocol/server.js and provider.js): loads the parts the plugin needs
// after its handshake line — grpc-js, protobufjs, the provider — from the executable's assets,
// with a V8 code cache that the build recorded while the plugin answered the engine's first calls.
//
// Node's own code cache for a single executable's main script holds only what V8 compiles before
// running it; every function the calls need was compiled again at each of the engine's three
// starts per plan. A cache taken after those calls holds them. The handshake line stays in the
// main script, so this cache is read only once the engine is already connecting.
import { writeFileSync } from "node:fs";
import * as sea from "node:sea";
import * as vm from "node:vm";

/** Set only by the build, on the executable it trains (one without a cache): where to write the cache at exit. */
const TRAINING_OUTPUT = "KEYPLANE_PLUGIN_CODE_CACHE_OUTPUT";

/** @type {{ server: unknown; provider: unknown } | undefined} */
let parts;

/** `{ server, provider }`: the modules protocol/server.js and provider.js, loaded once. */
export function lateParts() {
  if (parts) return parts;
  const source = sea.getAsset("plugin-late.cjs", "utf8");
  const cache = recordedCache();
  // V8 checks the cache against the source, its own version and flags, and compiles afresh when
  // it does not fit (script.cachedDataRejected): a stale cache costs time, never correctness.
  const script = new vm.Script(`(function (exports, require, module) {${source}\n})`, { filename: "plugin-late.cjs", cachedData: cache });
  if (cache && script.cachedDataRejected) {
    process.emitWarning("the recorded code cache of the provider's gRPC server does not fit this executable and was not used", {
      code: "KEYPLANE_CODE_CACHE_REJECTED",
    });
  }
  const output = process.env[TRAINING_OUTPUT];
  if (output && !cache) process.once("exit", () => writeFileSync(output, script.createCachedData()));
  const module = { exports: {} };
  // The bundle requires only Node's own modules, which the executable's main script's require
  // (the one in scope here once bundled into it) provides.
  /** @type {(exports: object, require: NodeJS.Require, module: object) => void} */ (script.runInThisContext())(module.exports, require, module);
  parts = /** @type {{ server: unknown; provider: unknown }} */ (module.exports);
  return parts;
}

/** The cache the build recorded; none in the executable the build trains. */
function recordedCache() {
  try {
    // The asset's bytes where they lie in the executable, not a copy; V8 only reads them.
    return new Uint8Array(sea.getRawAsset("plugin-late.cache"));
  } catch {
    return undefined;
  }
}
