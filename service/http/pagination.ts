import { z } from "zod";
import { ValidationError } from "../errors.js";
import { unstorable } from "../contract/storable-input.js";

const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

const storableText = z.string().refine((text) => unstorable(text) === null);

/** The sort keys lists page by: a cursor carries the key of the last row a page showed. */
interface CursorKeys {
  /** Lists ordered by id (`cred_…`, `tok_…`, `org_…`). */
  id: { id: string };
  /** Lists ordered by name. */
  name: { name: string };
  /** Lists ordered by a sequence number (the audit log, a bigint). */
  seq: { seq: number };
}
type CursorKind = keyof CursorKeys;

/**
 * A cursor comes back from the client, so its content is input like any other: each list decodes
 * it with its key's shape, and nothing else reaches the query.
 */
const CURSOR_SHAPES: { [K in CursorKind]: z.ZodType<CursorKeys[K]> } = {
  id: z.strictObject({ id: z.string().regex(/^[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}$/) }),
  name: z.strictObject({ name: storableText.min(1).max(512) }),
  seq: z.strictObject({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
};

/** The page a list request asks for: the sort key to continue after (null for the first page) and its length. */
export interface PageRequest<K extends CursorKind> {
  after: CursorKeys[K] | null;
  limit: number;
}

/** @throws ValidationError (`query.cursor`) when the cursor is not one this API issued. */
export function pageRequest<K extends CursorKind>(query: { cursor?: string; limit?: number }, kind: K): PageRequest<K> {
  return { after: decodeCursor(query.cursor, CURSOR_SHAPES[kind]), limit: query.limit ?? DEFAULT_LIMIT };
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
