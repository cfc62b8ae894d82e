import type { Request } from "express";
import type { Config } from "../config.js";
import type { GuardHooks } from "./operation-router.js";
import { problems } from "./problem.js";
import { clientAddress } from "./context.js";
import { TokenBucketLimiter } from "../ratelimit/token-bucket.js";

/** Operations that hand out secrets: limited per token (config.rateLimit.resolvePerMinute). */
const SECRET_OPERATIONS = new Set(["resolveCredential", "getEnvironment"]);

export interface RateLimits {
  hooks: GuardHooks;
  perToken: TokenBucketLimiter;
  authFailures: TokenBucketLimiter;
}

/**
 * Guard hooks for the operation router:
 * - failed authentication is counted per client address (a request with no Authorization header
 *   at all is not a guess and is not counted). Once an address has used up its budget, requests
 *   from it whose token does not verify get 429 instead of 401. A request whose token verifies is
 *   always let through: behind a proxy or NAT many clients share an address, and one client's
 *   failures must not lock the others out. The 429 is no oracle: every token is looked up the same
 *   way before either answer, so an invalid token gets 401 or 429 depending only on the address's
 *   budget, and a valid one is let through in both cases — which only confirms what its holder
 *   knows. Guessing a 256-bit token is hopeless anyway; the budget keeps a misbehaving client
 *   visible and its audit trail bounded;
 * - resolve and environment are limited per token.
 */
export function createRateLimits(limits: Config["rateLimit"], now?: () => number): RateLimits {
  const perToken = new TokenBucketLimiter({ perMinute: limits.resolvePerMinute, now });
  const authFailures = new TokenBucketLimiter({ perMinute: limits.authFailuresPerMinute, now });
  const hooks: GuardHooks = {
    onAuthFailure(req, failure) {
      if (failure === "missing") return undefined;
      const verdict = authFailures.take(clientKey(req));
      return verdict.allowed ? undefined : problems.rateLimited(verdict.retryAfterSeconds);
    },
    afterAuth(req, actor) {
      if (!SECRET_OPERATIONS.has(req.kp.operationId ?? "")) return;
      const verdict = perToken.take(actor.tokenId);
      if (!verdict.allowed) throw problems.rateLimited(verdict.retryAfterSeconds);
    },
  };
  return { hooks, perToken, authFailures };
}

/** The client's address (see clientAddress); IPv6 clients grouped by /64, the smallest block a single host is usually given. */
export function clientKey(req: Request): string {
  return addressKey(clientAddress(req) ?? "unknown");
}

export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":")) return address;
  const [head, tail] = address.split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(":")}::/64`;
}
