// Owns the wording of validation errors: zod issues become FieldErrors built from the schema and
// the *type* of the offending input only, never from its value, so a secret sent in the wrong
// field cannot come back in a 422 (or a log line). Keys are shown only when they look like names.

import type { z } from "zod";
import type { FieldError } from "../errors.js";

type Issue = z.core.$ZodIssue;

// Keys are echoed in paths only when they look like field names (`api_key`) or header names
// (`idempotency-key`); anything else, which could be a secret pasted as a key, is shown as `*`.
const SAFE_KEY = /^(?:[A-Za-z_][A-Za-z0-9_]{0,31}|[a-z]+(?:-[a-z]+){1,3})$/;

/** A path segment safe to echo: array indexes and name-like keys as they are, anything else `*`. */
export function safeSegment(key: PropertyKey): string {
  if (typeof key === "number") return String(key);
  return typeof key === "string" && SAFE_KEY.test(key) ? key : "*";
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(safeSegment)].join(".");
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function expectedName(expected: string): string {
  return expected === "int" ? "integer" : expected;
}

const EMPTY = "must not be empty";

/** The FieldErrors for zod's issues, paths prefixed by `prefix` (`body`, `query`, ...). */
export function formatIssues(issues: readonly Issue[], prefix: string): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) formatIssue(issue, prefix, out);
  // One message per path and text is enough; zod can report the same failure twice via unions.
  // An empty string also fails any pattern; "must not be empty" says it better on its own.
  const empty = new Set(out.filter((e) => e.message === EMPTY).map((e) => e.path));
  const seen = new Set<string>();
  return out.filter((e) => {
    const key = `${e.path}\u0000${e.message}`;
    if (seen.has(key) || (empty.has(e.path) && e.message.startsWith("must match the pattern"))) return false;
    seen.add(key);
    return true;
  });
}

function formatIssue(issue: Issue, prefix: string, out: FieldError[]): void {
  const path = joinPath(prefix, issue.path);
  const hasInput = Object.hasOwn(issue, "input");
  switch (issue.code) {
    case "invalid_type":
      out.push({
        path,
        message: !hasInput || issue.input === undefined ? "is required" : `expected ${expectedName(issue.expected)}, received ${typeName(issue.input)}`,
      });
      return;
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = small ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive !== false;
      const n = Number(bound);
      switch (issue.origin) {
        case "string":
          out.push({ path, message: small && n === 1 ? EMPTY : `must be at ${small ? "least" : "most"} ${n} characters long` });
          return;
        case "array":
        case "set":
          out.push({ path, message: `must have at ${small ? "least" : "most"} ${n} items` });
          return;
        case "object":
        case "record":
          out.push({ path, message: `must have at ${small ? "least" : "most"} ${n} ${n === 1 ? "property" : "properties"}` });
          return;
        default:
          out.push({ path, message: `must be ${small ? (inclusive ? ">=" : ">") : inclusive ? "<=" : "<"} ${n}` });
          return;
      }
    }
    case "invalid_format":
      out.push({ path, message: formatMessage(issue) });
      return;
    case "not_multiple_of":
      out.push({ path, message: `must be a multiple of ${Number(issue.divisor)}` });
      return;
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      out.push({ path, message: values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(", ")}` });
      return;
    }
    case "unrecognized_keys":
      for (const key of issue.keys) {
        out.push({ path: `${path}.${safeSegment(key)}`, message: prefix === "query" ? "unknown query parameter" : "unknown field" });
      }
      return;
    case "invalid_key": {
      const inner = formatIssues(issue.issues, "").map((e) => e.message);
      out.push({ path, message: `invalid name${inner.length ? `: ${inner.join("; ")}` : ""}` });
      return;
    }
    case "invalid_element":
      for (const inner of issue.issues) formatIssue({ ...inner, path: [...issue.path, issue.key as PropertyKey, ...inner.path] }, prefix, out);
      return;
    case "invalid_union":
      formatUnion(issue, prefix, out);
      return;
    default:
      out.push({ path, message: "is invalid" });
  }
}

/**
 * A union fails when no branch matches. If exactly one branch got past the type check (e.g. the
 * string branch of `string | null` with a bad pattern), its issues are the useful ones;
 * otherwise every branch was a type mismatch and the message lists the accepted types.
 */
function formatUnion(issue: z.core.$ZodIssueInvalidUnion, prefix: string, out: FieldError[]): void {
  const path = joinPath(prefix, issue.path);
  const isTypeMismatch = (branch: readonly Issue[]) => branch.length === 1 && branch[0].code === "invalid_type" && branch[0].path.length === 0;
  const typed = issue.errors.filter((branch) => !isTypeMismatch(branch));
  if (typed.length === 1) {
    for (const inner of typed[0]) formatIssue({ ...inner, path: [...issue.path, ...inner.path] }, prefix, out);
    return;
  }
  if (typed.length === 0 && issue.errors.length > 0) {
    const expected = [...new Set(issue.errors.map((b) => expectedName((b[0] as z.core.$ZodIssueInvalidType).expected)))];
    const received = Object.hasOwn(issue, "input") ? typeName(issue.input) : "undefined";
    out.push({ path, message: `expected ${expected.join(" or ")}, received ${received}` });
    return;
  }
  out.push({ path, message: "does not match any of the accepted shapes" });
}

function formatMessage(issue: z.core.$ZodIssueInvalidStringFormat): string {
  switch (issue.format) {
    case "regex":
      return `must match the pattern ${issue.pattern ?? ""}`.trim();
    case "url":
      return "must be a valid URL";
    case "datetime":
      return "must be an RFC 3339 date-time such as 2030-01-01T00:00:00Z";
    case "date":
      return "must be a date such as 2030-01-01";
    case "email":
      return "must be an email address";
    default:
      return `must be a valid ${issue.format}`;
  }
}
