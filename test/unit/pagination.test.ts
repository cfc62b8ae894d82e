import { describe, expect, it } from "vitest";
import { pageRequest, paginate } from "../../service/http/pagination.js";
import { ValidationError } from "../../service/errors.js";

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key), "utf8").toString("base64url");

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

  it.each([
    ["not base64 JSON", "%%%"],
    ["another list's key", cursorOf({ name: "b" })],
    ["an extra member", cursorOf({ seq: 3, where: "1=1" })],
    ["a negative sequence", cursorOf({ seq: -1 })],
  ])("refuses a cursor with %s as a 422 on query.cursor", (_what, cursor) => {
    const refusal = (() => {
      try {
        pageRequest({ cursor }, "seq");
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(ValidationError);
    expect(refusal).toMatchObject({ errors: [{ path: "query.cursor", message: "cursor is not one this API issued" }] });
  });
});
