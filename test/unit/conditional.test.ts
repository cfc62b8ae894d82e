import { describe, expect, it } from "vitest";
import { ifNoneMatchCondition, parseTagCondition } from "../../service/http/conditional.js";
import { etagFor, ifMatchHolds, ifNoneMatchMatches } from "../../service/versioning.js";

const condition = (value: string) => {
  const parsed = parseTagCondition(value);
  if (parsed === null) throw new Error(`not a tag condition: ${value}`);
  return parsed;
};
const noneMatch = (header: string, currentEtag: string) => ifNoneMatchMatches(ifNoneMatchCondition(header)!, currentEtag);

describe("conditional requests (RFC 9110)", () => {
  it('builds a resource ETag as the strong "v<version>"', () => {
    expect(etagFor(3)).toBe('"v3"');
  });

  it("parses *, one tag or a list of tags, and nothing else", () => {
    expect(parseTagCondition(" * ")).toBe("*");
    expect(parseTagCondition('"v1"')).toEqual([{ weak: false, opaque: '"v1"' }]);
    expect(parseTagCondition('W/"v1" ,"v2",\t"a,b"')).toEqual([
      { weak: true, opaque: '"v1"' },
      { weak: false, opaque: '"v2"' },
      { weak: false, opaque: '"a,b"' },
    ]);
    for (const malformed of ["", "v1", '"v1', '"v1" "v2"', '"v1",', '*, "v1"', 'w/"v1"', '"v 1"', '"v1";']) {
      expect(parseTagCondition(malformed), malformed).toBeNull();
    }
  });

  it("If-Match holds when any listed strong tag is the current ETag", () => {
    expect(ifMatchHolds(condition('"v1", "v2"'), etagFor(2))).toBe(true);
    expect(ifMatchHolds(condition('"v1", "v2"'), etagFor(3))).toBe(false);
  });

  it("If-Match uses the strong comparison: a weak tag never matches", () => {
    expect(ifMatchHolds(condition('W/"v2"'), etagFor(2))).toBe(false);
    expect(ifMatchHolds(condition('W/"v2", "v2"'), etagFor(2))).toBe(true);
  });

  it("If-Match: * holds for any version of an existing resource", () => {
    expect(ifMatchHolds(condition("*"), etagFor(7))).toBe(true);
  });

  it("If-Match with a well-formed tag that names no version does not hold", () => {
    expect(ifMatchHolds(condition('"abc"'), etagFor(1))).toBe(false);
    expect(ifMatchHolds(condition('"v01"'), etagFor(1))).toBe(false);
  });

  it("If-None-Match uses the weak comparison, matches any listed tag, and * matches", () => {
    const current = '"env-abc"';
    expect(noneMatch(current, current)).toBe(true);
    expect(noneMatch('W/"env-abc"', current)).toBe(true);
    expect(noneMatch('"other", W/"env-abc"', current)).toBe(true);
    expect(noneMatch("*", current)).toBe(true);
    expect(noneMatch('"other"', current)).toBe(false);
    expect(noneMatch('"env-abc', current)).toBe(false);
  });

  it("If-None-Match reads tags whole: a comma inside a tag does not split it", () => {
    expect(noneMatch('"x,"', '"x"')).toBe(false);
    expect(noneMatch('"x,y"', '"x,y"')).toBe(true);
  });
});
