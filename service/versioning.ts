// Versions of versioned resources as entity tags, and the rules of conditional requests
// (RFC 9110 §13.1): does a client's If-Match or If-None-Match name the current version? Reading
// those headers is http/conditional.ts's work; this module only compares.
import { PreconditionFailedError } from "./errors.js";

/** The strong ETag of a resource at `version`. */
export function etagFor(version: number): string {
  return `"v${version}"`;
}

export interface EntityTag {
  weak: boolean;
  /** With its double quotes, as it is sent. */
  opaque: string;
}

/** What an If-Match or If-None-Match field asks for: any current representation, or one of these tags. */
export type TagCondition = "*" | readonly EntityTag[];

/**
 * If-Match holds when it is `*` (the resource exists: callers answer 404 first otherwise) or lists
 * the current ETag under the strong comparison: a weak tag never matches.
 */
export function ifMatchHolds(condition: TagCondition, currentEtag: string): boolean {
  if (condition === "*") return true;
  return condition.some((tag) => !tag.weak && tag.opaque === currentEtag);
}

/**
 * If-None-Match "matches" (the client's copy is current: 304) when it is `*` or lists the current
 * ETag under the weak comparison: `W/` is ignored on both sides.
 */
export function ifNoneMatchMatches(condition: TagCondition, currentEtag: string): boolean {
  if (condition === "*") return true;
  const current = currentEtag.replace(/^W\//, "");
  return condition.some((tag) => tag.opaque === current);
}

/** Throws PreconditionFailedError (naming the current ETag) when If-Match does not hold for `currentVersion`. */
export function checkPrecondition(condition: TagCondition | undefined, currentVersion: number): void {
  if (condition === undefined) return;
  const current = etagFor(currentVersion);
  if (!ifMatchHolds(condition, current)) throw new PreconditionFailedError(current);
}
