// Writes cdktf-provider/src/protocol/proto/protocol.json: the .proto files next to it as a
// protobufjs JSON descriptor (field names as written), which the plugin loads instead of parsing
// .proto text at every start. test/provider/protocol-descriptor.test.ts fails when it is stale.
//
//   node cdktf-provider/scripts/gen-protocol-json.mjs
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const dir = fileURLToPath(new URL("../src/protocol/proto/", import.meta.url));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => dir + target;
root.loadSync(["tfplugin6.proto", "go-plugin.proto", "health.proto"], { keepCase: true });
writeFileSync(dir + "protocol.json", JSON.stringify(root.toJSON(), null, 1) + "\n");
