// Schema helpers: the cty type a schema implies, its tfplugin6 wire form, and the value rewrites
// the planning layer applies (declared defaults, write-only nulling, computed-unknown marking).
import { ctyTypeToJson, isPlainObject, isUnknown, Unknown, type CtyType, type CtyValue, type ObjectValue } from "./cty.js";
import type { AttributePath } from "./diagnostics.js";
import type { AttributeSchema, BlockSchema, DefaultRequest, NestedAttributes, NestedBlockSchema, Schema } from "./provider-api.js";

const schemaTypes = new WeakMap<Schema, CtyType>();

/** The implied type of a schema's block, worked out once per schema. */
export function schemaType(schema: Schema): CtyType {
  let type = schemaTypes.get(schema);
  if (!type) schemaTypes.set(schema, (type = impliedType(schema.block)));
  return type;
}

/** The object type of values described by a block (one attribute per attribute and nested block). */
export function impliedType(block: BlockSchema): CtyType {
  const attrs: Record<string, CtyType> = {};
  for (const [name, attr] of Object.entries(block.attributes)) attrs[name] = attributeType(attr);
  for (const [name, nested] of Object.entries(block.blocks ?? {})) attrs[name] = nestedBlockType(nested);
  return ["object", attrs];
}

export function attributeType(attr: AttributeSchema): CtyType {
  if (attr.nested) return nestedAttributesType(attr.nested);
  if (attr.type === undefined) throw new Error("attribute has neither type nor nested attributes");
  return attr.type;
}

function nestedAttributesType(nested: NestedAttributes): CtyType {
  const object: CtyType = ["object", Object.fromEntries(Object.entries(nested.attributes).map(([n, a]) => [n, attributeType(a)]))];
  return nested.nesting === "single" ? object : [nested.nesting, object];
}

function nestedBlockType(nested: NestedBlockSchema): CtyType {
  const object = impliedType(nested.block);
  return nested.nesting === "single" || nested.nesting === "group" ? object : [nested.nesting, object];
}

/** Reports schema mistakes in provider code (returns messages; empty when the schema is sound). */
export function checkSchema(schema: Schema, where: string): string[] {
  const problems: string[] = [];
  const checkBlock = (block: BlockSchema, path: string, topLevel: boolean) => {
    for (const [name, attr] of Object.entries(block.attributes)) checkAttribute(attr, `${path}.${name}`, topLevel);
    for (const [name, nested] of Object.entries(block.blocks ?? {})) checkBlock(nested.block, `${path}.${name}`, false);
  };
  const checkAttribute = (attr: AttributeSchema, path: string, topLevel: boolean) => {
    if ((attr.type === undefined) === (attr.nested === undefined)) problems.push(`${path}: give exactly one of type and nested`);
    if (!attr.required && !attr.optional && !attr.computed) problems.push(`${path}: must be required, optional or computed`);
    if (attr.required && (attr.optional || attr.computed)) problems.push(`${path}: required excludes optional and computed`);
    if (attr.writeOnly && attr.computed) problems.push(`${path}: a write-only attribute cannot be computed`);
    if (attr.default !== undefined && !(topLevel && attr.optional && attr.computed)) {
      problems.push(`${path}: only an optional, computed top-level attribute can have a default`);
    }
    for (const [name, inner] of Object.entries(attr.nested?.attributes ?? {})) checkAttribute(inner, `${path}.${name}`, false);
  };
  checkBlock(schema.block, where, true);
  return problems;
}

// Wire form ----------------------------------------------------------------------------------

const descriptionKind = (kind: "plain" | "markdown" | undefined) => (kind === "markdown" ? "MARKDOWN" : "PLAIN");

export function schemaToProto(schema: Schema): object {
  return { version: schema.version ?? 0, block: blockToProto(schema.block) };
}

function blockToProto(block: BlockSchema): object {
  return {
    version: 0,
    attributes: Object.entries(block.attributes).map(([name, attr]) => attributeToProto(name, attr)),
    block_types: Object.entries(block.blocks ?? {}).map(([name, nested]) => ({
      type_name: name,
      block: blockToProto(nested.block),
      nesting: nested.nesting.toUpperCase(),
      min_items: nested.minItems ?? 0,
      max_items: nested.maxItems ?? 0,
    })),
    description: block.description ?? "",
    description_kind: descriptionKind(block.descriptionKind),
    deprecated: block.deprecated ?? false,
  };
}

function attributeToProto(name: string, attr: AttributeSchema): object {
  return {
    name,
    type: attr.nested ? Buffer.alloc(0) : Buffer.from(ctyTypeToJson(attributeType(attr))),
    ...(attr.nested
      ? {
          nested_type: {
            attributes: Object.entries(attr.nested.attributes).map(([n, a]) => attributeToProto(n, a)),
            nesting: attr.nested.nesting.toUpperCase(),
          },
        }
      : {}),
    description: attr.description ?? "",
    description_kind: descriptionKind(attr.descriptionKind),
    required: attr.required ?? false,
    optional: attr.optional ?? false,
    computed: attr.computed ?? false,
    sensitive: attr.sensitive ?? false,
    deprecated: attr.deprecated ?? false,
    write_only: attr.writeOnly ?? false,
  };
}

// Value rewrites -----------------------------------------------------------------------------

/**
 * Walks the attributes of a block value, including nested attributes and nested blocks, calling
 * `visit` for each attribute schema with its value's holder object.
 */
function walkAttributes(
  block: { attributes: Record<string, AttributeSchema>; blocks?: Record<string, NestedBlockSchema> },
  value: CtyValue,
  path: AttributePath,
  visit: (name: string, attr: AttributeSchema, holder: ObjectValue, path: AttributePath) => void,
): void {
  if (!isPlainObject(value)) return;
  for (const [name, attr] of Object.entries(block.attributes)) {
    visit(name, attr, value, [...path, name]);
    if (attr.nested) forEachElement(attr.nested.nesting, value[name], [...path, name], (el, p) => walkAttributes(attr.nested!, el, p, visit));
  }
  for (const [name, nested] of Object.entries(block.blocks ?? {})) {
    forEachElement(nested.nesting, value[name], [...path, name], (el, p) => walkAttributes(nested.block, el, p, visit));
  }
}

function forEachElement(nesting: string, value: CtyValue | undefined, path: AttributePath, fn: (element: CtyValue, path: AttributePath) => void): void {
  if (value === null || value === undefined || isUnknown(value)) return;
  if (nesting === "single" || nesting === "group") fn(value, path);
  else if (Array.isArray(value)) value.forEach((el, i) => fn(el, nesting === "set" ? path : [...path, i]));
  else if (isPlainObject(value)) for (const [k, el] of Object.entries(value)) fn(el, [...path, { key: k }]);
}

function clone<T extends CtyValue>(value: T): T {
  if (Array.isArray(value)) return value.map(clone) as T;
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)])) as T;
  return value;
}

/** A copy with every write-only attribute set to null: what may be stored in plans and state. */
export function nullWriteOnly<T extends ObjectValue | null>(block: BlockSchema, value: T): T {
  if (value === null || !hasWriteOnly(block)) return value;
  const copy = clone(value);
  walkAttributes(block, copy, [], (name, attr, holder) => {
    if (attr.writeOnly) holder[name] = null;
  });
  return copy;
}

/** Paths of write-only attributes that hold a value (set in configuration). */
export function writeOnlyPathsSet(block: BlockSchema, value: ObjectValue | null): AttributePath[] {
  const paths: AttributePath[] = [];
  walkAttributes(block, value, [], (name, attr, holder, path) => {
    if (attr.writeOnly && holder[name] !== null && holder[name] !== undefined) paths.push(path);
  });
  return paths;
}

export function hasWriteOnly(block: BlockSchema): boolean {
  const inAttributes = (attrs: Record<string, AttributeSchema>): boolean =>
    Object.values(attrs).some((a) => a.writeOnly || (a.nested !== undefined && inAttributes(a.nested.attributes)));
  return inAttributes(block.attributes) || Object.values(block.blocks ?? {}).some((b) => hasWriteOnly(b.block));
}

const isNull = (value: CtyValue | undefined): boolean => value === null || value === undefined;

/**
 * A copy of `proposed` in which each top-level attribute with a declared default that the
 * configuration leaves null holds that default (a configured unknown stays unknown).
 */
export function applyDefaults(block: BlockSchema, proposed: ObjectValue, req: DefaultRequest): ObjectValue {
  const copy = { ...proposed };
  for (const [name, attr] of Object.entries(block.attributes)) {
    if (attr.default === undefined || !isNull(req.config[name])) continue;
    copy[name] = typeof attr.default === "function" ? attr.default(req) : attr.default;
  }
  return copy;
}

/**
 * Marks each top-level computed attribute that the configuration leaves null, and that has no
 * default, as unknown in a copy of `planned`: the value the provider only learns when applying
 * (ids, timestamps, …). For an update (`isUpdate`), attributes that cannot change in place —
 * `requiresReplace` and `useStateForUnknown` ones — keep their planned (prior) value.
 */
export function markComputedUnknown(block: BlockSchema, planned: ObjectValue, config: ObjectValue, isUpdate = false): ObjectValue {
  const copy = { ...planned };
  for (const [name, attr] of Object.entries(block.attributes)) {
    if (!attr.computed || attr.default !== undefined || !isNull(config[name])) continue;
    if (isUpdate && (attr.requiresReplace || attr.useStateForUnknown)) continue;
    copy[name] = Unknown;
  }
  return copy;
}
