import { describe, expect, it } from "vitest";
import { pageRequest, paginate } from "../../service/http/pagination.js";
import { ValidationError } from "../../service/errors.js";

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
const credentialId = "cred_01J00000000000000000000000";

function refusalOf(request: () => unknown) {
  try {
    request();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("pageRequest and paginate", () => {
  it("reads the first page with the default limit", () => {
    expect(pageRequest({}, "name")).toEqual({ after: null, limit: 50 });
  });

  it("gives a cursor only when the extra row came back, and the next request continues after the last shown row", () => {
    const rows = [{ name: "a" }, { name: "b" }, { name: "c" }];
    const first = paginate(rows, pageRequest({ limit: 2 }, "name"), (row) => ({ name: row.name }));
    expect(first.data).toEqual([{ name: "a" }, { name: "b" }]);
    expect(first.next_cursor).not.toBeNull();
    expect(pageRequest({ cursor: first.next_cursor!, limit: 2 }, "name")).toEqual({ after: { name: "b" }, limit: 2 });
    expect(paginate(rows.slice(2), pageRequest({ limit: 2 }, "name"), (row) => ({ name: row.name }))).toEqual({ data: [{ name: "c" }], next_cursor: null });
  });

  it("reads back the id an id-ordered page ended on, as `id` oldest first and as `before` newest first", () => {
    const oldest = paginate([{ id: credentialId }, { id: "x" }], pageRequest({ limit: 1 }, "oldest", "cred"), (row) => ({ id: row.id }));
    expect(pageRequest({ cursor: oldest.next_cursor! }, "oldest", "cred").after).toEqual({ id: credentialId });
    const newest = paginate([{ id: credentialId }, { id: "x" }], pageRequest({ limit: 1 }, "newest", "cred"), (row) => ({ before: row.id }));
    expect(pageRequest({ cursor: newest.next_cursor! }, "newest", "cred").after).toEqual({ before: credentialId });
  });

  it.each([
    ["not base64 JSON", "%%%", "seq"],
    ["another list's key", cursorOf({ name: "b" }), "seq"],
    ["an extra member", cursorOf({ seq: 3, where: "1=1" }), "seq"],
    ["a negative sequence", cursorOf({ seq: -1 }), "seq"],
    ["the other order's key (oldest first, read newest first)", cursorOf({ id: credentialId }), "newest"],
    ["the other order's key (newest first, read oldest first)", cursorOf({ before: credentialId }), "oldest"],
    ["an id of another list ordered the same way", cursorOf({ before: "mal_01J00000000000000000000000" }), "newest"],
  ] as const)("refuses a cursor with %s as a 422 on query.cursor", (_what, cursor, kind) => {
    const refusal = refusalOf(() => (kind === "seq" ? pageRequest({ cursor }, "seq") : pageRequest({ cursor }, kind, "cred")));
    expect(refusal).toBeInstanceOf(ValidationError);
    expect(refusal).toMatchObject({ errors: [{ path: "query.cursor", message: "cursor is not one this API issued" }] });
  });
});
