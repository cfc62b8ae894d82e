// The engine's (cty) type system as plain data, and the JS value model the provider works with.
//
// Types use their wire form directly: the `type` bytes of a schema attribute are JSON such as
// "string", ["list","number"] or ["object",{"a":"bool"}], and CtyType is exactly that JSON parsed.
//
// Values: null, UnknownValue (not known until apply), string, number (bigint only for integers a
// double cannot hold exactly), boolean, arrays for list/set/tuple, plain objects for map/object, and Dynamic for
// values of attributes typed "dynamic" (they carry their concrete type on the wire).

export type CtyPrimitiveType = "string" | "number" | "bool";

export type CtyType =
  | CtyPrimitiveType
  | "dynamic"
  | readonly ["list", CtyType]
  | readonly ["set", CtyType]
  | readonly ["map", CtyType]
  | readonly ["object", { readonly [name: string]: CtyType }]
  // Type constraints may list optional attributes; values of such a type are plain objects.
  | readonly ["object", { readonly [name: string]: CtyType }, readonly string[]]
  | readonly ["tuple", readonly CtyType[]];

export type CtyValue = null | UnknownValue | Dynamic | string | number | bigint | boolean | CtyValue[] | { [key: string]: CtyValue };

export type ObjectValue = { [name: string]: CtyValue };

/** What the engine already knows about a value that is still unknown (msgpack extension 12). */
export interface UnknownRefinements {
  /** true: the final value is certainly not null. */
  notNull?: boolean;
  /** Strings only: the final value starts with this. */
  stringPrefix?: string;
  /** Numbers only: [bound, inclusive]. */
  numberLowerBound?: readonly [number | bigint, boolean];
  numberUpperBound?: readonly [number | bigint, boolean];
  /** Collections only: inclusive bounds on the number of elements. */
  lengthLowerBound?: number;
  lengthUpperBound?: number;
}

/** A value that will only be known after apply. Use the `Unknown` sentinel unless refining. */
export class UnknownValue {
  readonly refinements: Readonly<UnknownRefinements> | undefined;

  constructor(refinements?: UnknownRefinements) {
    const defined = refinements ? Object.fromEntries(Object.entries(refinements).filter(([, v]) => v !== undefined)) : {};
    this.refinements = Object.keys(defined).length > 0 ? Object.freeze(defined) : undefined;
    Object.freeze(this);
  }

  toString(): string {
    return "(known after apply)";
  }
}

/** The plain unknown value. */
export const Unknown: UnknownValue = new UnknownValue();

export function isUnknown(value: unknown): value is UnknownValue {
  return value instanceof UnknownValue;
}

/** True when the value contains no unknown anywhere inside it. */
export function isWhollyKnown(value: CtyValue): boolean {
  if (value instanceof UnknownValue) return false;
  if (value instanceof Dynamic) return isWhollyKnown(value.value);
  if (Array.isArray(value)) return value.every(isWhollyKnown);
  if (value !== null && typeof value === "object") return Object.values(value).every(isWhollyKnown);
  return true;
}

/** A value of an attribute typed "dynamic", together with its concrete type. */
export class Dynamic {
  constructor(
    readonly type: CtyType,
    readonly value: CtyValue,
  ) {
    Object.freeze(this);
  }
}

/** Builders, so schemas read `t.list(t.string)` rather than nested tuples. */
export const t = {
  string: "string",
  number: "number",
  bool: "bool",
  dynamic: "dynamic",
  list: (element: CtyType): CtyType => ["list", element],
  set: (element: CtyType): CtyType => ["set", element],
  map: (element: CtyType): CtyType => ["map", element],
  object: (attributes: { readonly [name: string]: CtyType }, optional?: readonly string[]): CtyType =>
    optional && optional.length > 0 ? ["object", attributes, optional] : ["object", attributes],
  tuple: (elements: readonly CtyType[]): CtyType => ["tuple", elements],
} as const;

export class CtyTypeError extends Error {
  override name = "CtyTypeError";
}

/** Parses the JSON form of a type (the `type` bytes of a schema attribute, or a dynamic value's type). */
export function parseCtyType(json: string | Uint8Array): CtyType {
  const text = typeof json === "string" ? json : Buffer.from(json).toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CtyTypeError(`invalid type JSON: ${text.slice(0, 80)}`);
  }
  return checkCtyType(raw);
}

/** Validates that an already-parsed JSON value is a type. */
export function checkCtyType(raw: unknown): CtyType {
  if (raw === "string" || raw === "number" || raw === "bool" || raw === "dynamic") return raw;
  if (!Array.isArray(raw) || raw.length < 2) throw new CtyTypeError(`invalid type: ${JSON.stringify(raw)}`);
  const [kind, arg] = raw as [unknown, unknown];
  switch (kind) {
    case "list":
    case "set":
    case "map":
      if (raw.length !== 2) break;
      return [kind, checkCtyType(arg)];
    case "tuple":
      if (raw.length !== 2 || !Array.isArray(arg)) break;
      return ["tuple", arg.map(checkCtyType)];
    case "object": {
      if (raw.length > 3 || arg === null || typeof arg !== "object" || Array.isArray(arg)) break;
      const attributes = Object.fromEntries(Object.entries(arg as Record<string, unknown>).map(([name, ty]) => [name, checkCtyType(ty)]));
      if (raw.length === 2) return ["object", attributes];
      const optional: unknown = raw[2];
      if (!Array.isArray(optional) || !optional.every((n) => typeof n === "string" && n in attributes)) break;
      return ["object", attributes, optional as string[]];
    }
  }
  throw new CtyTypeError(`invalid type: ${JSON.stringify(raw)}`);
}

/** The compact JSON form the engine expects, object attributes in sorted order. */
export function ctyTypeToJson(type: CtyType): string {
  return JSON.stringify(sortedType(type));
}

function sortedType(type: CtyType): unknown {
  if (typeof type === "string") return type;
  switch (type[0]) {
    case "list":
    case "set":
    case "map":
      return [type[0], sortedType(type[1])];
    case "tuple":
      return ["tuple", type[1].map(sortedType)];
    case "object": {
      const attrs = Object.fromEntries(
        Object.keys(type[1])
          .sort()
          .map((name) => [name, sortedType(type[1][name])]),
      );
      return type.length === 3 ? ["object", attrs, [...type[2]].sort()] : ["object", attrs];
    }
  }
}

/** A short human name for messages: "list of string", "object". */
export function friendlyTypeName(type: CtyType): string {
  if (typeof type === "string") return type;
  switch (type[0]) {
    case "list":
    case "set":
    case "map":
      return `${type[0]} of ${friendlyTypeName(type[1])}`;
    default:
      return type[0];
  }
}

/** Infers the type of a plain JS value, for values assigned to "dynamic" attributes. */
export function inferCtyType(value: CtyValue): CtyType {
  if (value instanceof Dynamic) return value.type;
  if (value === null || value instanceof UnknownValue) return "dynamic";
  switch (typeof value) {
    case "string":
      return "string";
    case "number":
    case "bigint":
      return "number";
    case "boolean":
      return "bool";
    default:
      break; // arrays and objects, below
  }
  if (Array.isArray(value)) return ["tuple", value.map(inferCtyType)];
  return ["object", Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inferCtyType(v)]))];
}

/**
 * Equality as the engine sees it: sets ignore order, numbers compare by value (an integer
 * bigint equals the same number), unknowns are never equal to anything (not even each other).
 */
export function ctyEqual(a: CtyValue, b: CtyValue, type: CtyType): boolean {
  if (a instanceof UnknownValue || b instanceof UnknownValue) return false;
  if (a === null || b === null) return a === b;
  if (type === "dynamic") {
    const concrete = inferCtyType(a);
    return ctyTypeToJson(concrete) === ctyTypeToJson(inferCtyType(b)) && ctyEqual(unwrap(a), unwrap(b), concrete);
  }
  if (type === "number") return numberEqual(a, b);
  if (typeof type === "string") return a === b;
  switch (type[0]) {
    case "list": {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      return a.every((v, i) => ctyEqual(v, b[i], type[1]));
    }
    case "tuple": {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      return a.every((v, i) => ctyEqual(v, b[i], type[1][i]));
    }
    case "set": {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      const unmatched = [...b];
      for (const v of a) {
        const i = unmatched.findIndex((w) => ctyEqual(v, w, type[1]));
        if (i < 0) return false;
        unmatched.splice(i, 1);
      }
      return true;
    }
    case "map":
    case "object": {
      if (!isPlainObject(a) || !isPlainObject(b)) return false;
      const keys = type[0] === "object" ? Object.keys(type[1]) : Object.keys(a);
      if (type[0] === "map" && keys.length !== Object.keys(b).length) return false;
      return keys.every((k) => {
        const elementType = type[0] === "object" ? type[1][k] : type[1];
        if (type[0] === "map" && !Object.hasOwn(b, k)) return false;
        return ctyEqual(a[k] ?? null, b[k] ?? null, elementType);
      });
    }
  }
}

function numberEqual(a: CtyValue, b: CtyValue): boolean {
  if (typeof a === "number" && typeof b === "number") return a === b;
  const big = (v: CtyValue) => (typeof v === "bigint" ? v : typeof v === "number" && Number.isInteger(v) ? BigInt(v) : undefined);
  const x = big(a);
  return x !== undefined && x === big(b);
}

function unwrap(value: CtyValue): CtyValue {
  return value instanceof Dynamic ? value.value : value;
}

export function isPlainObject(value: unknown): value is { [key: string]: CtyValue } {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    !(value instanceof UnknownValue) &&
    !(value instanceof Dynamic) &&
    !(value instanceof Uint8Array)
  );
}
