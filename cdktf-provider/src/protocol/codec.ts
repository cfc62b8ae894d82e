// DynamicValue codec: msgpack (and, on input, JSON) <-> the JS value model of cty.ts, driven by a
// type, following docs/plugin-protocol/object-wire-format.md.
//
// Numbers: decoded as JS numbers; only integers a double cannot hold exactly (sent by the engine as
// int64 or as a decimal string) become bigint, so they stay exact. Decimal strings such as "0.1"
// (the engine sends numbers that are not exact doubles that way) become the nearest double, which
// the engine compares equal. Encoded as msgpack int when a safe integer, float64 otherwise, and
// bigints as decimal strings when beyond 2^53 (always accepted by the engine).
import { Decoder, Encoder, ExtData } from "@msgpack/msgpack";
import {
  checkCtyType,
  ctyTypeToJson,
  Dynamic,
  friendlyTypeName,
  inferCtyType,
  isPlainObject,
  parseCtyType,
  Unknown,
  UnknownValue,
  type CtyType,
  type CtyValue,
  type UnknownRefinements,
} from "./cty.js";
import type { PathStep } from "./diagnostics.js";

const UNKNOWN_EXT = 0;
const REFINED_UNKNOWN_EXT = 12;
// go-cty rejects a plain unknown whose payload is longer than one byte: fixext1 with a zero byte.
const PLAIN_UNKNOWN_PAYLOAD = new Uint8Array([0]);
const MAX_STRING_PREFIX_BYTES = 256;

// One of each for the process: msgpack's encode() and decode() build a new instance (buffers, and
// the decoder's cache of attribute names) on every call. Both are safe to reuse and re-enter.
const encoder = new Encoder();
const decoder = new Decoder({ useBigInt64: true });

/** A value that does not fit its type; `path` locates it for a diagnostic. */
export class CodecError extends Error {
  override name = "CodecError";
  readonly path: PathStep[];
  constructor(message: string, path: readonly PathStep[]) {
    super(path.length > 0 ? `${formatPath(path)}: ${message}` : message);
    // The decoders and the encoder walk with one path they push to and pop from (a new array per
    // attribute was most of their time): keep a copy of where it stood.
    this.path = [...path];
  }
}

function formatPath(path: readonly PathStep[]): string {
  return path
    .map((step, i) => (typeof step === "string" ? (i === 0 ? step : `.${step}`) : typeof step === "number" ? `[${step}]` : `[${JSON.stringify(step.key)}]`))
    .join("");
}

// ---------------------------------------------------------------------------------------------
// msgpack

export function decodeMsgpack(data: Uint8Array, type: CtyType): CtyValue {
  let raw: unknown;
  try {
    raw = decoder.decode(data);
  } catch (err) {
    throw new CodecError(`malformed msgpack: ${(err as Error).message}`, []);
  }
  return fromMsgpack(raw, type, []);
}

export function encodeMsgpack(value: CtyValue, type: CtyType): Uint8Array {
  return encoder.encode(toMsgpack(value, type, []));
}

function fromMsgpack(raw: unknown, type: CtyType, path: PathStep[]): CtyValue {
  if (raw instanceof ExtData) return unknownFromExt(raw);
  if (type === "dynamic") {
    if (raw === null) return null;
    if (!Array.isArray(raw) || raw.length !== 2) throw new CodecError("dynamic value must be a [type, value] pair", path);
    const typeJson: unknown = raw[0];
    if (!(typeJson instanceof Uint8Array) && typeof typeJson !== "string") {
      throw new CodecError("dynamic value type must be JSON bytes", path);
    }
    const concrete = parseCtyType(typeJson);
    return new Dynamic(concrete, fromMsgpack(raw[1], concrete, path));
  }
  if (raw === null) return null;
  return fromRaw(raw, type, path, fromMsgpack);
}

/** Shape conversion shared by the msgpack and JSON decoders; `inner` decodes element values. */
function fromRaw(
  raw: unknown,
  type: Exclude<CtyType, "dynamic">,
  path: PathStep[],
  inner: (raw: unknown, type: CtyType, path: PathStep[]) => CtyValue,
  ignoreUndefinedAttributes = false,
): CtyValue {
  if (typeof type === "string") {
    switch (type) {
      case "string":
        if (typeof raw !== "string") throw mismatch(raw, type, path);
        return raw;
      case "bool":
        if (typeof raw !== "boolean") throw mismatch(raw, type, path);
        return raw;
      case "number":
        return decodeNumber(raw, path);
    }
  }
  switch (type[0]) {
    case "list":
    case "set": {
      if (!Array.isArray(raw)) throw mismatch(raw, type, path);
      const out: CtyValue[] = new Array<CtyValue>(raw.length);
      for (let i = 0; i < raw.length; i++) {
        path.push(i);
        out[i] = inner(raw[i], type[1], path);
        path.pop();
      }
      return out;
    }
    case "tuple": {
      if (!Array.isArray(raw) || raw.length !== type[1].length) throw mismatch(raw, type, path);
      const out: CtyValue[] = new Array<CtyValue>(raw.length);
      for (let i = 0; i < raw.length; i++) {
        path.push(i);
        out[i] = inner(raw[i], type[1][i], path);
        path.pop();
      }
      return out;
    }
    case "map": {
      if (!isPlainObject(raw)) throw mismatch(raw, type, path);
      // Entries, not assignments: a map key may be "__proto__", which must stay plain data.
      const entries: [string, CtyValue][] = [];
      for (const k of Object.keys(raw)) {
        path.push({ key: k });
        entries.push([k, inner(raw[k], type[1], path)]);
        path.pop();
      }
      return Object.fromEntries(entries);
    }
    case "object": {
      if (!isPlainObject(raw)) throw mismatch(raw, type, path);
      const attributes = type[1];
      // Absent attributes are null, as in the engine's own decoder.
      const out: { [key: string]: CtyValue } = {};
      let present = 0;
      for (const name of attributeNames(attributes)) {
        if (!Object.hasOwn(raw, name)) {
          out[name] = null;
          continue;
        }
        present++;
        path.push(name);
        out[name] = inner(raw[name], attributes[name], path);
        path.pop();
      }
      if (!ignoreUndefinedAttributes && present !== Object.keys(raw).length) {
        const name = Object.keys(raw).find((n) => !Object.hasOwn(attributes, n));
        throw new CodecError(`unsupported attribute "${name}"`, path);
      }
      return out;
    }
  }
}

function mismatch(raw: unknown, type: CtyType, path: PathStep[]): CodecError {
  const got = raw === null ? "null" : Array.isArray(raw) ? "array" : typeof raw;
  return new CodecError(`${friendlyTypeName(type)} required, got ${got}`, path);
}

function decodeNumber(raw: unknown, path: PathStep[]): number | bigint {
  if (typeof raw === "number") {
    if (Number.isNaN(raw)) throw new CodecError("number must not be NaN", path);
    return raw;
  }
  if (typeof raw === "bigint") return exactNumber(raw);
  if (typeof raw === "string") {
    const text = raw.trim();
    if (/^[-+]?\d+$/.test(text)) return integerText(text);
    const n = Number(text);
    if (text !== "" && !Number.isNaN(n)) return n;
  }
  throw new CodecError(`number required, got ${typeof raw === "string" ? JSON.stringify(raw) : typeof raw}`, path);
}

/** A JS number when the double holds the integer exactly, else the bigint itself. */
function exactNumber(big: bigint): number | bigint {
  const n = Number(big);
  return Number.isFinite(n) && BigInt(n) === big ? n : big;
}

/**
 * go-cty writes a large integral double (one the provider itself returned as float64) as its
 * shortest decimal digits padded with zeros, e.g. 9.756830317091973e+66 as "9756830317091973" and
 * 51 zeros. Reading that text back as that double returns exactly the engine's value; any other
 * integer text (typed in the configuration) stays an exact bigint when a double cannot hold it.
 */
function integerText(text: string): number | bigint {
  const big = BigInt(text);
  const exact = exactNumber(big);
  if (typeof exact === "number") return exact;
  const n = Number(big);
  const printed = String(Math.abs(n)); // JS prints the same shortest digits, zero-padded below 1e21
  const exponent = /^(\d)(?:\.(\d+))?e\+(\d+)$/.exec(printed);
  const mantissa = exponent ? exponent[1] + (exponent[2] ?? "") : printed;
  const shortest = exponent ? mantissa + "0".repeat(Number(exponent[3]) + 1 - mantissa.length) : printed;
  return text.replace(/^[-+]?0*/, "") === shortest ? n : big;
}

function toMsgpack(value: CtyValue | undefined, type: CtyType, path: PathStep[]): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof UnknownValue) return unknownToExt(value, type);
  if (type === "dynamic") {
    const concrete = value instanceof Dynamic ? value.type : inferCtyType(value);
    const inner = value instanceof Dynamic ? value.value : value;
    return [Buffer.from(ctyTypeToJson(concrete)), toMsgpack(inner, concrete, path)];
  }
  if (value instanceof Dynamic) throw new CodecError(`dynamic value given where ${friendlyTypeName(type)} is required`, path);
  if (typeof type === "string") {
    switch (type) {
      case "string":
        if (typeof value !== "string") throw mismatch(value, type, path);
        // The engine holds strings in NFC; returning another form would read as a change.
        return value.normalize("NFC");
      case "bool":
        if (typeof value !== "boolean") throw mismatch(value, type, path);
        return value;
      case "number":
        return encodeNumber(value, path);
    }
  }
  switch (type[0]) {
    case "list":
    case "set":
    case "tuple": {
      if (!Array.isArray(value) || (type[0] === "tuple" && value.length !== type[1].length)) throw mismatch(value, type, path);
      const out: unknown[] = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        path.push(i);
        out[i] = toMsgpack(value[i], type[0] === "tuple" ? type[1][i] : type[1], path);
        path.pop();
      }
      return out;
    }
    case "map": {
      if (!isPlainObject(value)) throw mismatch(value, type, path);
      // Sorted like go-cty writes them, so equal values always encode to equal bytes.
      // Entries, not assignments: a map key may be "__proto__", which must stay plain data.
      const entries: [string, unknown][] = [];
      for (const k of Object.keys(value).sort(utf8Order)) {
        path.push({ key: k });
        entries.push([k, toMsgpack(value[k], type[1], path)]);
        path.pop();
      }
      return Object.fromEntries(entries);
    }
    case "object": {
      if (!isPlainObject(value)) throw mismatch(value, type, path);
      const attributes = type[1];
      const out: Record<string, unknown> = {};
      let given = 0;
      for (const name of sortedAttributeNames(attributes)) {
        const v = value[name];
        if (v !== undefined) given++;
        path.push(name);
        out[name] = toMsgpack(v, attributes[name], path);
        path.pop();
      }
      // Catches typos in provider code instead of silently dropping the value.
      if (given !== countDefined(value)) {
        const name = Object.keys(value).find((n) => !Object.hasOwn(attributes, n) && value[n] !== undefined);
        throw new CodecError(`unsupported attribute "${name}"`, path);
      }
      return out;
    }
  }
}

function countDefined(value: { [key: string]: CtyValue }): number {
  let n = 0;
  for (const k in value) if (Object.hasOwn(value, k) && value[k] !== undefined) n++;
  return n;
}

// Go compares strings bytewise (UTF-8); JS's default sort compares UTF-16 code units.
function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// Object types come from schemas and live as long as the process: list and sort their names once.
const sortedNames = new WeakMap<object, readonly string[]>();
function sortedAttributeNames(attributes: { readonly [name: string]: CtyType }): readonly string[] {
  let names = sortedNames.get(attributes);
  if (!names) sortedNames.set(attributes, (names = Object.keys(attributes).sort(utf8Order)));
  return names;
}
const names = new WeakMap<object, readonly string[]>();
function attributeNames(attributes: { readonly [name: string]: CtyType }): readonly string[] {
  let list = names.get(attributes);
  if (!list) names.set(attributes, (list = Object.keys(attributes)));
  return list;
}

function encodeNumber(value: CtyValue, path: PathStep[]): number | string {
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value !== "number") throw mismatch(value, "number", path);
  if (Number.isNaN(value)) throw new CodecError("number must not be NaN", path);
  return value;
}

// Unknowns -----------------------------------------------------------------------------------

function unknownFromExt(ext: ExtData): UnknownValue {
  // Every extension code means "unknown"; only code 12 carries refinements worth reading.
  if (ext.type !== REFINED_UNKNOWN_EXT || !(ext.data instanceof Uint8Array)) return Unknown;
  let raw: unknown;
  try {
    raw = decoder.decode(ext.data);
  } catch {
    return Unknown; // Refinements are optional knowledge; a payload we cannot read is just unknown.
  }
  if (!isPlainObject(raw)) return Unknown;
  const refinements: UnknownRefinements = {};
  const entry = (key: number): unknown => (raw as Record<string, unknown>)[String(key)];
  if (entry(1) === false) refinements.notNull = true;
  if (typeof entry(2) === "string") refinements.stringPrefix = entry(2) as string;
  const bound = (key: number): readonly [number | bigint, boolean] | undefined => {
    const b = entry(key);
    if (!Array.isArray(b) || b.length !== 2 || typeof b[1] !== "boolean") return undefined;
    try {
      return [decodeNumber(b[0], []), b[1]];
    } catch {
      return undefined;
    }
  };
  refinements.numberLowerBound = bound(3);
  refinements.numberUpperBound = bound(4);
  const length = (key: number): number | undefined => {
    const n = entry(key);
    if (typeof n === "bigint") return Number(n);
    return typeof n === "number" && Number.isInteger(n) ? n : undefined;
  };
  refinements.lengthLowerBound = length(5);
  refinements.lengthUpperBound = length(6);
  return new UnknownValue(refinements);
}

function unknownToExt(value: UnknownValue, type: CtyType): ExtData {
  const r = value.refinements;
  const entries: [number, unknown][] = [];
  if (r && type !== "dynamic") {
    if (r.notNull) entries.push([1, false]);
    if (type === "string" && r.stringPrefix) entries.push([2, truncateUtf8(r.stringPrefix, MAX_STRING_PREFIX_BYTES - 1)]);
    if (type === "number") {
      if (r.numberLowerBound) entries.push([3, [encodeNumber(r.numberLowerBound[0], []), r.numberLowerBound[1]]]);
      if (r.numberUpperBound) entries.push([4, [encodeNumber(r.numberUpperBound[0], []), r.numberUpperBound[1]]]);
    }
    if (typeof type !== "string" && (type[0] === "list" || type[0] === "set" || type[0] === "map")) {
      if (r.lengthLowerBound) entries.push([5, r.lengthLowerBound]);
      if (r.lengthUpperBound !== undefined) entries.push([6, r.lengthUpperBound]);
    }
  }
  // Unrefined unknowns must use the original encoding, never code 12 with an empty map.
  if (entries.length === 0) return new ExtData(UNKNOWN_EXT, PLAIN_UNKNOWN_PAYLOAD);
  // Refinement maps have integer keys, which the msgpack encoder does not produce for objects.
  const parts: Uint8Array[] = [new Uint8Array([0x80 | entries.length])];
  for (const [key, v] of entries) parts.push(new Uint8Array([key]), encoder.encode(v));
  return new ExtData(REFINED_UNKNOWN_EXT, Buffer.concat(parts));
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = "";
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON (input only: DynamicValue.json and the raw state of UpgradeResourceState)

export interface JsonDecodeOptions {
  /** Drop object attributes the type does not know (state written by an older schema). */
  ignoreUndefinedAttributes?: boolean;
}

/** Decodes the JSON form; numbers beyond 2^53 lose precision in JSON.parse. */
export function decodeJson(data: Uint8Array | string, type: CtyType, options: JsonDecodeOptions = {}): CtyValue {
  const text = typeof data === "string" ? data : Buffer.from(data).toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CodecError(`malformed JSON: ${(err as Error).message}`, []);
  }
  return decodeJsonValue(raw, type, options);
}

/** Converts an already-parsed JSON value. */
export function decodeJsonValue(raw: unknown, type: CtyType, options: JsonDecodeOptions = {}): CtyValue {
  const ignore = options.ignoreUndefinedAttributes ?? false;
  const inner = (r: unknown, ty: CtyType, path: PathStep[]): CtyValue => {
    if (r === null) return null;
    if (ty === "dynamic") {
      if (!isPlainObject(r) || !Object.hasOwn(r, "type") || !Object.hasOwn(r, "value")) {
        throw new CodecError('dynamic value must be an object with "type" and "value"', path);
      }
      const concrete = checkCtyType(r.type);
      return new Dynamic(concrete, inner(r.value, concrete, path));
    }
    return fromRaw(r, ty, path, inner, ignore);
  };
  return inner(raw, type, []);
}

// ---------------------------------------------------------------------------------------------
// DynamicValue messages

export interface DynamicValueMessage {
  msgpack?: Uint8Array | null;
  json?: Uint8Array | null;
}

/** Decodes a DynamicValue: msgpack when present, else JSON; an absent value is null. */
export function decodeDynamicValue(message: DynamicValueMessage | null | undefined, type: CtyType): CtyValue {
  if (message?.msgpack && message.msgpack.length > 0) return decodeMsgpack(message.msgpack, type);
  if (message?.json && message.json.length > 0) return decodeJson(message.json, type);
  return null;
}

/** Responses are always msgpack (the engine does not accept JSON everywhere). */
export function encodeDynamicValue(value: CtyValue, type: CtyType): { msgpack: Buffer } {
  const bytes = encodeMsgpack(value, type);
  return { msgpack: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}
