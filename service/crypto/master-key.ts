import { existsSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { chmod, link, mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import { Redacted, reveal } from "./redacted.js";

export const MASTER_KEY_BYTES = 32;
export const MASTER_KEY_FILE_NAME = "master.key";
/** The next development key while `rotate-master-key` is re-wrapping towards it. */
export const PENDING_MASTER_KEY_FILE_NAME = "master.key.next";

/** Raised when the master key cannot be loaded; never contains key material. */
export class MasterKeyError extends Error {
  override readonly name = "MasterKeyError";
}

/**
 * A 32-byte key encryption key. The bytes stay private (inspect/JSON print only the id) so a
 * stray log of a keyring cannot leak them.
 */
export class MasterKey {
  /** First 16 hex chars of sha256("keyplane-master-key-id:" ‖ key): tells keys apart, reveals nothing usable. */
  readonly id: string;
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
    this.id = masterKeyId(key);
  }

  /** Copies `bytes`; the caller may zero its own buffer afterwards. */
  static fromBytes(bytes: Uint8Array): MasterKey {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new MasterKeyError(`master key must be exactly ${MASTER_KEY_BYTES} bytes (got ${bytes.length})`);
    }
    return new MasterKey(Buffer.from(bytes));
  }

  /** Parses base64 (standard or url-safe alphabet, padding optional) of exactly 32 bytes. */
  static fromBase64(text: string): MasterKey {
    const bytes = decodeBase64Key(text);
    if (!bytes) {
      throw new MasterKeyError(`master key must be base64 of exactly ${MASTER_KEY_BYTES} bytes`);
    }
    try {
      return MasterKey.fromBytes(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  static generate(): MasterKey {
    return new MasterKey(randomBytes(MASTER_KEY_BYTES));
  }

  /** The raw key for node:crypto. Only the envelope module should call this. */
  bytes(): Buffer {
    return this.#key;
  }

  toBase64(): string {
    return this.#key.toString("base64");
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  [inspect.custom](): string {
    return `MasterKey(${this.id})`;
  }
}

export function masterKeyId(key: Uint8Array): string {
  return createHash("sha256").update("keyplane-master-key-id:").update(key).digest("hex").slice(0, 16);
}

/**
 * Strict base64 → 32 bytes, or null. Buffer.from(…, "base64") silently skips garbage, so the
 * text is checked against the alphabet first and the length afterwards.
 */
export function decodeBase64Key(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (bytes.length !== MASTER_KEY_BYTES) {
    bytes.fill(0);
    return null;
  }
  return bytes;
}

/** How often a keyring may re-read its sources when asked for a key it lacks (a row naming a bogus id must not turn every request into file reads). */
const RELOAD_INTERVAL_MS = 1_000;

/**
 * The current key (encrypts and wraps everything new) plus previous keys (only unwrap rows not yet
 * re-wrapped by rotate-master-key). Decryption picks the key by the row's master_key_id.
 *
 * A keyring given a loader can reload itself while the service runs: when it meets a key id it
 * lacks (another process re-wrapped rows under a new key), on SIGHUP, and when the periodic check
 * finds stored ids it lacks. A reload adopts the sources' current key and keeps every key already
 * held, so rows not yet re-wrapped stay readable until the process restarts.
 */
export class MasterKeyring {
  #current: MasterKey;
  readonly #byId: Map<string, MasterKey>;
  #loader: (() => Promise<MasterKeyring>) | undefined;
  #reloading: Promise<void> | undefined;
  #lastReload = 0;
  /** Ids that stored rows name and no source provides: readiness fails while there are any. */
  #missing: string[] = [];

  constructor(current: MasterKey, previous: readonly MasterKey[] = []) {
    this.#current = current;
    this.#byId = new Map([[current.id, current]]);
    for (const key of previous) {
      if (!this.#byId.has(key.id)) this.#byId.set(key.id, key);
    }
  }

  get current(): MasterKey {
    return this.#current;
  }

  get(id: string): MasterKey | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Current key id first. */
  ids(): string[] {
    return [this.#current.id, ...[...this.#byId.keys()].filter((id) => id !== this.#current.id)];
  }

  /** A keyring whose current key is `next`, keeping every key of this one for unwrapping. */
  withCurrent(next: MasterKey): MasterKeyring {
    return new MasterKeyring(next, [...this.#byId.values()]);
  }

  /** Where reload() reads the keys from (the same sources the process started with). */
  setLoader(loader: () => Promise<MasterKeyring>): void {
    this.#loader = loader;
  }

  /** Re-reads the sources (one read at a time); returns the ids it added. */
  async reload(): Promise<string[]> {
    if (!this.#loader) return [];
    const before = new Set(this.#byId.keys());
    this.#reloading ??= this.#loader()
      .then((loaded) => {
        for (const id of loaded.ids()) if (!this.#byId.has(id)) this.#byId.set(id, loaded.get(id)!);
        this.#current = this.#byId.get(loaded.current.id)!;
        this.#missing = this.#missing.filter((id) => !this.#byId.has(id));
      })
      .finally(() => {
        this.#lastReload = Date.now();
        this.#reloading = undefined;
      });
    await this.#reloading;
    return [...this.#byId.keys()].filter((id) => !before.has(id));
  }

  /** Whether the keyring holds `id`, reloading first when it does not (at most once a second). */
  async ensure(id: string): Promise<boolean> {
    if (this.#byId.has(id)) return true;
    if (this.#loader && Date.now() - this.#lastReload >= RELOAD_INTERVAL_MS) await this.reload().catch(() => {});
    if (this.#byId.has(id)) return true;
    if (!this.#missing.includes(id)) this.#missing.push(id);
    return false;
  }

  /** Records the ids stored rows name that this keyring lacks (replacing the previous finding). */
  setMissing(ids: readonly string[]): void {
    this.#missing = ids.filter((id) => !this.#byId.has(id));
  }

  /** Stored master key ids this keyring lacks, as last found. */
  missing(): string[] {
    return [...this.#missing];
  }

  toJSON(): { current: string; keys: string[] } {
    return { current: this.#current.id, keys: this.ids() };
  }

  [inspect.custom](): string {
    return `MasterKeyring(current=${this.#current.id}, keys=[${this.ids().join(", ")}])`;
  }
}

export interface MasterKeyOptions {
  /** base64 of 32 bytes (KEYPLANE_MASTER_KEY). */
  masterKey?: string | Redacted<string>;
  /** path of a file holding base64 or 32 raw bytes (KEYPLANE_MASTER_KEY_FILE). */
  masterKeyFile?: string;
  /** previous keys, base64 (KEYPLANE_MASTER_KEY_PREVIOUS), still accepted for unwrapping. */
  previousMasterKeys?: ReadonlyArray<string | Redacted<string>>;
  /** where the development key is generated when no key is supplied. */
  dataDir: string;
  /** production never generates a key. */
  production?: boolean;
  /** a reload while the service runs: read the development key, never generate one. */
  existingOnly?: boolean;
}

export interface LoadedMasterKey {
  keyring: MasterKeyring;
  /** env: KEYPLANE_MASTER_KEY; file: KEYPLANE_MASTER_KEY_FILE; data-dir: `${dataDir}/master.key`. */
  source: "env" | "file" | "data-dir";
  /** true only on the start that created `${dataDir}/master.key`: the caller must warn loudly. */
  generated: boolean;
  /** the key file used, for source file or data-dir. */
  path?: string;
  /** non-fatal problems worth logging (e.g. a key file readable by other users). */
  warnings: string[];
}

/**
 * Loads the master keyring: KEYPLANE_MASTER_KEY, else KEYPLANE_MASTER_KEY_FILE, else the
 * development key in `${dataDir}/master.key` (generated once, mode 0600, directory 0700).
 * Note: a Config from loadConfig() satisfies MasterKeyOptions, so `loadMasterKeyring(config)` works.
 */
export async function loadMasterKeyring(opts: MasterKeyOptions): Promise<LoadedMasterKey> {
  const previous = (opts.previousMasterKeys ?? []).map((value, i) => {
    try {
      return MasterKey.fromBase64(reveal(value));
    } catch {
      throw new MasterKeyError(`KEYPLANE_MASTER_KEY_PREVIOUS entry ${i + 1} must be base64 of exactly ${MASTER_KEY_BYTES} bytes`);
    }
  });
  const warnings: string[] = [];

  if (opts.masterKey !== undefined) {
    let current: MasterKey;
    try {
      current = MasterKey.fromBase64(reveal(opts.masterKey));
    } catch {
      throw new MasterKeyError(`KEYPLANE_MASTER_KEY must be base64 of exactly ${MASTER_KEY_BYTES} bytes`);
    }
    return { keyring: new MasterKeyring(current, previous), source: "env", generated: false, warnings };
  }

  if (opts.masterKeyFile !== undefined) {
    const current = await readKeyFile(opts.masterKeyFile, "KEYPLANE_MASTER_KEY_FILE", warnings);
    return {
      keyring: new MasterKeyring(current, previous),
      source: "file",
      generated: false,
      path: opts.masterKeyFile,
      warnings,
    };
  }

  if (opts.production) {
    throw new MasterKeyError("NODE_ENV=production requires KEYPLANE_MASTER_KEY or KEYPLANE_MASTER_KEY_FILE; refusing to generate a development master key");
  }

  const path = join(opts.dataDir, MASTER_KEY_FILE_NAME);
  const { key, generated } = opts.existingOnly
    ? { key: await readKeyFile(path, "master key file", warnings), generated: false }
    : await readOrCreateDevKey(opts.dataDir, path, warnings);
  // A development-key rotation that stopped half-way left rows wrapped by master.key.next
  // (`keyplane rotate-master-key` resumes it): that key must keep unwrapping them meanwhile.
  const pendingPath = join(opts.dataDir, PENDING_MASTER_KEY_FILE_NAME);
  const pending = existsSync(pendingPath) ? [await readKeyFile(pendingPath, PENDING_MASTER_KEY_FILE_NAME, warnings)] : [];
  return { keyring: new MasterKeyring(key, [...previous, ...pending]), source: "data-dir", generated, path, warnings };
}

async function readKeyFile(path: string, label: string, warnings: string[]): Promise<MasterKey> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unknown error";
    throw new MasterKeyError(`${label}: cannot read master key file ${path} (${code})`);
  }
  try {
    // 44 characters of base64 vs. 32 raw bytes: the two formats cannot be confused.
    if (content.length === MASTER_KEY_BYTES) return MasterKey.fromBytes(content);
    const decoded = decodeBase64Key(content.toString("latin1"));
    if (!decoded) {
      throw new MasterKeyError(`${label}: ${path} must hold base64 of exactly ${MASTER_KEY_BYTES} bytes, or exactly ${MASTER_KEY_BYTES} raw bytes`);
    }
    try {
      return MasterKey.fromBytes(decoded);
    } finally {
      decoded.fill(0);
    }
  } finally {
    content.fill(0);
    await warnIfShared(path, warnings);
  }
}

async function warnIfShared(path: string, warnings: string[]): Promise<void> {
  if (process.platform === "win32") return;
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077) {
    warnings.push(`master key file ${path} is accessible by other users (mode ${mode.toString(8)}); chmod 600 it`);
  }
}

async function readOrCreateDevKey(dataDir: string, path: string, warnings: string[]): Promise<{ key: MasterKey; generated: boolean }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (process.platform !== "win32" && (await stat(dataDir)).mode & 0o077) {
    warnings.push(`data directory ${dataDir} is accessible by other users; chmod 700 it`);
  }
  try {
    return { key: await readKeyFile(path, "master key file", warnings), generated: false };
  } catch (err) {
    if (!(await isMissing(path))) throw err;
  }

  const key = MasterKey.generate();
  // Write a private temp file, then link() it into place: link is atomic and fails if the key
  // exists, so two processes starting at once on a fresh data dir agree on one complete key.
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const handle = await open(tmp, "wx", 0o600);
    try {
      await handle.writeFile(`${key.toBase64()}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The mode given to open() is filtered by the umask; make the intent explicit.
    await chmod(tmp, 0o600);
    try {
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      return { key: await readKeyFile(path, "master key file", warnings), generated: false };
    }
    return { key, generated: true };
  } catch (err) {
    if (err instanceof MasterKeyError) throw err;
    throw new MasterKeyError(`cannot create development master key ${path} (${(err as NodeJS.ErrnoException).code ?? "unknown error"})`);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function isMissing(path: string): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}
