import { z } from "zod";
import { problems } from "./problem.js";
import { unstorable } from "../contract/storable-input.js";

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

const storableText = z.string().refine((text) => unstorable(text) === null);

/**
 * The sort keys lists page by. A cursor comes back from the client, so its content is input like
 * any other: each list decodes it with its key's shape, and nothing else reaches the query.
 */
export const CURSOR_KEYS = {
  /** Lists ordered by id (`cred_…`, `tok_…`, `org_…`). */
  id: z.strictObject({ id: z.string().regex(/^[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}$/) }),
  /** Lists ordered by name. */
  name: z.strictObject({ name: storableText.min(1).max(512) }),
  /** Lists ordered by a sequence number (the audit log, a bigint). */
  seq: z.strictObject({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
} as const;

/** Cursors are opaque to clients: base64url JSON of the last row's sort key. */
export function encodeCursor(key: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

/** The sort key a cursor carries, or null without one. @throws a 422 problem when it is not one this API issued. */
export function decodeCursor<K>(cursor: string | undefined, shape: z.ZodType<K>): K | null {
  if (cursor === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const key = shape.safeParse(parsed);
  if (key.success) return key.data;
  throw problems.validation([{ path: "query.cursor", message: "cursor is not one this API issued" }]);
}

export function page<T>(rows: T[], limit: number, keyOf: (row: T) => Record<string, string | number>) {
  const hasMore = rows.length > limit;
  const data = hasMore ? rows.slice(0, limit) : rows;
  return { data, next_cursor: hasMore ? encodeCursor(keyOf(data[data.length - 1])) : null };
}
