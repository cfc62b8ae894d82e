// What the identity exchange keeps of an issuer's key set: the cache is shared by every
// organization and its key-set URLs are chosen by organization admins, so a set stays small.
import { describe, expect, it } from "vitest";
import { publicKeySet } from "../../service/identity/issuer-keys.js";

const rsa = (kid: string) => ({ kty: "RSA", kid, alg: "RS256", use: "sig", n: "u".repeat(342), e: "AQAB" });

describe("publicKeySet", () => {
  it("keeps only the members verification reads", () => {
    const padded = { ...rsa("a"), x5c: ["M".repeat(100_000)], comment: "x".repeat(50_000), key_ops: ["verify"] };
    expect(publicKeySet({ keys: [padded] })).toEqual({ keys: [rsa("a")] });
  });

  it("keeps EC and OKP keys' curve and coordinates", () => {
    const ec = { kty: "EC", kid: "e", crv: "P-256", x: "x".repeat(43), y: "y".repeat(43) };
    const okp = { kty: "OKP", kid: "o", crv: "Ed25519", x: "x".repeat(43) };
    expect(publicKeySet({ keys: [ec, okp] })).toEqual({ keys: [ec, okp] });
  });

  it("drops symmetric and encryption keys, non-objects and keys with members no key has", () => {
    const keys = [
      { kty: "oct", k: "secret" },
      { ...rsa("enc"), use: "enc" },
      "rsa",
      null,
      { ...rsa("long"), n: "u".repeat(5_000) },
      { ...rsa("odd"), e: 65537 },
      rsa("ok"),
    ];
    expect(publicKeySet({ keys }).keys.map((k) => k.kid)).toEqual(["ok"]);
  });

  it("keeps at most 32 keys", () => {
    const keys = Array.from({ length: 40 }, (_, i) => rsa(`k${i}`));
    const kept = publicKeySet({ keys }).keys;
    expect(kept).toHaveLength(32);
    expect(kept.at(-1)?.kid).toBe("k31");
  });

  it("refuses a document without a key list", () => {
    expect(() => publicKeySet({ keys: "none" })).toThrow("no keys");
  });
});
