// The DynamicValue codec against the wire format (object-wire-format.md, go-cty's msgpack package).
import { decode, encode, ExtData } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CodecError, decodeDynamicValue, decodeJson, decodeMsgpack, encodeDynamicValue, encodeMsgpack } from "../../cdktf-provider/src/protocol/codec.js";
import {
  ctyEqual,
  ctyTypeToJson,
  Dynamic,
  isUnknown,
  isWhollyKnown,
  parseCtyType,
  t,
  Unknown,
  UnknownValue,
  type CtyType,
  type CtyValue,
} from "../../cdktf-provider/src/protocol/cty.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const roundTrip = (value: CtyValue, type: CtyType) => decodeMsgpack(encodeMsgpack(value, type), type);

describe("cty types", () => {
  it("parses every kind of type JSON and writes it back", () => {
    const cases: [string, CtyType][] = [
      ['"string"', "string"],
      ['"number"', "number"],
      ['"bool"', "bool"],
      ['"dynamic"', "dynamic"],
      ['["list","string"]', ["list", "string"]],
      ['["set",["map","number"]]', ["set", ["map", "number"]]],
      ['["object",{"a":"bool","b":["list","dynamic"]}]', ["object", { a: "bool", b: ["list", "dynamic"] }]],
      ['["tuple",["string","number"]]', ["tuple", ["string", "number"]]],
      ['["object",{"a":"string","b":"number"},["b"]]', ["object", { a: "string", b: "number" }, ["b"]]],
    ];
    for (const [json, type] of cases) {
      expect(parseCtyType(json)).toEqual(type);
      expect(parseCtyType(Buffer.from(json))).toEqual(type);
      expect(ctyTypeToJson(type)).toBe(json);
    }
  });

  it("sorts object attributes like the engine does", () => {
    expect(ctyTypeToJson(t.object({ z: t.string, a: t.number }))).toBe('["object",{"a":"number","z":"string"}]');
  });

  it("rejects what is not a type", () => {
    for (const bad of ['"str"', '["list"]', '["map","string","x"]', '["object",["a"]]', '["tuple","string"]', "{", '["object",{"a":"string"},["b"]]']) {
      expect(() => parseCtyType(bad), bad).toThrow(/type/);
    }
  });
});

describe("msgpack decoding of engine-produced bytes", () => {
  it("reads a plain unknown (extension 0) and any other extension as unknown", () => {
    expect(decodeMsgpack(Buffer.from("d40000", "hex"), "string")).toBe(Unknown);
    expect(decodeMsgpack(Buffer.from("c70000", "hex"), ["list", "string"])).toBe(Unknown);
    expect(isUnknown(decodeMsgpack(encode(new ExtData(5, new Uint8Array([1, 2, 3]))), "number"))).toBe(true);
  });

  it("reads refined unknowns (extension 12) with their refinements", () => {
    // go-cty: {1: false (not null), 2: "sk-"} for a string known to start with "sk-"
    const payload = Buffer.concat([Buffer.from([0x82, 0x01, 0xc2, 0x02]), Buffer.from(encode("sk-"))]);
    const value = decodeMsgpack(encode(new ExtData(12, payload)), "string");
    expect(value).toBeInstanceOf(UnknownValue);
    expect((value as UnknownValue).refinements).toEqual({ notNull: true, stringPrefix: "sk-" });

    const numberPayload = Buffer.concat([Buffer.from([0x82, 0x03]), encode([1, true]), Buffer.from([0x04]), encode(["1e400", false])]);
    const num = decodeMsgpack(encode(new ExtData(12, numberPayload)), "number") as UnknownValue;
    expect(num.refinements?.numberLowerBound).toEqual([1, true]);
    expect(num.refinements?.numberUpperBound).toEqual([Infinity, false]);

    const lengthPayload = Buffer.from([0x82, 0x05, 0x01, 0x06, 0x03]);
    const list = decodeMsgpack(encode(new ExtData(12, lengthPayload)), ["list", "string"]) as UnknownValue;
    expect(list.refinements).toEqual({ lengthLowerBound: 1, lengthUpperBound: 3 });
  });

  it("treats unreadable refinements as a plain unknown", () => {
    expect(decodeMsgpack(encode(new ExtData(12, new Uint8Array([0xc1, 0xc1]))), "string")).toBe(Unknown);
  });

  it("reads numbers in every form go-cty writes them", () => {
    expect(decodeMsgpack(encode(42), "number")).toBe(42);
    expect(decodeMsgpack(encode(-1.5), "number")).toBe(-1.5);
    expect(decodeMsgpack(Buffer.from("d37fffffffffffffff", "hex"), "number")).toBe(9223372036854775807n); // int64 max
    expect(decodeMsgpack(Buffer.from("cfffffffffffffffff", "hex"), "number")).toBe(18446744073709551615n); // uint64 max
    expect(decodeMsgpack(Buffer.from("cf0000000000000005", "hex"), "number")).toBe(5); // small uint64 -> number
    expect(decodeMsgpack(encode("0.1"), "number")).toBe(0.1);
    expect(decodeMsgpack(encode("123456789012345678901234567890"), "number")).toBe(123456789012345678901234567890n);
    expect(decodeMsgpack(encode("9007199254740991"), "number")).toBe(9007199254740991);
    expect(decodeMsgpack(Buffer.from("cb7ff0000000000000", "hex"), "number")).toBe(Infinity);
    expect(() => decodeMsgpack(encode("twelve"), "number")).toThrow(CodecError);
  });

  it("reads dynamic values as [type JSON bytes, value] pairs", () => {
    const bytes = encode([Buffer.from('["list","string"]'), ["a", "b"]]);
    expect(decodeMsgpack(bytes, "dynamic")).toEqual(new Dynamic(["list", "string"], ["a", "b"]));
    expect(decodeMsgpack(encode(null), "dynamic")).toBeNull();
    expect(decodeMsgpack(Buffer.from("d40000", "hex"), "dynamic")).toBe(Unknown);
    expect(decodeMsgpack(encode([Buffer.from('"number"'), null]), "dynamic")).toEqual(new Dynamic("number", null));
    expect(() => decodeMsgpack(encode(["x"]), "dynamic")).toThrow(/pair/);
  });

  it("fills absent object attributes with null and rejects unknown ones", () => {
    const type = t.object({ a: t.string, b: t.number });
    expect(decodeMsgpack(encode({ a: "x" }), type)).toEqual({ a: "x", b: null });
    expect(() => decodeMsgpack(encode({ a: "x", c: 1 }), type)).toThrow(/unsupported attribute "c"/);
  });

  it("reports the path of a value that does not fit", () => {
    const type = t.object({ tags: t.map(t.list(t.bool)) });
    try {
      decodeMsgpack(encode({ tags: { env: [true, "no"] } }), type);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CodecError);
      expect((err as CodecError).path).toEqual(["tags", { key: "env" }, 1]);
      expect((err as CodecError).message).toContain("bool required");
    }
  });
});

describe("msgpack encoding as the engine expects it", () => {
  it("writes a plain unknown exactly as go-cty does (fixext1, code 0)", () => {
    expect(hex(encodeMsgpack(Unknown, "string"))).toBe("d40000");
    expect(hex(encodeMsgpack(Unknown, "dynamic"))).toBe("d40000");
  });

  it("writes refinements only when they fit the type, never an empty extension 12", () => {
    const refined = new UnknownValue({ notNull: true, stringPrefix: "sk-" });
    const ext = decode(encodeMsgpack(refined, "string")) as ExtData;
    expect(ext).toBeInstanceOf(ExtData);
    expect(ext.type).toBe(12);
    expect(decode(ext.data as Uint8Array)).toEqual({ 1: false, 2: "sk-" });
    // A prefix means nothing for a number; only the nullness survives.
    expect(roundTrip(refined, "number")).toEqual(new UnknownValue({ notNull: true }));
    expect(hex(encodeMsgpack(new UnknownValue({ stringPrefix: "x" }), "bool"))).toBe("d40000");
  });

  it("writes dynamic values with their type, inferring it for plain JS values", () => {
    const value = decode(encodeMsgpack({ a: 1, b: [true] }, "dynamic")) as [Uint8Array, unknown];
    expect(Buffer.from(value[0]).toString()).toBe('["object",{"a":"number","b":["tuple",["bool"]]}]');
    expect(value[1]).toEqual({ a: 1, b: [true] });
  });

  it("writes big integers as decimal strings and safe ones as msgpack ints", () => {
    expect(decode(encodeMsgpack(123456789012345678901234567890n, "number"))).toBe("123456789012345678901234567890");
    expect(hex(encodeMsgpack(7n, "number"))).toBe("07");
    expect(hex(encodeMsgpack(1.5, "number"))).toBe("cb3ff8000000000000");
    expect(() => encodeMsgpack(NaN, "number")).toThrow(/NaN/);
  });

  it("normalizes strings to NFC, as the engine stores them", () => {
    expect(decode(encodeMsgpack("e\u0301", "string"))).toBe("\u00e9");
  });

  it("writes null for absent attributes and refuses attributes the type lacks", () => {
    const type = t.object({ a: t.string, b: t.number });
    expect(decode(encodeMsgpack({ a: "x" }, type))).toEqual({ a: "x", b: null });
    expect(() => encodeMsgpack({ a: "x", typo: 1 }, type)).toThrow(/unsupported attribute "typo"/);
    expect(() => encodeMsgpack({ a: 1 }, type)).toThrow(/a: string required/);
  });

  it("wraps DynamicValue messages: msgpack out, msgpack or JSON in", () => {
    const type = t.object({ a: t.string });
    const dv = encodeDynamicValue({ a: "x" }, type);
    expect(Buffer.isBuffer(dv.msgpack)).toBe(true);
    expect(decodeDynamicValue(dv, type)).toEqual({ a: "x" });
    expect(decodeDynamicValue({ msgpack: Buffer.alloc(0), json: Buffer.from('{"a":"y"}') }, type)).toEqual({ a: "y" });
    expect(decodeDynamicValue(null, type)).toBeNull();
  });
});

describe("JSON decoding", () => {
  it("decodes every type, dynamic values included", () => {
    const type = t.object({
      s: t.string,
      n: t.number,
      b: t.bool,
      l: t.list(t.number),
      m: t.map(t.string),
      tu: t.tuple([t.string, t.bool]),
      d: t.dynamic,
      o: t.object({ x: t.string }),
    });
    const json = JSON.stringify({
      s: "x",
      n: 1.25,
      b: true,
      l: [1, 2],
      m: { k: "v" },
      tu: ["a", false],
      d: { type: ["map", "number"], value: { a: 1 } },
      o: null,
    });
    expect(decodeJson(json, type)).toEqual({
      s: "x",
      n: 1.25,
      b: true,
      l: [1, 2],
      m: { k: "v" },
      tu: ["a", false],
      d: new Dynamic(["map", "number"], { a: 1 }),
      o: null,
    });
  });

  it("drops attributes of an older schema only when asked to", () => {
    const type = t.object({ id: t.string, name: t.string });
    const stored = '{"id":"cred_1","legacy":true}';
    expect(() => decodeJson(stored, type)).toThrow(/unsupported attribute "legacy"/);
    expect(decodeJson(stored, type, { ignoreUndefinedAttributes: true })).toEqual({ id: "cred_1", name: null });
  });

  it("keeps a __proto__ map key as plain data", () => {
    const value = decodeJson('{"__proto__":"x"}', t.map(t.string)) as Record<string, CtyValue>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__"]);
  });
});

describe("value helpers", () => {
  it("isWhollyKnown looks inside collections and dynamic values", () => {
    expect(isWhollyKnown({ a: [1, { b: "x" }] })).toBe(true);
    expect(isWhollyKnown({ a: [1, { b: Unknown }] })).toBe(false);
    expect(isWhollyKnown(new Dynamic("string", Unknown))).toBe(false);
  });

  it("ctyEqual compares sets without order and numbers by value", () => {
    expect(ctyEqual(["a", "b"], ["b", "a"], t.set(t.string))).toBe(true);
    expect(ctyEqual(["a", "b"], ["b", "a"], t.list(t.string))).toBe(false);
    expect(ctyEqual(2n ** 60n, Number(2n ** 60n), t.number)).toBe(true);
    expect(ctyEqual(Unknown, Unknown, t.string)).toBe(false);
    expect(ctyEqual({ a: null }, {}, t.object({ a: t.string }))).toBe(true);
  });
});

// Property round trips ------------------------------------------------------------------------

const typeArb: fc.Arbitrary<CtyType> = fc.letrec<{ type: CtyType }>((tie) => ({
  type: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom<CtyType>("string", "number", "bool", "dynamic"),
    tie("type").map((el) => t.list(el)),
    tie("type").map((el) => t.set(el)),
    tie("type").map((el) => t.map(el)),
    fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/), tie("type"), { maxKeys: 4 }).map((attrs) => t.object(attrs)),
    fc.array(tie("type"), { maxLength: 3 }).map((els) => t.tuple(els)),
  ),
})).type;

const concreteTypeArb = typeArb.filter((ty) => ty !== "dynamic");
const nfc = (s: string) => s.normalize("NFC");
const mapKey = fc
  .string({ unit: "grapheme", maxLength: 6 })
  .map(nfc)
  .filter((k) => k !== "__proto__");

const numberArb: fc.Arbitrary<CtyValue> = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).filter((n) => BigInt(Number(n)) !== n),
);

function refinedUnknownArb(type: CtyType): fc.Arbitrary<UnknownValue> {
  if (type === "string") {
    return fc.record({ notNull: fc.constant(true), stringPrefix: fc.string({ minLength: 1, maxLength: 8 }) }).map((r) => new UnknownValue(r));
  }
  if (type === "number") {
    return fc.integer().map((n) => new UnknownValue({ notNull: true, numberLowerBound: [n, true], numberUpperBound: [n + 10, false] }));
  }
  if (typeof type !== "string" && (type[0] === "list" || type[0] === "set" || type[0] === "map")) {
    return fc.nat({ max: 5 }).map((n) => new UnknownValue({ lengthLowerBound: n + 1, lengthUpperBound: n + 3 }));
  }
  return fc.constant(type === "dynamic" ? Unknown : new UnknownValue({ notNull: true }));
}

function valueArb(type: CtyType, depth = 0): fc.Arbitrary<CtyValue> {
  const special: fc.Arbitrary<CtyValue> = fc.oneof(fc.constant(null), fc.constant(Unknown), refinedUnknownArb(type));
  return fc.oneof({ weight: 1, arbitrary: special }, { weight: 4, arbitrary: knownValueArb(type, depth) });
}

function knownValueArb(type: CtyType, depth: number): fc.Arbitrary<CtyValue> {
  if (type === "dynamic") {
    return (depth > 2 ? fc.constantFrom<CtyType>("string", "number", "bool") : concreteTypeArb).chain((ty) =>
      valueArb(ty, depth + 1).map((v) => new Dynamic(ty, v)),
    );
  }
  if (typeof type === "string") {
    switch (type) {
      case "string":
        return fc.oneof(fc.string(), fc.string({ unit: "grapheme" })).map(nfc);
      case "number":
        return numberArb;
      case "bool":
        return fc.boolean();
    }
  }
  switch (type[0]) {
    case "list":
    case "set":
      return fc.array(valueArb(type[1], depth + 1), { maxLength: 4 });
    case "map":
      return fc.dictionary(mapKey, valueArb(type[1], depth + 1), { maxKeys: 4, noNullPrototype: true });
    case "object": {
      const attrs = type[1];
      return fc.record(Object.fromEntries(Object.entries(attrs).map(([k, ty]) => [k, valueArb(ty, depth + 1)])));
    }
    case "tuple":
      return fc.tuple(...type[1].map((ty) => valueArb(ty, depth + 1)));
  }
}

const typedValueArb = typeArb.chain((type) => valueArb(type).map((value) => ({ type, value })));

describe("round trips (fast-check)", () => {
  it("decode(encode(v)) is v for every type, with nulls, unknowns and refinements anywhere", () => {
    fc.assert(
      fc.property(typedValueArb, ({ type, value }) => {
        expect(roundTrip(value, type)).toEqual(value);
      }),
      { numRuns: 400 },
    );
  });

  it("decoding is stable: encode(decode(bytes)) gives the same bytes", () => {
    fc.assert(
      fc.property(typedValueArb, ({ type, value }) => {
        const bytes = encodeMsgpack(value, type);
        expect(hex(encodeMsgpack(decodeMsgpack(bytes, type), type))).toBe(hex(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it("known values survive the JSON form too", () => {
    const knownArb = typeArb.chain((type) => knownValueArb(type, 0).map((value) => ({ type, value })));
    fc.assert(
      fc.property(knownArb, ({ type, value }) => {
        fc.pre(isWhollyKnown(value) && !containsNonJsonNumber(value));
        expect(decodeJson(JSON.stringify(toJson(value)), type)).toEqual(value);
      }),
      { numRuns: 200 },
    );
  });
});

// The engine's JSON form: dynamic values become {"type","value"}.
function toJson(value: CtyValue): unknown {
  if (value instanceof Dynamic) return { type: value.type, value: toJson(value.value) };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object" && !(value instanceof UnknownValue)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

function containsNonJsonNumber(value: CtyValue): boolean {
  if (typeof value === "bigint") return true;
  if (typeof value === "number") return !Number.isFinite(value);
  if (value instanceof Dynamic) return containsNonJsonNumber(value.value);
  if (Array.isArray(value)) return value.some(containsNonJsonNumber);
  if (value !== null && typeof value === "object" && !(value instanceof UnknownValue)) {
    return Object.values(value).some(containsNonJsonNumber);
  }
  return false;
}
