// The OpenPGP side of a provider release: the signing key (made by `keyplane provider keygen`) and
// the detached signature of a release's SHA256SUMS, which `tofu init` and `terraform init` check
// against the public key the registry's download document names.
import * as openpgp from "openpgp";

export interface SigningKeyPair {
  /** ASCII-armored private key (protected by the passphrase when one was given). */
  privateKey: string;
  /** ASCII-armored public key: what the registry serves in `signing_keys`. */
  publicKey: string;
  /** The key id as the engines print it: 16 upper-case hex digits. */
  keyId: string;
}

/**
 * A new RSA signing key. RSA rather than EdDSA: every engine's OpenPGP library verifies RSA
 * signatures, and HashiCorp's own release keys are RSA. 4096 bits by default; tests use 2048.
 */
export async function generateSigningKey(options: { name: string; email?: string; passphrase?: string; rsaBits?: number }): Promise<SigningKeyPair> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: "rsa",
    rsaBits: options.rsaBits ?? 4096,
    userIDs: [{ name: options.name, email: options.email }],
    passphrase: options.passphrase,
    format: "armored",
  });
  return { privateKey, publicKey, keyId: (await publicSigningKey(publicKey)).keyId };
}

/**
 * The public part of an armored key, public or private (an operator may drop the private key where
 * the public one belongs), and its key id: what the registry's download document may show.
 * Throws when the text is not an OpenPGP key.
 */
export async function publicSigningKey(armoredKey: string): Promise<{ keyId: string; asciiArmor: string }> {
  const key = (await openpgp.readKey({ armoredKey })).toPublic();
  return { keyId: key.getKeyID().toHex().toUpperCase(), asciiArmor: key.armor() };
}

/** A binary detached signature of `data` (the engines read the `.sig` file as binary OpenPGP packets). */
export async function signDetached(data: Uint8Array, armoredPrivateKey: string, passphrase?: string): Promise<{ signature: Uint8Array; publicKey: string }> {
  let key = await openpgp.readPrivateKey({ armoredKey: armoredPrivateKey });
  if (!key.isDecrypted()) {
    if (!passphrase) throw new Error("the provider signing key is protected by a passphrase; set KEYPLANE_PROVIDER_SIGNING_KEY_PASSPHRASE");
    key = await openpgp.decryptKey({ privateKey: key, passphrase });
  }
  const message = await openpgp.createMessage({ binary: data });
  // openpgp's declared return type names web-stream types this project's lib settings lack.
  const signature: unknown = await openpgp.sign({ message, signingKeys: key, detached: true, format: "binary" });
  return { signature: signature as Uint8Array, publicKey: key.toPublic().armor() };
}
