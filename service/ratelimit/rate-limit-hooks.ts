import type { Request } from "express";
import type { Config } from "../config.js";
import type { GuardHooks } from "../http/operation-router.js";
import { problems } from "../http/problem.js";
import { TokenBucketLimiter } from "./token-bucket.js";

/** Operations that hand out secrets: limited per token (config.rateLimit.resolvePerMinute). */
const SECRET_OPERATIONS = new Set(["resolveCredential", "getEnvironment"]);

export interface RateLimits {
  hooks: GuardHooks;
  perToken: TokenBucketLimiter;
  authFailures: TokenBucketLimiter;
}

/**
 * Guard hooks for the operation router:
 * - failed authentication is counted per client address (a request with no Authorization
 *   header at all is not a guess and is not counted); once an address has used up its budget,
 *   every request from it is refused with 429 before its token is even looked up, so guessing
 *   cannot continue at full speed and a right guess is not confirmed;
 * - resolve and environment are limited per token.
 */
export function createRateLimits(limits: Config["rateLimit"], now?: () => number): RateLimits {
  const perToken = new TokenBucketLimiter({ perMinute: limits.resolvePerMinute, now });
  const authFailures = new TokenBucketLimiter({ perMinute: limits.authFailuresPerMinute, now });
  const hooks: GuardHooks = {
    beforeAuth(req) {
      const verdict = authFailures.check(clientKey(req));
      if (!verdict.allowed) throw problems.rateLimited(verdict.retryAfterSeconds);
    },
    onAuthFailure(req, failure) {
      if (failure !== "missing") authFailures.take(clientKey(req));
    },
    afterAuth(req, actor) {
      if (!SECRET_OPERATIONS.has(req.kp.operationId ?? "")) return;
      const verdict = perToken.take(actor.tokenId);
      if (!verdict.allowed) throw problems.rateLimited(verdict.retryAfterSeconds);
    },
  };
  return { hooks, perToken, authFailures };
}

/**
 * The client's address (the socket peer: the app does not trust X-Forwarded-For). IPv6 clients
 * are grouped by /64, the smallest block a single host is usually given.
 */
export function clientKey(req: Request): string {
  return addressKey(req.socket.remoteAddress ?? "unknown");
}

export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":")) return address;
  const [head, tail] = address.split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(":")}::/64`;
}
