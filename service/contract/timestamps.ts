// Owns date-times: the one parser for an RFC 3339 timestamp (used by the contract check on every
// `format: date-time` field and by the CLI), and finding and normalising those fields in a value
// that passed its schema.

import { z } from "zod";
import type { FieldError } from "../errors.js";
import { deref, isObject, type JsonSchema } from "./contract-document.js";
import { safeSegment } from "./error-messages.js";

/** Property names from the root to a `format: date-time` string; `*` stands for any item or key. */
export type TimestampPath = readonly string[];

// The shape z.fromJSONSchema checks for `format: date-time`: seconds required, Z or an offset.
const RFC3339 = z.iso.datetime({ offset: true });
// What PostgreSQL, JavaScript and RFC 3339 output all represent the same way.
const EARLIEST_TIMESTAMP = Date.parse("0001-01-01T00:00:00.000Z");
const LATEST_TIMESTAMP = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * Reads an RFC 3339 date-time as the instant it names, in UTC with millisecond precision, or null
 * when the text is not one or the instant lies outside the years 0001–9999.
 * RFC 3339 allows offsets up to ±23:59 and PostgreSQL refuses those beyond ±15:59, so the
 * database only ever receives the normalised UTC text; the year bounds keep the value one that
 * every client parses back (JavaScript would write year 10000 as `+010000`).
 */
export function parseTimestamp(text: string): string | null {
  if (!RFC3339.safeParse(text).success) return null;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || ms < EARLIEST_TIMESTAMP || ms > LATEST_TIMESTAMP) return null;
  return new Date(ms).toISOString();
}

/** Where `schema` puts `format: date-time` strings. */
export function timestampPaths(schema: unknown, trail: string[] = [], visiting = new Set<unknown>()): TimestampPath[] {
  const s = deref<JsonSchema>(schema);
  if (!isObject(s) || visiting.has(s)) return [];
  visiting.add(s);
  const found: TimestampPath[] = [];
  if (s.format === "date-time") found.push([...trail]);
  for (const key of ["allOf", "anyOf", "oneOf"] as const) {
    if (Array.isArray(s[key])) for (const member of s[key] as unknown[]) found.push(...timestampPaths(member, trail, visiting));
  }
  if (isObject(s.properties)) {
    for (const [name, property] of Object.entries(s.properties)) found.push(...timestampPaths(property, [...trail, name], visiting));
  }
  if (isObject(s.items)) found.push(...timestampPaths(s.items, [...trail, "*"], visiting));
  if (isObject(s.additionalProperties)) found.push(...timestampPaths(s.additionalProperties, [...trail, "*"], visiting));
  visiting.delete(s);
  return found;
}

/**
 * Rewrites, in place, each date-time string at `path` in `data` to its normalised UTC form, and
 * adds an error for each one outside the years 0001–9999. `at` is the path of `data` in errors.
 */
export function normalizeTimestamps(data: unknown, path: TimestampPath, at: string, errors: FieldError[]): void {
  if (!isObject(data) && !Array.isArray(data)) return;
  const [head, ...rest] = path;
  const container = data as Record<string, unknown>;
  const keys = head === "*" ? Object.keys(container) : Object.hasOwn(container, head) ? [head] : [];
  for (const key of keys) {
    const where = `${at}.${safeSegment(Array.isArray(data) ? Number(key) : key)}`;
    const value = container[key];
    if (rest.length > 0) {
      normalizeTimestamps(value, rest, where, errors);
    } else if (typeof value === "string") {
      const normalized = parseTimestamp(value);
      if (normalized === null) errors.push({ path: where, message: "must be a date-time between the years 0001 and 9999 in UTC" });
      else container[key] = normalized;
    }
  }
}
