// Verifying a workload's identity token (a JWT) and matching it against identity bindings. Every
// refusal is an IdentityRejectedError whose code names the check that failed; its detail never
// quotes the token or a claim.
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import { IdentityRejectedError } from "../errors.js";
import { ALLOWED_ALGORITHMS, type IssuerKeys, type KeySource } from "./issuer-keys.js";

/** Clock skew tolerated on `exp`, `nbf` and `iat`. */
const CLOCK_SKEW_SECONDS = 60;
/** The longest `exp - iat` accepted: a long-lived identity token is a stolen one waiting to happen. */
const MAX_LIFETIME_SECONDS = 24 * 3600;

const reject = (code: string, detail: string) => new IdentityRejectedError(code, detail);

/** What the token claims before anything is verified: used only to find the bindings to verify against. */
export interface UnverifiedToken {
  issuer: string;
  subject: string | null;
}

/** @throws IdentityRejectedError `invalid_signature` (not a JWS), `algorithm_not_allowed`, `unknown_issuer` (no `iss`) */
export function peekToken(token: string): UnverifiedToken {
  let alg: unknown;
  let payload: JWTPayload;
  try {
    alg = decodeProtectedHeader(token).alg;
    payload = decodeJwt(token);
  } catch {
    throw reject("invalid_signature", "The identity token is not a signed JWT.");
  }
  if (typeof alg !== "string" || !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw reject("algorithm_not_allowed", `The identity token must be signed with ${ALLOWED_ALGORITHMS.join(", ")}.`);
  }
  if (typeof payload.iss !== "string" || payload.iss === "") throw reject("unknown_issuer", "The identity token names no issuer.");
  return { issuer: payload.iss, subject: typeof payload.sub === "string" ? payload.sub : null };
}

/**
 * Verifies the signature against the issuer's published keys and the time claims; returns the
 * verified claims. A `kid` the cached key set lacks fetches the set again (bounded by IssuerKeys).
 */
export async function verifyToken(token: string, source: KeySource, keys: IssuerKeys): Promise<JWTPayload> {
  const options = {
    issuer: source.issuer,
    algorithms: [...ALLOWED_ALGORITHMS],
    clockTolerance: CLOCK_SKEW_SECONDS,
    maxTokenAge: MAX_LIFETIME_SECONDS,
    requiredClaims: ["exp", "iat"],
  };
  let payload: JWTPayload;
  try {
    try {
      payload = (await jwtVerify(token, await keys.resolver(source), options)).payload;
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      const refreshed = await keys.refreshed(source);
      if (!refreshed) throw error;
      payload = (await jwtVerify(token, refreshed, options)).payload;
    }
  } catch (error) {
    throw rejection(error);
  }
  if (payload.exp! - payload.iat! > MAX_LIFETIME_SECONDS) {
    throw reject("lifetime_too_long", "The identity token is valid for more than 24 hours.");
  }
  return payload;
}

function rejection(error: unknown): IdentityRejectedError {
  if (error instanceof IdentityRejectedError) return error;
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return reject("algorithm_not_allowed", `The identity token must be signed with ${ALLOWED_ALGORITHMS.join(", ")}.`);
  }
  if (error instanceof errors.JWTExpired) return reject("expired", "The identity token has expired.");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing" && (error.claim === "exp" || error.claim === "iat")) {
      return reject("lifetime_too_long", "The identity token must carry exp and iat.");
    }
    if (error.claim === "nbf" || error.claim === "iat") return reject("not_yet_valid", "The identity token is not valid yet.");
    if (error.claim === "iss") return reject("unknown_issuer", "The identity token's issuer is not bound.");
  }
  return reject("invalid_signature", "The identity token's signature does not verify against the issuer's published keys.");
}

export interface BindingPatterns {
  audience: string;
  subject: string;
  claims: Record<string, string>;
}

export type MatchFailure = "audience_mismatch" | "subject_mismatch" | "claim_mismatch";

/** Null when the verified claims satisfy the binding; else the first check that failed. */
export function mismatch(binding: BindingPatterns, payload: JWTPayload): MatchFailure | null {
  const audiences = typeof payload.aud === "string" ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
  if (!audiences.includes(binding.audience)) return "audience_mismatch";
  if (typeof payload.sub !== "string" || !globMatches(binding.subject, payload.sub)) return "subject_mismatch";
  for (const [claim, pattern] of Object.entries(binding.claims)) {
    const value = payload[claim];
    const candidates = Array.isArray(value) ? value : [value];
    const matched = candidates.some((c) => (typeof c === "string" || typeof c === "number" || typeof c === "boolean") && globMatches(pattern, String(c)));
    if (!matched) return "claim_mismatch";
  }
  return null;
}

/**
 * `*` stands for any run of characters, everything else for itself. Matched greedily with
 * backtracking to the last star only, so time stays O(pattern × value) whatever the pattern
 * (a regular expression built from it could backtrack exponentially).
 */
export function globMatches(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === value[v]) {
      p++;
      v++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      resume = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}
