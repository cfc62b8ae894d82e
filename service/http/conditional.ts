import type { Request, Response } from "express";
import { problems } from "./problem.js";

export function etagFor(version: number): string {
  return `"v${version}"`;
}

export function setEtag(res: Response, version: number): void {
  res.setHeader("ETag", etagFor(version));
}

/**
 * The version named by If-Match, `"*"` as null (any version), or undefined when absent.
 * A malformed If-Match can never match, so it is a 412 rather than a silent unconditional write.
 */
export function expectedVersion(req: Request): number | null | undefined {
  const header = req.get("if-match");
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === "*") return null;
  const match = /^(?:W\/)?"v(\d{1,9})"$/.exec(value);
  if (!match) throw problems.badRequest('If-Match must be an ETag such as "v3".', [{ path: "header.if-match", message: 'expected an ETag of the form "v<version>"' }]);
  return Number(match[1]);
}

/** Throws 412 when the request's If-Match names another version than the current one. */
export function checkPrecondition(expected: number | null | undefined, current: number): void {
  if (expected === undefined || expected === null) return;
  if (expected !== current) throw problems.preconditionFailed(current);
}
