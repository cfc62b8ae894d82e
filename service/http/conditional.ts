// The conditional request headers (RFC 9110 §8.8.3, §13.1) as HTTP sees them: sending a
// resource's ETag and reading If-Match and If-None-Match into conditions. Whether a condition
// holds for a version is versioning.ts's rule.
import type { Request, Response } from "express";
import { etagFor, type EntityTag, type TagCondition } from "../versioning.js";
import { problems } from "./problem.js";

/** A versioned resource as the answer, with its ETag. */
export function sendVersioned(res: Response, resource: { version: number }, status = 200): void {
  res.setHeader("ETag", etagFor(resource.version));
  res.status(status).json(resource);
}

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

/**
 * An If-None-Match value as a condition, or undefined when absent. A value that is neither `*` nor
 * a list of entity tags matches nothing, so the full answer is sent.
 */
export function ifNoneMatchCondition(value: string | undefined): TagCondition | undefined {
  return value === undefined ? undefined : (parseTagCondition(value) ?? []);
}
