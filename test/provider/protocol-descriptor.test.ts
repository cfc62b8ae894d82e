// The plugin reads proto/protocol.json and proto/protocol-codec.cjs, both generated from the
// .proto files beside them by cdktf-provider/scripts/gen-protocol.mjs; this keeps them in step.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const GENERATOR = fileURLToPath(new URL("../../cdktf-provider/scripts/gen-protocol.mjs", import.meta.url));

describe("protocol descriptor and codecs", () => {
  it("match the .proto files (regenerate with node cdktf-provider/scripts/gen-protocol.mjs)", () => {
    const check = spawnSync(process.execPath, [GENERATOR, "--check"], { encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
  }, 60_000);
});
