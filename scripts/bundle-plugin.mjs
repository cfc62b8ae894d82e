// Bundles the compiled plugin (dist/cdktf-provider/src/main.js and everything it imports) into one
// file, dist/cdktf-provider/plugin/main.mjs, which bin/terraform-provider-keyplane runs. The engine
// starts the plugin three times per plan (schema, validation, plan); resolving and loading the
// separate module files took about a fifth of each start (297 → 236 ms measured). The protocol
// descriptor (proto/protocol.json) sits next to it (read at start).
import { cpSync } from "node:fs";
import { build } from "esbuild";

const out = "dist/cdktf-provider/plugin";
await build({
  entryPoints: ["dist/cdktf-provider/src/main.js"],
  outfile: `${out}/main.mjs`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  sourcemap: "linked",
  logLevel: "warning",
  // grpc-js requires @grpc/proto-loader (with protobufjs's .proto parser) only to serve channelz
  // and ORCA, which the plugin never registers; bundled, it was a tenth of the code V8 compiles
  // at every start. Left external it still resolves from node_modules should it ever be needed.
  external: ["@grpc/proto-loader"],
  // The bundled CommonJS dependencies (grpc-js, protobufjs) call require() for Node's
  // own modules; an ES module has no require of its own.
  banner: { js: "import { createRequire as keyplaneCreateRequire } from 'node:module'; const require = keyplaneCreateRequire(import.meta.url);" },
});
cpSync("cdktf-provider/src/protocol/proto/protocol.json", `${out}/proto/protocol.json`);
