/**
 * A local OpenID Connect issuer for workload identity tests: serves its discovery document and
 * key set on 127.0.0.1, signs identity tokens with RSA, EC or Ed25519 keys, rotates keys, and
 * counts how often its key set and discovery document were fetched.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

export type SigningAlg = "RS256" | "ES256" | "EdDSA";

interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface SignOptions {
  alg?: SigningAlg;
  /** Sign with this key instead of the current one of `alg`. */
  key?: SigningKey;
  /** The `kid` header; defaults to the signing key's. */
  kid?: string;
  /** Seconds from now; defaults: iat now, exp in 5 minutes. */
  lifetimeSeconds?: number;
  issuedAtOffsetSeconds?: number;
}

export class TestOidcIssuer {
  url = "";
  jwksFetches = 0;
  discoveryFetches = 0;
  private keys: SigningKey[] = [];
  private server: Server | null = null;
  private nextKid = 1;

  /** A key of `alg` that the issuer does not publish. */
  static async unpublishedKey(alg: SigningAlg = "RS256", kid = "unpublished"): Promise<SigningKey> {
    return makeKey(alg, kid);
  }

  async start(): Promise<this> {
    this.keys = [await makeKey("RS256", this.kid()), await makeKey("ES256", this.kid()), await makeKey("EdDSA", this.kid())];
    this.server = createServer((req, res) => {
      const path = (req.url ?? "").split("?")[0];
      if (path === "/.well-known/openid-configuration") {
        this.discoveryFetches++;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ issuer: this.url, jwks_uri: `${this.url}/jwks`, id_token_signing_alg_values_supported: ["RS256", "ES256", "EdDSA"] }));
      } else if (path === "/jwks") {
        this.jwksFetches++;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ keys: this.publishedKeys() }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Published keys, plus `extra` (e.g. an `oct` key a careless issuer might publish). */
  extraKeys: JWK[] = [];

  private publishedKeys(): JWK[] {
    return [...this.keys.map((k) => k.publicJwk), ...this.extraKeys];
  }

  current(alg: SigningAlg = "RS256"): SigningKey {
    return this.keys.filter((k) => k.alg === alg).at(-1)!;
  }

  /** Replaces the key of `alg` with a new one (new `kid`); the old one is no longer published. */
  async rotate(alg: SigningAlg = "RS256"): Promise<SigningKey> {
    const fresh = await makeKey(alg, this.kid());
    this.keys = [...this.keys.filter((k) => k.alg !== alg), fresh];
    return fresh;
  }

  /** Claims are taken as given, well-typed or not (tests send wrong types on purpose). */
  async sign(claims: Record<string, unknown>, options: SignOptions = {}): Promise<string> {
    const key = options.key ?? this.current(options.alg);
    const now = Math.floor(Date.now() / 1000) + (options.issuedAtOffsetSeconds ?? 0);
    return new SignJWT({ iss: this.url, iat: now, exp: now + (options.lifetimeSeconds ?? 300), ...claims })
      .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: "JWT" })
      .sign(key.privateKey);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private kid(): string {
    return `key-${this.nextKid++}`;
  }
}

async function makeKey(alg: SigningAlg, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** An unsigned token (`alg: none`), which no issuer's keys can vouch for. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}
