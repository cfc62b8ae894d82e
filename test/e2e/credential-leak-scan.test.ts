// The leak scan the e2e suites rely on must itself find secrets in the encodings engines use:
// base64 private state at any alignment, deflated zip entries (saved plans), JSON escapes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { assertNoSecret, secretNeedles, zipEntries } from "./support/secrets.js";

/** A minimal zip archive (deflated entries), as Go's archive/zip writes plan files. */
function zip(entries: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(entries)) {
    const data = deflateRawSync(Buffer.from(text));
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(text.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(text.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const secret = "sk-proj-Leak1234567890abcdefXYZ";

describe("e2e leak scan", () => {
  const dir = mkdtempSync(join(tmpdir(), "kp-scan-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds a secret base64-encoded behind any number of other bytes", () => {
    for (let pad = 0; pad < 6; pad++) {
      for (const alphabet of ["base64", "base64url"] as const) {
        const encoded = Buffer.from(Buffer.from(`${"x".repeat(pad)}${secret}"}`).toString(alphabet));
        expect(
          secretNeedles(secret).some((n) => encoded.includes(n)),
          `${alphabet} pad ${pad}`,
        ).toBe(true);
      }
    }
  });

  it("finds secrets in files, in unpacked zip entries and in extra texts, and names where", () => {
    writeFileSync(join(dir, "clean.txt"), "nothing here");
    expect(assertNoSecret([secret], dir, ["no secret in this output"])).toBe(2);

    writeFileSync(join(dir, "plan.tfplan"), zip({ tfplan: `private:${secret}`, "tfconfig/main.tf": "x" }));
    expect(zipEntries(Buffer.from(zip({ a: "1", b: "2" }))).map((e) => e.name)).toEqual(["a", "b"]);
    expect(() => assertNoSecret([secret], dir)).toThrow(/plan\.tfplan!tfplan/);
    rmSync(join(dir, "plan.tfplan"));

    const state = { resources: [{ instances: [{ private: Buffer.from(JSON.stringify({ key: secret })).toString("base64") }] }] };
    writeFileSync(join(dir, "terraform.tfstate"), JSON.stringify(state));
    expect(() => assertNoSecret([secret], dir)).toThrow(/terraform\.tfstate/);
    rmSync(join(dir, "terraform.tfstate"));

    expect(() => assertNoSecret([secret], dir, ["ok", `log line {"k":"${secret}"}`])).toThrow(/text #1/);
    let message = "";
    try {
      assertNoSecret([secret], dir, [secret]);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toContain(secret);
  });
});
