// Owns turning an OpenAPI schema into the plain JSON Schema (draft 2020-12) that zod's
// z.fromJSONSchema understands: component refs rewritten to `$defs`, `allOf` of objects merged,
// documentation-only keywords dropped, and only the `$defs` a schema reaches attached to it.

import { deref, isObject, openapiDocument, type JsonSchema } from "./contract-document.js";

// Keywords that only document; dropped so they neither reach zod's metadata registry nor, for
// readOnly, turn into z.readonly().
const ANNOTATIONS = new Set([
  "description",
  "title",
  "examples",
  "example",
  "deprecated",
  "readOnly",
  "writeOnly",
  "externalDocs",
  "xml",
  "discriminator",
  "$comment",
]);
const SCHEMA_COMPONENT = "#/components/schemas/";
const DEFS = "#/$defs/";

/** A `$ref` to one of `components.schemas`. */
export function componentRef(name: string): JsonSchema {
  return { $ref: `${SCHEMA_COMPONENT}${name}` };
}

/**
 * The self-contained JSON Schema for `schema`: normalized, with the `$defs` it reaches.
 * `closeObjects` makes objects without `additionalProperties` strict, used for responses so a
 * test notices any field the contract does not declare.
 */
export function toJsonSchema(schema: unknown, closeObjects: boolean): JsonSchema {
  const root = normalize(schema, closeObjects) as JsonSchema;
  return { ...root, $defs: reachableDefs(root, defsFor(closeObjects)) };
}

/**
 * Rewrites an OpenAPI schema: component refs become `#/$defs/<name>` (the only local refs
 * z.fromJSONSchema resolves), `allOf` of object schemas is merged into one object (so
 * `additionalProperties` applies to the merged set of properties rather than rejecting the other
 * member's keys), and annotations are dropped.
 */
function normalize(schema: unknown, closeObjects: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => normalize(s, closeObjects));
  if (!isObject(schema)) return schema;
  if (typeof schema.$ref === "string") {
    if (!schema.$ref.startsWith(SCHEMA_COMPONENT)) throw new Error(`unsupported $ref in a schema: ${schema.$ref}`);
    const rest = Object.keys(schema).filter((k) => k !== "$ref" && !ANNOTATIONS.has(k) && !k.startsWith("x-"));
    const ref = { $ref: `${DEFS}${schema.$ref.slice(SCHEMA_COMPONENT.length)}` };
    // OpenAPI 3.1 allows keywords next to $ref; fromJSONSchema ignores them, so wrap in allOf.
    if (rest.length === 0) return ref;
    return normalize({ allOf: [{ $ref: schema.$ref }, Object.fromEntries(rest.map((k) => [k, schema[k]]))] }, closeObjects);
  }
  if (Array.isArray(schema.allOf) && schema.allOf.every((m) => isObjectSchema(deref(m)))) {
    return normalize(mergeAllOf(schema), closeObjects);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (ANNOTATIONS.has(key) || key.startsWith("x-")) continue;
    if (key === "properties" || key === "patternProperties" || key === "$defs") {
      out[key] = Object.fromEntries(Object.entries(value as JsonSchema).map(([k, v]) => [k, normalize(v, closeObjects)]));
    } else if (key === "enum" || key === "const" || key === "default" || key === "required" || key === "type" || key === "pattern") {
      out[key] = value;
    } else {
      out[key] = normalize(value, closeObjects);
    }
  }
  if (closeObjects && isObject(out.properties) && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

function isObjectSchema(schema: unknown): boolean {
  return isObject(schema) && (schema.type === "object" || isObject(schema.properties) || Array.isArray(schema.allOf));
}

function mergeAllOf(schema: JsonSchema): JsonSchema {
  const properties: JsonSchema = {};
  const required = new Set<string>();
  let additionalProperties: unknown;
  for (const raw of schema.allOf as unknown[]) {
    let member = deref<JsonSchema>(raw);
    if (Array.isArray(member.allOf)) member = mergeAllOf(member);
    Object.assign(properties, member.properties ?? {});
    for (const name of (member.required as string[] | undefined) ?? []) required.add(name);
    if (member.additionalProperties === false) additionalProperties = false;
  }
  const { allOf: _allOf, ...rest } = schema;
  return {
    ...rest,
    type: "object",
    properties: { ...properties, ...(rest.properties ?? {}) },
    required: [...required, ...((rest.required as string[] | undefined) ?? [])],
    ...(rest.additionalProperties !== undefined
      ? { additionalProperties: rest.additionalProperties }
      : additionalProperties === false
        ? { additionalProperties: false }
        : {}),
  };
}

const normalizedDefs = new Map<boolean, JsonSchema>();
function defsFor(closeObjects: boolean): JsonSchema {
  let defs = normalizedDefs.get(closeObjects);
  if (!defs) {
    defs = Object.fromEntries(Object.entries(openapiDocument.components.schemas ?? {}).map(([k, v]) => [k, normalize(v, closeObjects)]));
    normalizedDefs.set(closeObjects, defs);
  }
  return defs;
}

/** The `$defs` a normalized schema reaches, so each conversion copies only what it uses. */
function reachableDefs(root: unknown, defs: JsonSchema): JsonSchema {
  const used: JsonSchema = {};
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...(node as unknown[]));
    else if (isObject(node)) {
      if (typeof node.$ref === "string") {
        const name = node.$ref.slice(DEFS.length);
        if (!Object.hasOwn(used, name)) {
          used[name] = defs[name];
          stack.push(defs[name]);
        }
      }
      stack.push(...Object.values(node));
    }
  }
  return used;
}
