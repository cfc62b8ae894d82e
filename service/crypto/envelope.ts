/**
 * Envelope encryption of credential secrets (AES-256-GCM, node:crypto/OpenSSL).
 *
 * Per credential version a random 32-byte data key (DEK) encrypts the secret; the master key
 * wraps the DEK. Stored columns of credential_versions and their byte layout:
 *
 *   nonce         12 bytes      random GCM nonce of the secret
 *   ciphertext    ct ‖ tag      AES-256-GCM(DEK, nonce, plaintext, AAD) ‖ 16-byte tag; len = plaintext + 16
 *   wrapped_dek   n ‖ ct ‖ tag  12-byte nonce ‖ AES-256-GCM(master key, n, DEK, AAD_wrap) (32) ‖ tag (16) = 60 bytes
 *   master_key_id text          id of the master key that wrapped the DEK (see masterKeyId)
 *
 *   AAD      = utf8("<organization_id>|<credential_id>|<key_version>")
 *   AAD_wrap = utf8("<organization_id>|<credential_id>|<key_version>|<master_key_id>")
 *
 * The AAD binds both layers to their row: a ciphertext or wrapped key copied onto another
 * credential, version or organization fails authentication, and so does any flipped bit.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { MasterKey, MasterKeyring } from "./master-key.js";

const ALGORITHM = "aes-256-gcm";
export const DEK_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const WRAPPED_DEK_BYTES = NONCE_BYTES + DEK_BYTES + TAG_BYTES;

/** The row a ciphertext belongs to. */
export interface SecretAad {
  organizationId: string;
  credentialId: string;
  keyVersion: number;
}

export interface EncryptedSecret {
  ciphertext: Buffer;
  nonce: Buffer;
  wrappedDek: Buffer;
  masterKeyId: string;
}

/** Columns as read from credential_versions; null once the version's material is destroyed. */
export interface StoredSecret {
  ciphertext: Uint8Array | null;
  nonce: Uint8Array | null;
  wrappedDek: Uint8Array | null;
  masterKeyId: string | null;
}

export type DecryptionFailure = "authentication_failed" | "unknown_master_key" | "destroyed" | "malformed";

/**
 * A ciphertext could not be decrypted for the given row. The message names only ids and the
 * version — never key material or plaintext.
 */
export class DecryptionError extends Error {
  override readonly name = "DecryptionError";
  readonly credentialId: string;
  readonly keyVersion: number;
  readonly reason: DecryptionFailure;

  constructor(aad: SecretAad, reason: DecryptionFailure, detail?: string) {
    const subject = `credential ${aad.credentialId} version ${aad.keyVersion}`;
    const messages: Record<DecryptionFailure, string> = {
      authentication_failed: `ciphertext does not belong to ${subject} (authentication failed)`,
      unknown_master_key: `the data key of ${subject} is wrapped by master key ${detail}, which is not in the keyring`,
      destroyed: `the secret material of ${subject} has been destroyed`,
      malformed: `the stored secret of ${subject} is malformed (${detail})`,
    };
    super(messages[reason]);
    this.credentialId = aad.credentialId;
    this.keyVersion = aad.keyVersion;
    this.reason = reason;
  }
}

export function aadString(aad: SecretAad): string {
  for (const [field, value] of [
    ["organizationId", aad.organizationId],
    ["credentialId", aad.credentialId],
  ] as const) {
    // "|" separates the fields; allowing it inside one would make two rows share an AAD.
    if (typeof value !== "string" || value.length === 0 || value.includes("|")) {
      throw new TypeError(`AAD ${field} must be a non-empty string without "|"`);
    }
  }
  if (!Number.isSafeInteger(aad.keyVersion) || aad.keyVersion < 1) {
    throw new TypeError("AAD keyVersion must be a positive integer");
  }
  return `${aad.organizationId}|${aad.credentialId}|${aad.keyVersion}`;
}

/** The AAD of anything a master key wraps: what it is (`context`), bound to the key that wraps it. */
function wrapAad(context: string, masterKeyId: string): Buffer {
  return Buffer.from(`${context}|${masterKeyId}`, "utf8");
}

function seal(key: Buffer, nonce: Buffer, plaintext: Uint8Array, aad: Buffer): Buffer {
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Returns null when authentication fails. */
function open(key: Buffer, nonce: Uint8Array, sealed: Uint8Array, aad: Buffer): Buffer | null {
  const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    body.fill(0);
    return null;
  }
  return body;
}

/** Unwraps the DEK of `row`; the caller zeroes the returned buffer. */
function unwrapDek(keyring: MasterKeyring, row: StoredSecret, aad: SecretAad): Buffer {
  if (row.wrappedDek === null || row.masterKeyId === null) throw new DecryptionError(aad, "destroyed");
  if (row.wrappedDek.length !== WRAPPED_DEK_BYTES) {
    throw new DecryptionError(aad, "malformed", `wrapped data key has ${row.wrappedDek.length} bytes`);
  }
  const masterKey = keyring.get(row.masterKeyId);
  if (!masterKey) throw new DecryptionError(aad, "unknown_master_key", row.masterKeyId);
  const dek = unwrapKeyMaterial(masterKey, row.wrappedDek, aadString(aad));
  if (!dek) throw new DecryptionError(aad, "authentication_failed");
  return dek;
}

/** Encrypts a secret for one credential version under a fresh data key wrapped by `masterKey`. */
export function encryptSecret(masterKey: MasterKey, plaintext: Uint8Array, aad: SecretAad): EncryptedSecret {
  const row = aadString(aad);
  const dek = randomBytes(DEK_BYTES);
  try {
    const nonce = randomBytes(NONCE_BYTES);
    return {
      ciphertext: seal(dek, nonce, plaintext, Buffer.from(row, "utf8")),
      nonce,
      wrappedDek: wrapKeyMaterial(masterKey, dek, row),
      masterKeyId: masterKey.id,
    };
  } finally {
    dek.fill(0);
  }
}

/**
 * Decrypts the secret of one credential version. Throws DecryptionError when the row was
 * tampered with, belongs to another credential/version/organization, was destroyed, or was
 * wrapped by a master key missing from the keyring. The caller should zero the result when done.
 */
export function decryptSecret(keyring: MasterKeyring, row: StoredSecret, aad: SecretAad): Buffer {
  const aadBytes = Buffer.from(aadString(aad), "utf8");
  if (row.ciphertext === null || row.nonce === null) throw new DecryptionError(aad, "destroyed");
  if (row.nonce.length !== NONCE_BYTES) {
    throw new DecryptionError(aad, "malformed", `nonce has ${row.nonce.length} bytes`);
  }
  if (row.ciphertext.length < TAG_BYTES) {
    throw new DecryptionError(aad, "malformed", "ciphertext shorter than its tag");
  }
  const dek = unwrapDek(keyring, row, aad);
  try {
    const plaintext = open(dek, row.nonce, row.ciphertext, aadBytes);
    if (!plaintext) throw new DecryptionError(aad, "authentication_failed");
    return plaintext;
  } finally {
    dek.fill(0);
  }
}

/**
 * Wraps key material (a data key, the audit key) under a master key: 12-byte nonce ‖
 * AES-256-GCM(master key, material) ‖ 16-byte tag, with AAD `<context>|<master_key_id>`, so a
 * wrapped key is bound to what it is and to the key that wrapped it.
 */
export function wrapKeyMaterial(masterKey: MasterKey, material: Uint8Array, context: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  return Buffer.concat([nonce, seal(masterKey.bytes(), nonce, material, wrapAad(context, masterKey.id))]);
}

/** The material wrapped by wrapKeyMaterial, or null when it does not authenticate; the caller zeroes it. */
export function unwrapKeyMaterial(masterKey: MasterKey, wrapped: Uint8Array, context: string): Buffer | null {
  if (wrapped.length < NONCE_BYTES + TAG_BYTES) return null;
  return open(masterKey.bytes(), wrapped.subarray(0, NONCE_BYTES), wrapped.subarray(NONCE_BYTES), wrapAad(context, masterKey.id));
}

/**
 * Master key rotation: unwraps the DEK with whichever key of `oldKeyring` wrapped it and wraps it
 * again under `newKey`. The secret ciphertext and nonce are untouched.
 */
export function rewrapDek(oldKeyring: MasterKeyring, newKey: MasterKey, row: StoredSecret, aad: SecretAad): { wrappedDek: Buffer; masterKeyId: string } {
  const dek = unwrapDek(oldKeyring, row, aad);
  try {
    return { wrappedDek: wrapKeyMaterial(newKey, dek, aadString(aad)), masterKeyId: newKey.id };
  } finally {
    dek.fill(0);
  }
}
