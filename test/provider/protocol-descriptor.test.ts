// The plugin reads proto/protocol.json (cdktf-provider/scripts/gen-protocol-json.mjs) instead of
// the .proto files; this keeps the two in step.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";

const PROTO_DIR = fileURLToPath(new URL("../../cdktf-provider/src/protocol/proto/", import.meta.url));

describe("protocol descriptor", () => {
  it("matches the .proto files (regenerate with node cdktf-provider/scripts/gen-protocol-json.mjs)", () => {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => PROTO_DIR + target;
    root.loadSync(["tfplugin6.proto", "go-plugin.proto", "health.proto"], { keepCase: true });
    expect(JSON.parse(readFileSync(PROTO_DIR + "protocol.json", "utf8"))).toEqual(root.toJSON());
  });
});
