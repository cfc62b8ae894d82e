import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  DecryptionError,
  MasterKey,
  MasterKeyring,
  WRAPPED_DEK_BYTES,
  decryptSecret,
  encryptSecret,
  rewrapDek,
  unwrapKeyMaterial,
  wrapKeyMaterial,
  type EncryptedSecret,
  type SecretAad,
} from "../../service/crypto/index.js";

const SECRET = "sk-proj-THIS-IS-A-TEST-SECRET-1234567890abcdef";
const aad: SecretAad = { organizationId: "org_01HZZZZZZZZZZZZZZZZZZZZZZA", credentialId: "cred_01HAAAAAAAAAAAAAAAAAAAAAAA", keyVersion: 1 };

function flip(buf: Buffer, index: number): Buffer {
  const copy = Buffer.from(buf);
  copy[index] ^= 0x01;
  return copy;
}

function expectDecryptionError(fn: () => unknown, reason: DecryptionError["reason"]): DecryptionError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DecryptionError);
  const error = caught as DecryptionError;
  expect(error.reason).toBe(reason);
  expect(error.message).not.toContain(SECRET);
  return error;
}

describe("envelope encryption", () => {
  const key = MasterKey.generate();
  const keyring = new MasterKeyring(key);

  it("round-trips a secret and records the layout", () => {
    const sealed = encryptSecret(key, Buffer.from(SECRET), aad);
    expect(sealed.nonce).toHaveLength(12);
    expect(sealed.ciphertext).toHaveLength(Buffer.byteLength(SECRET) + 16);
    expect(sealed.wrappedDek).toHaveLength(WRAPPED_DEK_BYTES);
    expect(sealed.masterKeyId).toBe(key.id);
    expect(sealed.ciphertext.includes(Buffer.from(SECRET))).toBe(false);
    expect(decryptSecret(keyring, sealed, aad).toString()).toBe(SECRET);
  });

  it("uses a fresh data key and nonce for every encryption", () => {
    const a = encryptSecret(key, Buffer.from(SECRET), aad);
    const b = encryptSecret(key, Buffer.from(SECRET), aad);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.wrappedDek.equals(b.wrappedDek)).toBe(false);
  });

  it("round-trips an empty and a large secret", () => {
    for (const plaintext of [Buffer.alloc(0), Buffer.alloc(100_000, 7)]) {
      expect(decryptSecret(keyring, encryptSecret(key, plaintext, aad), aad).equals(plaintext)).toBe(true);
    }
  });

  it("refuses a ciphertext copied onto another credential, version or organization", () => {
    const sealed = encryptSecret(key, Buffer.from(SECRET), aad);
    const others: SecretAad[] = [
      { ...aad, credentialId: "cred_01HBBBBBBBBBBBBBBBBBBBBBBB" },
      { ...aad, keyVersion: 2 },
      { ...aad, organizationId: "org_01HYYYYYYYYYYYYYYYYYYYYYYY" },
    ];
    for (const other of others) {
      const error = expectDecryptionError(() => decryptSecret(keyring, sealed, other), "authentication_failed");
      expect(error.message).toBe(`ciphertext does not belong to credential ${other.credentialId} version ${other.keyVersion} (authentication failed)`);
    }
  });

  it("refuses a secret ciphertext swapped between two rows that share the data key wrapping", () => {
    // Keep row B's wrapped key (valid for B) but put A's ciphertext and nonce: the DEK differs.
    const aadB = { ...aad, credentialId: "cred_01HBBBBBBBBBBBBBBBBBBBBBBB" };
    const a = encryptSecret(key, Buffer.from(SECRET), aad);
    const b = encryptSecret(key, Buffer.from("other"), aadB);
    expectDecryptionError(() => decryptSecret(keyring, { ...b, ciphertext: a.ciphertext, nonce: a.nonce }, aadB), "authentication_failed");
  });

  it("detects tampering with the nonce, the ciphertext, its tag or the wrapped key", () => {
    const sealed = encryptSecret(key, Buffer.from(SECRET), aad);
    const tampered: EncryptedSecret[] = [
      { ...sealed, nonce: flip(sealed.nonce, 0) },
      { ...sealed, ciphertext: flip(sealed.ciphertext, 0) },
      { ...sealed, ciphertext: flip(sealed.ciphertext, sealed.ciphertext.length - 1) },
      { ...sealed, wrappedDek: flip(sealed.wrappedDek, 0) },
      { ...sealed, wrappedDek: flip(sealed.wrappedDek, 20) },
      { ...sealed, wrappedDek: flip(sealed.wrappedDek, WRAPPED_DEK_BYTES - 1) },
    ];
    for (const row of tampered) expectDecryptionError(() => decryptSecret(keyring, row, aad), "authentication_failed");
  });

  it("reports malformed, destroyed and unknown-key rows without leaking", () => {
    const sealed = encryptSecret(key, Buffer.from(SECRET), aad);
    expectDecryptionError(() => decryptSecret(keyring, { ...sealed, nonce: sealed.nonce.subarray(1) }, aad), "malformed");
    expectDecryptionError(() => decryptSecret(keyring, { ...sealed, wrappedDek: sealed.wrappedDek.subarray(1) }, aad), "malformed");
    expectDecryptionError(() => decryptSecret(keyring, { ...sealed, ciphertext: Buffer.alloc(3) }, aad), "malformed");
    expectDecryptionError(() => decryptSecret(keyring, { ciphertext: null, nonce: null, wrappedDek: null, masterKeyId: null }, aad), "destroyed");
    const stranger = new MasterKeyring(MasterKey.generate());
    const error = expectDecryptionError(() => decryptSecret(stranger, sealed, aad), "unknown_master_key");
    expect(error.message).toContain(key.id);
  });

  it("refuses a wrapped key relabelled with another master key id", () => {
    const other = MasterKey.generate();
    const sealed = encryptSecret(key, Buffer.from(SECRET), aad);
    const both = new MasterKeyring(key, [other]);
    expectDecryptionError(() => decryptSecret(both, { ...sealed, masterKeyId: other.id }, aad), "authentication_failed");
  });

  it("rejects AAD fields that would make two rows share an AAD", () => {
    expect(() => encryptSecret(key, Buffer.from("x"), { ...aad, credentialId: "a|b" })).toThrow(TypeError);
    expect(() => encryptSecret(key, Buffer.from("x"), { ...aad, keyVersion: 0 })).toThrow(TypeError);
    expect(() => encryptSecret(key, Buffer.from("x"), { ...aad, organizationId: "" })).toThrow(TypeError);
  });

  it("accepts Uint8Array rows as PGlite returns them", () => {
    const sealed = encryptSecret(key, Buffer.from(SECRET), aad);
    const row = {
      ciphertext: new Uint8Array(sealed.ciphertext),
      nonce: new Uint8Array(sealed.nonce),
      wrappedDek: new Uint8Array(sealed.wrappedDek),
      masterKeyId: sealed.masterKeyId,
    };
    expect(decryptSecret(keyring, row, aad).toString()).toBe(SECRET);
  });
});

describe("master key rotation (rewrapDek)", () => {
  it("re-wraps the data key under the new key and keeps the plaintext and ciphertext", () => {
    const oldKey = MasterKey.generate();
    const newKey = MasterKey.generate();
    const sealed = encryptSecret(oldKey, Buffer.from(SECRET), aad);

    const rewrapped = rewrapDek(new MasterKeyring(oldKey), newKey, sealed, aad);
    expect(rewrapped.masterKeyId).toBe(newKey.id);
    expect(rewrapped.wrappedDek.equals(sealed.wrappedDek)).toBe(false);

    const row = { ...sealed, ...rewrapped };
    expect(decryptSecret(new MasterKeyring(newKey), row, aad).toString()).toBe(SECRET);
    // The old key alone can no longer open the row, and the old wrapping is refused under the new id.
    expectDecryptionError(() => decryptSecret(new MasterKeyring(oldKey), row, aad), "unknown_master_key");
    expectDecryptionError(() => decryptSecret(new MasterKeyring(newKey, [oldKey]), { ...sealed, masterKeyId: newKey.id }, aad), "authentication_failed");
  });

  it("decrypts rows of both keys with a keyring holding the previous key", () => {
    const oldKey = MasterKey.generate();
    const newKey = MasterKey.generate();
    const oldRow = encryptSecret(oldKey, Buffer.from("old"), aad);
    const newRow = encryptSecret(newKey, Buffer.from("new"), aad);
    const keyring = new MasterKeyring(oldKey).withCurrent(newKey);
    expect(keyring.current.id).toBe(newKey.id);
    expect(decryptSecret(keyring, oldRow, aad).toString()).toBe("old");
    expect(decryptSecret(keyring, newRow, aad).toString()).toBe("new");
  });

  it("refuses to re-wrap a row bound to another credential", () => {
    const oldKey = MasterKey.generate();
    const sealed = encryptSecret(oldKey, Buffer.from(SECRET), aad);
    expectDecryptionError(() => rewrapDek(new MasterKeyring(oldKey), MasterKey.generate(), sealed, { ...aad, keyVersion: 3 }), "authentication_failed");
  });
});

describe("wrapping other key material (the audit key)", () => {
  it("round-trips under the master key and refuses another master key, another context or a flipped bit", () => {
    const master = MasterKey.generate();
    const material = Buffer.alloc(32, 7);
    const wrapped = wrapKeyMaterial(master, material, "keyplane-audit-key|a");
    expect(unwrapKeyMaterial(master, wrapped, "keyplane-audit-key|a")?.equals(material)).toBe(true);
    expect(unwrapKeyMaterial(MasterKey.generate(), wrapped, "keyplane-audit-key|a")).toBeNull();
    expect(unwrapKeyMaterial(master, wrapped, "keyplane-audit-key|b")).toBeNull();
    expect(unwrapKeyMaterial(master, flip(wrapped, wrapped.length - 1), "keyplane-audit-key|a")).toBeNull();
    expect(unwrapKeyMaterial(master, wrapped.subarray(0, 10), "keyplane-audit-key|a")).toBeNull();
  });
});

describe("key material never prints", () => {
  it("hides key bytes from inspect, JSON and string conversion", () => {
    const key = MasterKey.generate();
    const keyring = new MasterKeyring(key);
    const b64 = key.toBase64();
    const hex = key.bytes().toString("hex");
    // String(key) on purpose: a key must not print its bytes however it is stringified.
    // eslint-disable-next-line @typescript-eslint/no-base-to-string
    for (const text of [inspect(key), inspect(keyring), JSON.stringify({ key, keyring }), `${String(key)}`]) {
      expect(text).not.toContain(b64);
      expect(text).not.toContain(hex);
    }
    expect(inspect(keyring)).toContain(key.id);
  });
});
