import { problems } from "./problem.js";

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

/** Cursors are opaque to clients: base64url JSON of the last row's sort key. */
export function encodeCursor(key: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

export function decodeCursor<K extends Record<string, string | number>>(cursor: string | undefined, fields: (keyof K)[]): K | null {
  if (cursor === undefined) return null;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as Record<string, unknown>;
    if (parsed && typeof parsed === "object" && fields.every((f) => ["string", "number"].includes(typeof parsed[f as string]))) {
      return parsed as K;
    }
  } catch {
    // fall through to the problem below
  }
  throw problems.validation([{ path: "query.cursor", message: "cursor is not one this API issued" }]);
}

export function page<T>(rows: T[], limit: number, keyOf: (row: T) => Record<string, string | number>) {
  const hasMore = rows.length > limit;
  const data = hasMore ? rows.slice(0, limit) : rows;
  return { data, next_cursor: hasMore ? encodeCursor(keyOf(data[data.length - 1])) : null };
}
