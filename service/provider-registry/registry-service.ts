// The provider releases the registry protocol serves: a flat directory of release files, as
// `npm run build:provider` writes them and `keyplane provider publish` copies them (the names
// follow HashiCorp's release convention):
//
//   terraform-provider-keyplane_<version>_<os>_<arch>.zip    the executable, zipped
//   terraform-provider-keyplane_<version>_SHA256SUMS         "<sha256>  <zip name>" per platform
//   terraform-provider-keyplane_<version>_SHA256SUMS.sig     detached binary OpenPGP signature of it
//   terraform-provider-keyplane_<version>_signing-key.asc    the public key that made the signature (only
//                                                            its public part is served, should it hold the private key)
//   terraform-provider-keyplane_<version>_manifest.json      {"version":1,"metadata":{"protocol_versions":["6.0"]}}
//
// A version is served only when its sums, signature and key are all there and the key file reads
// as an OpenPGP key (else it is left out and the reason logged once: a listed version must be
// downloadable), and a platform only when its zip is: the engines refuse anything unsigned
// anyway. The routes are unauthenticated, so the listing is kept while the directory and the
// files it read are unchanged (one stat each per request); a publish renames files into the
// directory, which changes its mtime, so it is served at the next request without a restart.
import { createHash } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import * as fsPromises from "node:fs/promises";
import { join } from "node:path";
import { NotFoundError, ValidationError } from "../errors.js";
import { publicSigningKey, signDetached } from "./release-signing.js";

export const PROVIDER_NAMESPACE = "keyplane";
export const PROVIDER_TYPE = "keyplane";
const PREFIX = `terraform-provider-${PROVIDER_TYPE}`;
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const PLATFORM_PART = /^[a-z0-9]+$/;

export const releaseFiles = (version: string) => ({
  sums: `${PREFIX}_${version}_SHA256SUMS`,
  signature: `${PREFIX}_${version}_SHA256SUMS.sig`,
  signingKey: `${PREFIX}_${version}_signing-key.asc`,
  manifest: `${PREFIX}_${version}_manifest.json`,
  zip: (os: string, arch: string) => `${PREFIX}_${version}_${os}_${arch}.zip`,
});

interface Platform {
  os: string;
  arch: string;
  filename: string;
  shasum: string;
}

interface Release {
  version: string;
  protocols: string[];
  platforms: Platform[];
  /** The public part of the signing-key file (which may hold the private key) and its id. */
  signingKey: { keyId: string; asciiArmor: string };
}

/** A version the directory holds but the registry does not serve, and why (never the file's text). */
export interface SkippedRelease {
  version: string;
  file: string;
  reason: string;
}

/** The file system calls the registry makes; tests pass node:fs/promises wrapped to count them. */
export type RegistryFs = Pick<typeof fsPromises, "readdir" | "readFile" | "stat">;

/**
 * A change within this long of a read may share its timestamp with the state read (coarse or
 * one-second file system clocks), so a listing read that soon after a change is not kept.
 */
const SETTLE_MS = 2000;

interface Listing {
  releases: Release[];
  /** Path → what it looked like before it was read (the directory, and each file read). */
  stamps: Map<string, string>;
}

/** What the download document needs besides its URLs (which the routes make). */
export interface PlatformDownload {
  protocols: string[];
  os: string;
  arch: string;
  filename: string;
  shasum: string;
  shasumsFile: string;
  signatureFile: string;
  signingKey: { keyId: string; asciiArmor: string };
}

export interface RegistryOptions {
  /** Tests pass node:fs/promises wrapped to count the calls. */
  fs?: RegistryFs;
  /** Tests move the clock past the wait before a listing is kept. */
  now?: () => number;
  /** Told once per state of the file at fault (not at every rescan) of each version left out. */
  onSkip?: (skipped: SkippedRelease) => void;
}

export class ProviderRegistry {
  private listing: Listing | undefined;
  private readonly fs: RegistryFs;
  private readonly now: () => number;
  /** Path of a file at fault → its stamp when it was reported, so a rescan does not report it again. */
  private readonly reported = new Map<string, string>();

  constructor(
    readonly dir: string,
    private readonly options: RegistryOptions = {},
  ) {
    this.fs = options.fs ?? fsPromises;
    this.now = options.now ?? Date.now;
  }

  async versions(namespace: string, type: string): Promise<{ version: string; protocols: string[]; platforms: { os: string; arch: string }[] }[]> {
    this.checkAddress(namespace, type);
    const releases = await this.releases();
    return releases.map((r) => ({ version: r.version, protocols: r.protocols, platforms: r.platforms.map(({ os, arch }) => ({ os, arch })) }));
  }

  async download(namespace: string, type: string, version: string, os: string, arch: string): Promise<PlatformDownload> {
    this.checkAddress(namespace, type);
    const release = (await this.releases()).find((r) => r.version === version);
    const platform = release?.platforms.find((p) => p.os === os && p.arch === arch);
    if (!release || !platform)
      throw new NotFoundError(
        "provider package",
        "not_found",
        `No keyplane/keyplane ${version.slice(0, 64)} package for ${os.slice(0, 32)}_${arch.slice(0, 32)}.`,
      );
    const files = releaseFiles(version);
    return {
      protocols: release.protocols,
      os,
      arch,
      filename: platform.filename,
      shasum: platform.shasum,
      shasumsFile: files.sums,
      signatureFile: files.signature,
      signingKey: release.signingKey,
    };
  }

  /** The path of one file of a served release (zip, sums or signature); 404 for anything else. */
  async filePath(namespace: string, type: string, version: string, filename: string): Promise<string> {
    this.checkAddress(namespace, type);
    const release = (await this.releases()).find((r) => r.version === version);
    const files = release && releaseFiles(version);
    const served = files ? [files.sums, files.signature, ...release.platforms.map((p) => p.filename)] : [];
    if (!served.includes(filename)) throw new NotFoundError("release file", "not_found", "No such file in this provider release.");
    return join(this.dir, filename);
  }

  private checkAddress(namespace: string, type: string): void {
    if (namespace !== PROVIDER_NAMESPACE || type !== PROVIDER_TYPE) {
      throw new NotFoundError("provider", "not_found", "This registry serves keyplane/keyplane only.");
    }
  }

  /** The complete releases in the directory, each platform with its zip's name and sha256. */
  async releases(): Promise<Release[]> {
    const kept = this.listing;
    if (kept && (await this.unchanged(kept))) return kept.releases;
    const { listing, settled } = await this.scan();
    this.listing = settled ? listing : undefined;
    return listing.releases;
  }

  private async unchanged(listing: Listing): Promise<boolean> {
    const paths = [...listing.stamps.keys()];
    const now = await Promise.all(paths.map((path) => this.stampOf(path)));
    return paths.every((path, i) => listing.stamps.get(path) === now[i].stamp);
  }

  /**
   * Reads the directory and the files the listing needs, each stamped before it is read, so a
   * change during the scan shows at the next request. Not `settled` when something changed so
   * recently that a later change could carry the same timestamps: such a listing is not kept.
   */
  private async scan(): Promise<{ listing: Listing; settled: boolean }> {
    const stamps = new Map<string, string>();
    let settled = true;
    const stamped = async <T>(path: string, read: () => Promise<T>): Promise<T> => {
      const { stamp, changedAt } = await this.stampOf(path);
      stamps.set(path, stamp);
      if (this.now() - changedAt < SETTLE_MS) settled = false;
      return read();
    };
    const names = new Set(await stamped(this.dir, () => this.fs.readdir(this.dir).catch(() => [] as string[])));
    const releases: Release[] = [];
    for (const name of names) {
      const version = name.startsWith(`${PREFIX}_`) && name.endsWith("_SHA256SUMS") ? name.slice(PREFIX.length + 1, -"_SHA256SUMS".length) : undefined;
      if (!version || !VERSION.test(version)) continue;
      const files = releaseFiles(version);
      if (!names.has(files.signature) || !names.has(files.signingKey)) continue;
      const sumsPath = join(this.dir, files.sums);
      const platforms = parseSums(await stamped(sumsPath, () => this.fs.readFile(sumsPath, "utf8")), version).filter((p) => names.has(p.filename));
      if (platforms.length === 0) continue;
      const manifestPath = join(this.dir, files.manifest);
      const protocols = await stamped(manifestPath, () => protocolsOf(this.fs, manifestPath));
      const keyPath = join(this.dir, files.signingKey);
      const keyText = await stamped(keyPath, () => this.fs.readFile(keyPath, "utf8")).catch(() => undefined);
      // Parsed here, not at the download: a key the engines could not be given must not be listed.
      const signingKey = keyText === undefined ? undefined : await publicSigningKey(keyText).catch(() => undefined);
      if (!signingKey) {
        const reason = keyText === undefined ? "the signing-key file cannot be read" : "the signing-key file is not an armored OpenPGP key";
        this.skip({ version, file: files.signingKey, reason: `${reason}; the version is not served` }, keyPath, stamps.get(keyPath) ?? "");
        continue;
      }
      releases.push({ version, protocols, platforms, signingKey });
    }
    return { listing: { releases: releases.sort((a, b) => compareVersions(b.version, a.version)), stamps }, settled };
  }

  private skip(skipped: SkippedRelease, path: string, stamp: string): void {
    if (this.reported.get(path) === stamp) return;
    this.reported.set(path, stamp);
    this.options.onSkip?.(skipped);
  }

  /** Identity, size and times of a path, which any change to it changes; "absent" when there is none. */
  private async stampOf(path: string): Promise<{ stamp: string; changedAt: number }> {
    const stats: Stats | null = await this.fs.stat(path).catch(() => null);
    if (!stats) return { stamp: "absent", changedAt: 0 };
    return { stamp: `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`, changedAt: Math.max(stats.mtimeMs, stats.ctimeMs) };
  }
}

function parseSums(text: string, version: string): Platform[] {
  const platforms: Platform[] = [];
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line.trim());
    if (!match) continue;
    const [, shasum, filename] = match;
    const prefix = `${PREFIX}_${version}_`;
    if (!filename.startsWith(prefix) || !filename.endsWith(".zip")) continue;
    const [os, arch, ...rest] = filename.slice(prefix.length, -".zip".length).split("_");
    if (rest.length > 0 || !PLATFORM_PART.test(os) || !PLATFORM_PART.test(arch ?? "")) continue;
    platforms.push({ os, arch, filename, shasum });
  }
  return platforms;
}

/** The manifest's protocol versions; 6.0 (the only protocol this plugin speaks) without one. */
async function protocolsOf(fs: RegistryFs, manifestPath: string): Promise<string[]> {
  try {
    const manifest = JSON.parse(await fs.readFile(manifestPath, "utf8")) as { metadata?: { protocol_versions?: unknown } };
    const versions = manifest.metadata?.protocol_versions;
    if (Array.isArray(versions) && versions.every((v) => typeof v === "string") && versions.length > 0) return versions;
  } catch {
    // absent or unreadable: the default below
  }
  return ["6.0"];
}

/** Semantic-version precedence (semver.org §11): what "newest" means for the versions list. */
function compareVersions(a: string, b: string): number {
  const [coreA, preA] = a.split(/-(.*)/s);
  const [coreB, preB] = b.split(/-(.*)/s);
  const partsA = coreA.split(".").map(Number);
  const partsB = coreB.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (partsA[i] !== partsB[i]) return partsA[i] - partsB[i];
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  const idsA = preA.split(".");
  const idsB = preB.split(".");
  for (let i = 0; i < Math.min(idsA.length, idsB.length); i++) {
    const order = comparePrereleaseIds(idsA[i], idsB[i]);
    if (order !== 0) return order;
  }
  return idsA.length - idsB.length;
}

/** Numeric identifiers compare as numbers (rc.9 before rc.10) and before alphanumeric ones, which compare in ASCII order. */
function comparePrereleaseIds(a: string, b: string): number {
  const numericA = /^\d+$/.test(a);
  const numericB = /^\d+$/.test(b);
  if (numericA !== numericB) return numericA ? -1 : 1;
  const [x, y] = numericA ? [BigInt(a), BigInt(b)] : [a, b];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The private key that signs release sums, and its passphrase if it has one. */
export interface ReleaseSigningKey {
  privateKey: string;
  passphrase?: string;
}

function sumsText(platforms: Platform[]): string {
  return [...platforms]
    .sort((a, b) => (a.filename < b.filename ? -1 : 1))
    .map((p) => `${p.shasum}  ${p.filename}\n`)
    .join("");
}

/**
 * `keyplane provider publish`: copies every complete release in `from` (a build's dist/provider)
 * into `to`, the directory the service serves. Each file is copied under a temporary name and
 * renamed, so the service never serves half a file; the sums go last, since they make the version
 * visible. Returns the versions published.
 *
 * Each build holds its own platform only. When `to` already serves a version on platforms the
 * build lacks (a linux_amd64 release, then a darwin_arm64 build of it), its sums would drop them:
 * the sums are merged instead — the build's platforms replacing their namesakes — and signed again
 * with `signingKey` (which then signs the whole version); without a key the publish is refused
 * before anything is written.
 */
export async function publishReleases(
  from: string,
  to: string,
  signingKey?: () => Promise<ReleaseSigningKey>,
  options: { replace?: boolean } = {},
): Promise<string[]> {
  const faults: SkippedRelease[] = [];
  const source = new ProviderRegistry(from, { onSkip: (skipped) => faults.push(skipped) });
  const versions = await source.releases();
  if (faults.length > 0) {
    throw new ValidationError(
      faults.map((f) => ({ path: "from", message: `${join(from, f.file)}: ${f.reason}` })),
      "The build holds a release the registry would not serve.",
      "unservable_release",
    );
  }
  if (versions.length === 0) {
    throw new ValidationError(
      [{ path: "from", message: `${from} holds no signed release; run \`npm run build:provider\` first` }],
      "Nothing to publish.",
      "no_release",
    );
  }
  const served = new Map((await new ProviderRegistry(to).releases()).map((r) => [r.version, r.platforms]));
  // An engine's lock file pins the package it installed; a different package under the same
  // version and platform fails every `init` that has it. Registries refuse that; so does this.
  // The zips on disk are compared, not the listing: a version left out of it (its key file
  // broke) may still have been installed while it was served.
  const changed: { version: string; platform: Platform; current: string }[] = [];
  for (const { version, platforms } of versions) {
    for (const platform of platforms) {
      const current = await sha256OfFile(join(to, platform.filename));
      if (current !== undefined && current !== platform.shasum) changed.push({ version, platform, current });
    }
  }
  if (changed.length > 0 && !options.replace) {
    throw new ValidationError(
      changed.map(({ version, platform, current }) => ({
        path: "from",
        message: `${to} already holds ${version} for ${platform.os}_${platform.arch} as another package (SHA-256 ${current.slice(0, 12)}…, this build ${platform.shasum.slice(0, 12)}…); lock files that recorded it would refuse this one: give the build a new version, or replace it on purpose with --replace`,
      })),
      "Publishing would change a published package.",
      "release_changed",
    );
  }
  const merges = new Map<string, Platform[]>();
  for (const { version, platforms } of versions) {
    const built = new Set(platforms.map((p) => p.filename));
    const kept = (served.get(version) ?? []).filter((p) => !built.has(p.filename));
    if (kept.length === 0) continue;
    if (!signingKey) {
      throw new ValidationError(
        [
          {
            path: "signing key",
            message: `${to} serves ${version} for ${kept.map((p) => `${p.os}_${p.arch}`).join(", ")}, which this build lacks; set KEYPLANE_PROVIDER_SIGNING_KEY_FILE to the key that signs releases so the sums can be merged and signed again`,
          },
        ],
        "Publishing would drop platforms.",
        "platforms_dropped",
      );
    }
    merges.set(version, [...platforms, ...kept]);
  }
  const key = merges.size > 0 && signingKey ? await signingKey() : undefined;

  await fsPromises.mkdir(to, { recursive: true });
  const place = async (name: string, write: (temporary: string) => Promise<void>) => {
    const temporary = join(to, `.${name}.${process.pid}.tmp`);
    await write(temporary);
    await fsPromises.rename(temporary, join(to, name));
  };
  for (const { version, platforms, signingKey: built } of versions) {
    const files = releaseFiles(version);
    for (const name of platforms.map((p) => files.zip(p.os, p.arch))) {
      await place(name, (temporary) => fsPromises.copyFile(join(from, name), temporary));
    }
    await place(files.manifest, (temporary) => fsPromises.copyFile(join(from, files.manifest), temporary)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    const merged = merges.get(version);
    if (merged && key) {
      const sums = sumsText(merged);
      const { signature, publicKey } = await signDetached(Buffer.from(sums), key.privateKey, key.passphrase);
      await place(files.signature, (temporary) => fsPromises.writeFile(temporary, signature));
      await place(files.signingKey, (temporary) => fsPromises.writeFile(temporary, publicKey));
      await place(files.sums, (temporary) => fsPromises.writeFile(temporary, sums));
    } else {
      await place(files.signature, (temporary) => fsPromises.copyFile(join(from, files.signature), temporary));
      // The public part only: a private key in the build's key file stays out of the served directory.
      await place(files.signingKey, (temporary) => fsPromises.writeFile(temporary, built.asciiArmor));
      await place(files.sums, (temporary) => fsPromises.copyFile(join(from, files.sums), temporary));
    }
  }
  return versions.map((v) => v.version);
}

/** The SHA-256 of a file, hex, or undefined when there is none. */
async function sha256OfFile(path: string): Promise<string | undefined> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return hash.digest("hex");
}
