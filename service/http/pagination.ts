import { z } from "zod";
import { ValidationError } from "../errors.js";
import { unstorable } from "../contract/storable-input.js";
import type { IdPrefix } from "../ids.js";

const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

const storableText = z.string().refine((text) => unstorable(text) === null);

/**
 * The orders lists page in, each with the sort key a cursor carries: that of the last row a page
 * showed. Every key is unique within its list, so a page continues strictly past it: no row is
 * shown twice or skipped, and rows inserted meanwhile land before the cursor or after it, whole.
 */
interface CursorKeys {
  /** Oldest first, by id (ULIDs sort by creation): the next page holds the ids after `id`. */
  oldest: { id: string };
  /**
   * Newest first, by id: the next page holds the ids before `before`. Named apart from `oldest`'s
   * member so that a cursor of one order is refused by a list of the other, never read backwards.
   */
  newest: { before: string };
  /** By name (unique in its list). */
  name: { name: string };
  /** By a sequence number (the audit log, a bigint), ascending. */
  seq: { seq: number };
}
type CursorKind = keyof CursorKeys;
type IdOrder = "oldest" | "newest";

/**
 * A cursor comes back from the client, so its content is input like any other: each list decodes
 * it with its key's shape, and nothing else reaches the query. An id must be one of the list's own
 * (its prefix), so a cursor of another list ordered the same way is refused too.
 */
function cursorShape(kind: CursorKind, prefix: IdPrefix | undefined): z.ZodType {
  const id = () => z.string().regex(new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`));
  switch (kind) {
    case "oldest":
      return z.strictObject({ id: id() });
    case "newest":
      return z.strictObject({ before: id() });
    case "name":
      return z.strictObject({ name: storableText.min(1).max(512) });
    case "seq":
      return z.strictObject({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
  }
}

const shapes = new Map<string, z.ZodType>();

/** The page a list request asks for: the sort key to continue after (null for the first page) and its length. */
export interface PageRequest<K extends CursorKind> {
  after: CursorKeys[K] | null;
  limit: number;
}

/**
 * `prefix`: for lists ordered by id, the prefix of their ids (`cred`, `tok`, …).
 * @throws ValidationError (`query.cursor`) when the cursor is not one this list issued.
 */
export function pageRequest<K extends CursorKind>(
  query: { cursor?: string; limit?: number },
  kind: K,
  ...[prefix]: K extends IdOrder ? [prefix: IdPrefix] : []
): PageRequest<K> {
  const name = `${kind}:${prefix ?? ""}`;
  let shape = shapes.get(name);
  if (!shape) shapes.set(name, (shape = cursorShape(kind, prefix)));
  return { after: decodeCursor(query.cursor, shape as z.ZodType<CursorKeys[K]>), limit: query.limit ?? DEFAULT_LIMIT };
}

/**
 * The answer to a list request, from rows fetched with one more than the page's limit: that extra
 * row, when it came back, says another page follows, and the cursor carries the last shown row's key.
 */
export function paginate<T, K extends CursorKind>(rows: readonly T[], page: PageRequest<K>, keyOf: (row: T) => CursorKeys[K]) {
  const data = rows.slice(0, page.limit);
  const hasMore = rows.length > page.limit;
  return { data, next_cursor: hasMore ? encodeCursor(keyOf(data[data.length - 1])) : null };
}

/** Cursors are opaque to clients: base64url JSON of the last row's sort key. */
function encodeCursor(key: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

function decodeCursor<K>(cursor: string | undefined, shape: z.ZodType<K>): K | null {
  if (cursor === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const key = shape.safeParse(parsed);
  if (key.success) return key.data;
  throw new ValidationError([{ path: "query.cursor", message: "cursor is not one this API issued" }]);
}
