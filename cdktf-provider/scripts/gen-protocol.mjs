// Writes, from the .proto files in cdktf-provider/src/protocol/proto/:
//   protocol.json      the protobufjs JSON descriptor (field names as written): the services'
//                      methods, which the plugin reads instead of parsing .proto text;
//   protocol-codec.cjs protobufjs static code for every message (encode, decode, fromObject,
//                      toObject), which the plugin uses instead of building protobufjs reflection
//                      and generating the same functions at run time — at each of the engine's
//                      three starts per plan, and out of reach of a code cache.
// With --check it writes nothing and exits 1 when either differs from what it would write
// (test/provider/protocol-descriptor.test.ts runs that).
//
//   node cdktf-provider/scripts/gen-protocol.mjs [--check]
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { pbjs } from "protobufjs-cli";

const dir = fileURLToPath(new URL("../src/protocol/proto/", import.meta.url));
const FILES = ["tfplugin6.proto", "go-plugin.proto", "health.proto"];

/** The JSON descriptor, as written to protocol.json. */
function descriptorText() {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => dir + target;
  root.loadSync(FILES, { keepCase: true });
  return JSON.stringify(root.toJSON(), null, 1) + "\n";
}

/** The static codec module, as written to protocol-codec.cjs. */
function codecText() {
  return new Promise((resolve, reject) => {
    const args = [
      "-t",
      "static-module",
      "-w",
      "commonjs",
      "--keep-case",
      "--no-comments",
      "--no-verify",
      "--no-create",
      "--no-delimited",
      "--no-typeurl",
      "--no-service",
    ];
    pbjs.main([...args, ...FILES.map((file) => dir + file)], (err, output) => {
      if (err) return reject(err);
      // tfplugin6 has a message named Object (Schema.Object): inside its generated closure the
      // name is the message class, so the code's calls of the global's functions must say so.
      resolve(String(output).replace(/(?<![\w.$])Object\.(create|keys|freeze|defineProperty)\(/g, "globalThis.Object.$1("));
    });
  });
}

const generated = { "protocol.json": descriptorText(), "protocol-codec.cjs": await codecText() };
if (process.argv.includes("--check")) {
  const stale = Object.entries(generated).filter(([file, text]) => readFileSync(dir + file, "utf8") !== text);
  for (const [file] of stale) console.error(`${file} is stale: regenerate with node cdktf-provider/scripts/gen-protocol.mjs`);
  process.exitCode = stale.length > 0 ? 1 : 0;
} else {
  for (const [file, text] of Object.entries(generated)) writeFileSync(dir + file, text);
}
