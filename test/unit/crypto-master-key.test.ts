import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MasterKey, MasterKeyError, MasterKeyring, Redacted, decodeBase64Key, loadMasterKeyring, masterKeyId } from "../../service/crypto/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kp-mk-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe("master key id", () => {
  it("is the first 16 hex chars of sha256('keyplane-master-key-id:' ‖ key)", () => {
    const raw = randomBytes(32);
    const expected = createHash("sha256")
      .update(Buffer.concat([Buffer.from("keyplane-master-key-id:"), raw]))
      .digest("hex")
      .slice(0, 16);
    expect(masterKeyId(raw)).toBe(expected);
    expect(MasterKey.fromBytes(raw).id).toBe(expected);
    expect(MasterKey.generate().id).not.toBe(expected);
  });
});

describe("decodeBase64Key", () => {
  it("accepts exactly 32 bytes in standard or url-safe base64", () => {
    const raw = randomBytes(32);
    expect(decodeBase64Key(raw.toString("base64"))?.equals(raw)).toBe(true);
    expect(decodeBase64Key(`  ${raw.toString("base64url")}\n`)?.equals(raw)).toBe(true);
  });

  it("rejects other lengths and garbage", () => {
    expect(decodeBase64Key(randomBytes(31).toString("base64"))).toBeNull();
    expect(decodeBase64Key(randomBytes(33).toString("base64"))).toBeNull();
    expect(decodeBase64Key("not base64 at all!")).toBeNull();
    expect(decodeBase64Key(`${randomBytes(32).toString("base64")}$$`)).toBeNull();
  });
});

describe("loadMasterKeyring", () => {
  it("generates a development key once (file 0600, directory 0700) and reuses it", async () => {
    const dataDir = join(dir, "data-home");
    const first = await loadMasterKeyring({ dataDir });
    expect(first).toMatchObject({ source: "data-dir", generated: true, path: join(dataDir, "master.key") });
    expect(await mode(join(dataDir, "master.key"))).toBe(0o600);
    expect(await mode(dataDir)).toBe(0o700);
    expect(first.warnings).toEqual([]);

    const second = await loadMasterKeyring({ dataDir });
    expect(second.generated).toBe(false);
    expect(second.keyring.current.id).toBe(first.keyring.current.id);
    expect(await readdir(dataDir)).toEqual(["master.key"]);
    const stored = (await readFile(join(dataDir, "master.key"), "utf8")).trim();
    expect(MasterKey.fromBase64(stored).id).toBe(first.keyring.current.id);
  });

  it("agrees on one key when several processes start at once on a fresh data dir", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => loadMasterKeyring({ dataDir: dir })));
    expect(new Set(results.map((r) => r.keyring.current.id)).size).toBe(1);
    expect(results.filter((r) => r.generated)).toHaveLength(1);
    expect(await readdir(dir)).toEqual(["master.key"]);
  });

  it("loads KEYPLANE_MASTER_KEY and does not touch the data dir", async () => {
    const key = MasterKey.generate();
    const loaded = await loadMasterKeyring({ masterKey: new Redacted(key.toBase64()), dataDir: join(dir, "unused") });
    expect(loaded).toMatchObject({ source: "env", generated: false });
    expect(loaded.keyring.current.id).toBe(key.id);
    await expect(stat(join(dir, "unused"))).rejects.toThrow();
  });

  it("loads a key file holding base64 or 32 raw bytes", async () => {
    const raw = randomBytes(32);
    const b64Path = join(dir, "b64.key");
    const rawPath = join(dir, "raw.key");
    await writeFile(b64Path, `${raw.toString("base64")}\n`, { mode: 0o600 });
    await writeFile(rawPath, raw, { mode: 0o600 });
    for (const path of [b64Path, rawPath]) {
      const loaded = await loadMasterKeyring({ masterKeyFile: path, dataDir: dir });
      expect(loaded).toMatchObject({ source: "file", generated: false, path, warnings: [] });
      expect(loaded.keyring.current.id).toBe(masterKeyId(raw));
    }
  });

  it("warns about a key file other users can read", async () => {
    const path = join(dir, "shared.key");
    await writeFile(path, MasterKey.generate().toBase64());
    await chmod(path, 0o644);
    const loaded = await loadMasterKeyring({ masterKeyFile: path, dataDir: dir });
    expect(loaded.warnings.join(" ")).toContain("chmod 600");
  });

  it("explains a bad key without echoing it", async () => {
    const bad = "c2hvcnQ=";
    await expect(loadMasterKeyring({ masterKey: bad, dataDir: dir })).rejects.toThrow(/KEYPLANE_MASTER_KEY must be base64 of exactly 32 bytes/);
    const path = join(dir, "bad.key");
    await writeFile(path, "definitely-not-a-key");
    const err = await loadMasterKeyring({ masterKeyFile: path, dataDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MasterKeyError);
    expect(String(err)).not.toContain("definitely-not-a-key");
    await expect(loadMasterKeyring({ masterKeyFile: join(dir, "missing.key"), dataDir: dir })).rejects.toThrow(/cannot read master key file .*ENOENT/);
  });

  it("keeps previous keys for decryption; the current key stays first", async () => {
    const current = MasterKey.generate();
    const previous = [MasterKey.generate(), MasterKey.generate()];
    const loaded = await loadMasterKeyring({
      masterKey: current.toBase64(),
      previousMasterKeys: previous.map((k) => k.toBase64()),
      dataDir: dir,
    });
    expect(loaded.keyring.ids()).toEqual([current.id, ...previous.map((k) => k.id)]);
    expect(loaded.keyring.get(previous[1].id)?.id).toBe(previous[1].id);
    await expect(loadMasterKeyring({ masterKey: current.toBase64(), previousMasterKeys: ["nope"], dataDir: dir })).rejects.toThrow(
      /KEYPLANE_MASTER_KEY_PREVIOUS entry 1/,
    );
  });

  it("refuses to generate a key in production", async () => {
    await expect(loadMasterKeyring({ dataDir: dir, production: true })).rejects.toThrow(/NODE_ENV=production requires KEYPLANE_MASTER_KEY/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("keyring reload while the service runs", () => {
  it("adopts the sources' current key and keeps every key it held, so rows not yet re-wrapped stay readable", async () => {
    const [oldKey, newKey] = [MasterKey.generate(), MasterKey.generate()];
    const keyring = new MasterKeyring(oldKey);
    let loads = 0;
    keyring.setLoader(async () => {
      loads += 1;
      return new MasterKeyring(newKey);
    });
    expect(await keyring.ensure(newKey.id)).toBe(true);
    expect(keyring.current.id).toBe(newKey.id);
    expect(keyring.ids()).toEqual([newKey.id, oldKey.id]);
    expect(loads).toBe(1);
    expect(keyring.missing()).toEqual([]);
  });

  it("reloads for an unknown key id at most once a second, and reports the id as missing", async () => {
    const keyring = new MasterKeyring(MasterKey.generate());
    let loads = 0;
    keyring.setLoader(async () => {
      loads += 1;
      return new MasterKeyring(keyring.current);
    });
    const stray = "ffffffffffffffff";
    expect(await Promise.all([keyring.ensure(stray), keyring.ensure(stray), keyring.ensure(stray)])).toEqual([false, false, false]);
    expect(await keyring.ensure(stray)).toBe(false);
    expect(loads).toBe(1);
    expect(keyring.missing()).toEqual([stray]);
    keyring.setMissing([]);
    expect(keyring.missing()).toEqual([]);
  });

  it("reads the development key on reload but never generates one", async () => {
    await expect(loadMasterKeyring({ dataDir: dir, existingOnly: true })).rejects.toThrow(/cannot read master key file .*ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });
});
