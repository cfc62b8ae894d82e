/**
 * The registry's listing of the release directory: kept while the directory and the files it read
 * are unchanged, so a burst of (unauthenticated) requests reads nothing but their stamps, and read
 * again once anything changed, so a publish is served at the next request. File system calls are
 * counted through the registry's fs seam around the real node:fs/promises; the clock seam stands in
 * for the seconds a listing waits before it is kept.
 */
import { createHash } from "node:crypto";
import * as fsPromises from "node:fs/promises";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as openpgp from "openpgp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateSigningKey, signDetached, type SigningKeyPair } from "../../service/provider-registry/release-signing.js";
import { ProviderRegistry, publishReleases, releaseFiles, type RegistryFs, type SkippedRelease } from "../../service/provider-registry/registry-service.js";
import { startTestRuntime, type TestRuntime } from "../support/runtime.js";

const NS = "keyplane";

/** A release as `npm run build:provider` lays it out; zips and signature are stand-ins (nothing here verifies them). */
function writeRelease(dir: string, version: string, key: SigningKeyPair, platforms: [string, string][] = [["linux", "amd64"]]) {
  const files = releaseFiles(version);
  const sums = platforms.map(([os, arch]) => {
    const zip = Buffer.from(`${version} ${os} ${arch}`);
    writeFileSync(join(dir, files.zip(os, arch)), zip);
    return `${createHash("sha256").update(zip).digest("hex")}  ${files.zip(os, arch)}\n`;
  });
  writeFileSync(join(dir, files.signature), "signature");
  writeFileSync(join(dir, files.signingKey), key.publicKey);
  writeFileSync(join(dir, files.manifest), JSON.stringify({ version: 1, metadata: { protocol_versions: ["6.0"] } }));
  writeFileSync(join(dir, files.sums), sums.join(""));
}

/** Signs the release's sums for real, and puts `signingKeyFile` (default the public key) where the key belongs. */
async function signRelease(dir: string, version: string, key: SigningKeyPair, signingKeyFile = key.publicKey) {
  const files = releaseFiles(version);
  const { signature } = await signDetached(await fsPromises.readFile(join(dir, files.sums)), key.privateKey);
  writeFileSync(join(dir, files.signature), signature);
  writeFileSync(join(dir, files.signingKey), signingKeyFile);
}

async function verifies(dir: string, version: string, armoredKey: string): Promise<boolean> {
  const files = releaseFiles(version);
  const message = await openpgp.createMessage({ binary: await fsPromises.readFile(join(dir, files.sums)) });
  const signature = await openpgp.readSignature({ binarySignature: await fsPromises.readFile(join(dir, files.signature)) });
  const verified = await openpgp.verify({ message, signature, verificationKeys: await openpgp.readKey({ armoredKey }) });
  return verified.signatures[0].verified;
}

function countingFs() {
  const calls = { readdir: 0, readFile: 0, stat: 0 };
  const fs = {
    readdir: (...args: Parameters<typeof fsPromises.readdir>) => (calls.readdir++, fsPromises.readdir(...args)),
    readFile: (...args: Parameters<typeof fsPromises.readFile>) => (calls.readFile++, fsPromises.readFile(...args)),
    stat: (...args: Parameters<typeof fsPromises.stat>) => (calls.stat++, fsPromises.stat(...args)),
  } as RegistryFs;
  return { fs, calls };
}

let key: SigningKeyPair;
let root: string;

beforeAll(async () => {
  key = await generateSigningKey({ name: "registry cache", rsaBits: 2048 });
  root = mkdtempSync(join(tmpdir(), "kp-registry-cache-"));
}, 60_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("the registry's listing", () => {
  let dir: string;
  let counted: ReturnType<typeof countingFs>;
  let clock: number;
  let registry: ProviderRegistry;
  const versions = async () => (await registry.versions(NS, NS)).map((v) => `${v.version}:${v.platforms.map((p) => `${p.os}_${p.arch}`).join(",")}`);

  beforeEach(() => {
    dir = mkdtempSync(join(root, "releases-"));
    writeRelease(dir, "0.1.0", key);
    counted = countingFs();
    // Minutes after the release was written: past the wait before a listing is kept.
    clock = Date.now() + 60_000;
    registry = new ProviderRegistry(dir, { fs: counted.fs, now: () => clock });
  });

  it("is read once for a burst of requests, then only stamped", async () => {
    expect(await versions()).toEqual(["0.1.0:linux_amd64"]);
    const afterFirst = { ...counted.calls };
    expect(afterFirst).toMatchObject({ readdir: 1, readFile: 3 }); // sums, manifest, signing key

    const zip = releaseFiles("0.1.0").zip("linux", "amd64");
    for (let i = 0; i < 20; i++) {
      await registry.versions(NS, NS);
      expect(await registry.download(NS, NS, "0.1.0", "linux", "amd64")).toMatchObject({ filename: zip, signingKey: { keyId: key.keyId } });
      expect(await registry.filePath(NS, NS, "0.1.0", zip)).toBe(join(dir, zip));
    }
    expect(counted.calls.readdir).toBe(1);
    expect(counted.calls.readFile).toBe(3);
    // One stat of the directory and of each file read, per request.
    expect(counted.calls.stat - afterFirst.stat).toBe(60 * 4);
  });

  it("serves a version published after the first request at the next one", async () => {
    expect(await versions()).toEqual(["0.1.0:linux_amd64"]);
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "0.2.0", key, [
      ["linux", "amd64"],
      ["darwin", "arm64"],
    ]);
    expect(await publishReleases(build, dir)).toEqual(["0.2.0"]);
    clock = Date.now() + 60_000;
    expect(await versions()).toEqual(["0.2.0:linux_amd64,darwin_arm64", "0.1.0:linux_amd64"]);
    expect(counted.calls.readdir).toBe(2);
    await versions();
    expect(counted.calls.readdir).toBe(2);
  });

  it("sees a SHA256SUMS rewritten in place, which leaves the directory's mtime alone", async () => {
    expect(await versions()).toEqual(["0.1.0:linux_amd64"]);
    const dirMtime = (await fsPromises.stat(dir)).mtimeMs;
    const sums = join(dir, releaseFiles("0.1.0").sums);
    const zip = releaseFiles("0.1.0").zip("linux", "amd64");
    writeFileSync(sums, `${"0".repeat(64)}  ${zip}\n${"1".repeat(64)}  ${releaseFiles("0.1.0").zip("linux", "arm64")}\n`);
    expect((await fsPromises.stat(dir)).mtimeMs).toBe(dirMtime);
    clock = Date.now() + 60_000;
    expect((await registry.download(NS, NS, "0.1.0", "linux", "amd64")).shasum).toBe("0".repeat(64));
    expect(counted.calls.readdir).toBe(2);
  });

  it("is not kept when read within seconds of a change, which a later change could share timestamps with", async () => {
    clock = Date.now();
    await versions();
    await versions();
    expect(counted.calls.readdir).toBe(2);
    clock += 5_000;
    await versions();
    await versions();
    expect(counted.calls.readdir).toBe(3);
  });

  it("lists versions newest first by semantic-version precedence, pre-releases included", async () => {
    for (const version of ["1.0.0-rc.10", "0.10.0", "1.0.0-alpha", "1.0.0", "1.0.0-rc.9", "0.9.0", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-rc.1"]) {
      writeRelease(dir, version, key);
    }
    clock = Date.now() + 60_000;
    expect((await registry.versions(NS, NS)).map((v) => v.version)).toEqual([
      "1.0.0",
      "1.0.0-rc.10",
      "1.0.0-rc.9",
      "1.0.0-rc.1",
      "1.0.0-alpha.beta",
      "1.0.0-alpha.1",
      "1.0.0-alpha",
      "0.10.0",
      "0.9.0",
      "0.1.0",
    ]);
  });

  it("leaves out a version whose signing-key file is not a key, reporting it once per state of the file", async () => {
    const skipped: SkippedRelease[] = [];
    registry = new ProviderRegistry(dir, { fs: counted.fs, now: () => clock, onSkip: (s) => skipped.push(s) });
    writeRelease(dir, "0.2.0", key);
    const keyFile = join(dir, releaseFiles("0.2.0").signingKey);
    // What a truncated copy leaves: the armor header of a private key, then nothing that parses.
    const broken = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxcLYBGZ0secretish\n";
    writeFileSync(keyFile, broken);
    clock = Date.now() + 60_000;
    expect(await versions()).toEqual(["0.1.0:linux_amd64"]);
    await expect(registry.download(NS, NS, "0.2.0", "linux", "amd64")).rejects.toMatchObject({ kind: "not_found" });
    await expect(registry.filePath(NS, NS, "0.2.0", releaseFiles("0.2.0").sums)).rejects.toMatchObject({ kind: "not_found" });
    expect(skipped).toEqual([
      { version: "0.2.0", file: releaseFiles("0.2.0").signingKey, reason: "the signing-key file is not an armored OpenPGP key; the version is not served" },
    ]);
    expect(JSON.stringify(skipped)).not.toContain("secretish");

    // Rescanned (another file changed) with the key unchanged: not reported again.
    writeRelease(dir, "0.3.0", key);
    clock = Date.now() + 60_000;
    expect(await versions()).toEqual(["0.3.0:linux_amd64", "0.1.0:linux_amd64"]);
    expect(skipped).toHaveLength(1);

    // Fixed: served at the next request.
    writeFileSync(keyFile, key.publicKey);
    clock = Date.now() + 60_000;
    expect(await versions()).toEqual(["0.3.0:linux_amd64", "0.2.0:linux_amd64", "0.1.0:linux_amd64"]);
    expect((await registry.download(NS, NS, "0.2.0", "linux", "amd64")).signingKey.keyId).toBe(key.keyId);
  });

  it("treats a missing directory as no release, and serves one created later", async () => {
    const later = join(root, "created-later");
    registry = new ProviderRegistry(later, { fs: counted.fs, now: () => clock });
    expect(await registry.versions(NS, NS)).toEqual([]);
    await fsPromises.mkdir(later);
    writeRelease(later, "0.3.0", key);
    clock = Date.now() + 60_000;
    expect((await registry.versions(NS, NS)).map((v) => v.version)).toEqual(["0.3.0"]);
  });
});

describe("the registry routes", () => {
  let t: TestRuntime;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(root, "served-"));
    writeRelease(dir, "1.0.0", key);
    t = await startTestRuntime("pglite", { KEYPLANE_PROVIDER_DIR: dir });
  });

  afterAll(async () => {
    await t?.close();
  });

  it("serve a version published after a first request at the next request", async () => {
    const path = `/v1/terraform/providers/${NS}/${NS}/versions`;
    expect((await t.api.get(path)).body.versions.map((v: { version: string }) => v.version)).toEqual(["1.0.0"]);
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "1.1.0", key);
    await publishReleases(build, dir);
    expect((await t.api.get(path)).body.versions.map((v: { version: string }) => v.version)).toEqual(["1.1.0", "1.0.0"]);
    const download = await t.api.get(`/v1/terraform/providers/${NS}/${NS}/1.1.0/download/linux/amd64`);
    expect(download.status).toBe(200);
    expect(download.body.signing_keys.gpg_public_keys[0].key_id).toBe(key.keyId);
  });

  it("serve only the public part of a signing-key file that holds the private key", async () => {
    writeRelease(dir, "1.2.0", key);
    await signRelease(dir, "1.2.0", key, key.privateKey);
    expect(await fsPromises.readFile(join(dir, releaseFiles("1.2.0").signingKey), "utf8")).toContain("PRIVATE KEY BLOCK");

    const download = await t.api.get(`/v1/terraform/providers/${NS}/${NS}/1.2.0/download/linux/amd64`);
    expect(download.status).toBe(200);
    const [served] = download.body.signing_keys.gpg_public_keys as { key_id: string; ascii_armor: string }[];
    expect(served.ascii_armor).toContain("-----BEGIN PGP PUBLIC KEY BLOCK-----");
    expect(served.ascii_armor).not.toMatch(/PRIVATE KEY/);
    expect((await openpgp.readKey({ armoredKey: served.ascii_armor })).isPrivate()).toBe(false);
    expect(served.key_id).toBe(key.keyId);
    expect(await verifies(dir, "1.2.0", served.ascii_armor)).toBe(true);
  });

  it("do not list a version whose signing-key file is malformed, and answer its download with a 404 problem", async () => {
    writeRelease(dir, "1.3.0", key);
    writeFileSync(join(dir, releaseFiles("1.3.0").signingKey), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n");
    const listed = await t.api.get(`/v1/terraform/providers/${NS}/${NS}/versions`);
    expect(listed.status).toBe(200);
    expect(listed.body.versions.map((v: { version: string }) => v.version)).not.toContain("1.3.0");
    for (const path of ["1.3.0/download/linux/amd64", `1.3.0/files/${releaseFiles("1.3.0").sums}`]) {
      const response = await t.api.get(`/v1/terraform/providers/${NS}/${NS}/${path}`);
      expect(response.status).toBe(404);
      expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
    const warnings = t.logs.filter((line) => line.includes("provider release skipped"));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0])).toMatchObject({ level: 40, provider_version: "1.3.0", file: releaseFiles("1.3.0").signingKey });
    expect(warnings[0]).not.toContain("not a key");
  });
});

describe("publishing one platform's build of a version another platform already serves", () => {
  let served: string;

  beforeEach(() => {
    served = mkdtempSync(join(root, "served-"));
    writeRelease(served, "2.0.0", key, [["linux", "amd64"]]);
  });

  const platforms = async (dir: string) =>
    (await new ProviderRegistry(dir).releases()).flatMap((r) => r.platforms.map((p) => `${r.version}:${p.os}_${p.arch}`));

  it("merges the sums, keeps the other platform's zip listed and signs the merged sums again", async () => {
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "2.0.0", key, [["darwin", "arm64"]]);
    expect(await publishReleases(build, served, () => Promise.resolve({ privateKey: key.privateKey }))).toEqual(["2.0.0"]);
    expect((await platforms(served)).sort()).toEqual(["2.0.0:darwin_arm64", "2.0.0:linux_amd64"]);

    const files = releaseFiles("2.0.0");
    const sums = await fsPromises.readFile(join(served, files.sums));
    const message = await openpgp.createMessage({ binary: sums });
    const signature = await openpgp.readSignature({ binarySignature: await fsPromises.readFile(join(served, files.signature)) });
    const verified = await openpgp.verify({ message, signature, verificationKeys: await openpgp.readKey({ armoredKey: key.publicKey }) });
    await expect(verified.signatures[0].verified).resolves.toBe(true);
    expect(String(sums)).toMatch(
      /^[0-9a-f]{64} {2}terraform-provider-keyplane_2\.0\.0_darwin_arm64\.zip\n[0-9a-f]{64} {2}terraform-provider-keyplane_2\.0\.0_linux_amd64\.zip\n$/,
    );
  });

  it("refuses without the signing key, writing nothing, rather than drop the other platform", async () => {
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "2.0.0", key, [["darwin", "arm64"]]);
    const before = (await fsPromises.readdir(served)).sort();
    await expect(publishReleases(build, served)).rejects.toMatchObject({ code: "platforms_dropped" });
    expect((await fsPromises.readdir(served)).sort()).toEqual(before);
    expect(await platforms(served)).toEqual(["2.0.0:linux_amd64"]);
  });

  it("publishes the same package of a platform again without needing the key", async () => {
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "2.0.0", key, [["linux", "amd64"]]);
    expect(await publishReleases(build, served)).toEqual(["2.0.0"]);
    expect(await platforms(served)).toEqual(["2.0.0:linux_amd64"]);
  });

  it("refuses another package under a published version and platform, writing nothing, unless told to replace it", async () => {
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "2.0.0", key, [["linux", "amd64"]]);
    const zip = releaseFiles("2.0.0").zip("linux", "amd64");
    writeFileSync(join(build, zip), "a rebuilt package");
    writeFileSync(join(build, releaseFiles("2.0.0").sums), `${createHash("sha256").update("a rebuilt package").digest("hex")}  ${zip}\n`);
    const before = await fsPromises.readFile(join(served, zip));
    await expect(publishReleases(build, served)).rejects.toMatchObject({
      code: "release_changed",
      errors: [{ path: "from", message: expect.stringContaining("already holds 2.0.0 for linux_amd64 as another package") }],
    });
    expect(await fsPromises.readFile(join(served, zip))).toEqual(before);
    expect(await publishReleases(build, served, undefined, { replace: true })).toEqual(["2.0.0"]);
    expect(String(await fsPromises.readFile(join(served, zip)))).toBe("a rebuilt package");
  });

  it("refuses it too when the served version is out of the listing (its key file broke after engines installed it)", async () => {
    writeFileSync(join(served, releaseFiles("2.0.0").signingKey), "garbage");
    expect(await platforms(served)).toEqual([]);
    const build = mkdtempSync(join(root, "build-"));
    writeRelease(build, "2.0.0", key, [["linux", "amd64"]]);
    const zip = releaseFiles("2.0.0").zip("linux", "amd64");
    writeFileSync(join(build, zip), "a rebuilt package");
    writeFileSync(join(build, releaseFiles("2.0.0").sums), `${createHash("sha256").update("a rebuilt package").digest("hex")}  ${zip}\n`);
    await expect(publishReleases(build, served)).rejects.toMatchObject({ code: "release_changed" });
  });
});

describe("publishing a build whose signing-key file", () => {
  it("holds the private key writes only its public part into the served directory", async () => {
    const build = mkdtempSync(join(root, "build-"));
    const served = mkdtempSync(join(root, "served-"));
    writeRelease(build, "3.0.0", key);
    await signRelease(build, "3.0.0", key, key.privateKey);
    expect(await publishReleases(build, served)).toEqual(["3.0.0"]);
    const written = await fsPromises.readFile(join(served, releaseFiles("3.0.0").signingKey), "utf8");
    expect(written).not.toMatch(/PRIVATE KEY/);
    expect(await verifies(served, "3.0.0", written)).toBe(true);
  });

  it("is malformed refuses, writing nothing", async () => {
    const build = mkdtempSync(join(root, "build-"));
    const served = mkdtempSync(join(root, "served-"));
    writeRelease(build, "3.1.0", key);
    writeFileSync(join(build, releaseFiles("3.1.0").signingKey), "garbage");
    await expect(publishReleases(build, served)).rejects.toMatchObject({ code: "unservable_release" });
    expect(await fsPromises.readdir(served)).toEqual([]);
  });
});
