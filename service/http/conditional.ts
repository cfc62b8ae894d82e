// Entity tags and the conditional request headers (RFC 9110 §8.8.3, §13.1): the one place that
// builds a resource's ETag and decides whether If-Match or If-None-Match holds.
import type { Request, Response } from "express";
import { PreconditionFailedError } from "../errors.js";
import { problems } from "./problem.js";

/** The strong ETag of a resource at `version`. */
export function etagFor(version: number): string {
  return `"v${version}"`;
}

export function setEtag(res: Response, version: number): void {
  res.setHeader("ETag", etagFor(version));
}

interface EntityTag {
  weak: boolean;
  /** With its double quotes, as it is sent. */
  opaque: string;
}

/** What an If-Match or If-None-Match field asks for: any current representation, or one of these tags. */
export type TagCondition = "*" | readonly EntityTag[];

const ENTITY_TAG = /(W\/)?("[\x21\x23-\x7E]*")/y;
const SEPARATOR = /[ \t]*,[ \t]*/y;

/**
 * Parses `*` or a comma-separated list of entity tags (the grammar the contract's IfMatch and
 * IfNoneMatch parameters declare); null when the value is neither. Tags are read whole, so a
 * comma inside the quotes does not split one.
 */
export function parseTagCondition(value: string): TagCondition | null {
  const text = value.trim();
  if (text === "*") return "*";
  const tags: EntityTag[] = [];
  let at = 0;
  for (;;) {
    ENTITY_TAG.lastIndex = at;
    const tag = ENTITY_TAG.exec(text);
    if (!tag) return null;
    tags.push({ weak: tag[1] !== undefined, opaque: tag[2] });
    at = ENTITY_TAG.lastIndex;
    if (at === text.length) return tags;
    SEPARATOR.lastIndex = at;
    if (!SEPARATOR.exec(text)) return null;
    at = SEPARATOR.lastIndex;
  }
}

function opaqueOf(etag: string): string {
  return etag.replace(/^W\//, "");
}

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
export function ifNoneMatchMatches(header: string, currentEtag: string): boolean {
  const condition = parseTagCondition(header);
  if (condition === null) return false;
  if (condition === "*") return true;
  const current = opaqueOf(currentEtag);
  return condition.some((tag) => tag.opaque === current);
}

/**
 * The request's If-Match, or undefined when absent. A value that is neither `*` nor a list of
 * entity tags is a 400 naming `header.if-match` (the contract: "an If-Match that is not an ETag is
 * a 400"), not a silent unconditional write. A well-formed tag that names no version, such as
 * `"abc"` or `W/"v1"`, is read and simply never matches (412).
 */
export function ifMatchOf(req: Request): TagCondition | undefined {
  const header = req.get("if-match");
  if (header === undefined) return undefined;
  const condition = parseTagCondition(header);
  if (condition === null) {
    throw problems.badRequest('If-Match must be * or a list of ETags such as "v3".', [
      { path: "header.if-match", message: 'expected * or ETags of the form "v<version>", separated by commas' },
    ]);
  }
  return condition;
}

/** @throws PreconditionFailedError (with the current ETag) when the request's If-Match does not hold for `currentVersion`. */
export function checkPrecondition(condition: TagCondition | undefined, currentVersion: number): void {
  if (condition === undefined) return;
  const current = etagFor(currentVersion);
  if (!ifMatchHolds(condition, current)) throw new PreconditionFailedError(current);
}
