import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const ROLES = ["platform_admin", "admin", "member", "resolver"] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_PREFIX = "kp_";

/** A new bearer token: `kp_` + 32 random bytes, base64url. Shown once, stored only as a hash. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Constant-time comparison of two token hashes. */
export function hashesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function looksLikeToken(value: string): boolean {
  return value.startsWith(TOKEN_PREFIX) && value.length >= TOKEN_PREFIX.length + 32 && value.length <= 512;
}
