// Edge validation derived from openapi.yaml. The contract is the only description of request
// shapes: this module loads it once, turns each operation's JSON Schemas into zod validators
// (z.fromJSONSchema), and re-exports the TypeScript types openapi-typescript generated from the
// same file. There is deliberately no hand-written copy of any request type here.
//
// Error messages are built from the schema and the *type* of the offending input only, never
// from its value: a secret sent in the wrong field must not come back in a 422 (or a log line).

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { components, operations } from "../generated/openapi.js";
import { ValidationError, type FieldError } from "../errors.js";

// ---- types generated from the contract -----------------------------------------------------

export type Schemas = components["schemas"];
export type OperationId = keyof operations;
export type Role = Schemas["Role"];
export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

type JsonContent<T> = T extends { content: { "application/json": infer B } } ? B : never;
type OrEmpty<T> = [T] extends [never] ? Record<string, never> : T;

/** The parsed JSON request body of an operation; `undefined` for operations without one. */
export type RequestBody<Op extends OperationId> = operations[Op] extends { requestBody?: infer R }
  ? [JsonContent<NonNullable<R>>] extends [never]
    ? undefined
    : JsonContent<NonNullable<R>>
  : undefined;
/** The parsed query parameters of an operation (numbers and booleans already coerced). */
export type QueryParams<Op extends OperationId> = OrEmpty<NonNullable<operations[Op]["parameters"]["query"]>>;
/** The declared request headers of an operation, keyed by their canonical names (`Idempotency-Key`). */
export type HeaderParams<Op extends OperationId> = OrEmpty<NonNullable<operations[Op]["parameters"]["header"]>>;
/** The JSON body of one response of an operation. */
export type ResponseBody<Op extends OperationId, S extends keyof operations[Op]["responses"]> = operations[Op]["responses"][S] extends { content: infer C }
  ? C extends { "application/json": infer B }
    ? B
    : C extends { "application/problem+json": infer P }
      ? P
      : never
  : never;

// ---- loading the contract ------------------------------------------------------------------

type JsonSchema = { [key: string]: unknown };
interface ParameterObject {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: JsonSchema;
}
interface OperationObject {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, unknown>;
  "x-keyplane-roles"?: string[];
}
export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * openapi.yaml sits at the repository root. Walking up from this module finds it both from the
 * sources (service/http) and from the build output (dist/service/http).
 */
function locateContract(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "openapi.yaml");
    if (existsSync(candidate) && existsSync(join(dir, "package.json"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("openapi.yaml not found in any parent directory of service/http");
    dir = parent;
  }
}

/** Absolute path of the openapi.yaml this process validates against. */
export const openapiPath = locateContract();
/** The parsed contract (treat as read-only). */
export const openapiDocument = parseYaml(readFileSync(openapiPath, "utf8")) as OpenApiDocument;

/** Follows a local `$ref` (`#/components/...`) to its target; other values are returned as is. */
function deref<T>(value: unknown): T {
  let current = value;
  for (let hops = 0; isObject(current) && typeof current.$ref === "string"; hops++) {
    if (hops > 16) throw new Error(`$ref chain too long at ${current.$ref}`);
    current = resolvePointer(current.$ref);
  }
  return current as T;
}

function resolvePointer(ref: string): unknown {
  if (!ref.startsWith("#/")) throw new Error(`only local $refs are supported: ${ref}`);
  let node: unknown = openapiDocument;
  for (const raw of ref.slice(2).split("/")) {
    const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObject(node) || !Object.hasOwn(node, segment)) throw new Error(`unresolved $ref ${ref}`);
    node = node[segment];
  }
  return node;
}

// ---- the operation table -------------------------------------------------------------------

export interface OperationInfo {
  operationId: OperationId;
  method: HttpMethod;
  /** OpenAPI path template, e.g. `/v1/organizations/{org}/credentials/{id}`. */
  path: string;
  /** The same path in Express syntax, e.g. `/v1/organizations/:org/credentials/:id`. */
  expressPath: string;
  /** `x-keyplane-roles`: the roles that may call it. Empty for public operations. */
  roles: readonly Role[];
  /** True when a bearer token is required (`security` is not empty). */
  secured: boolean;
  security: readonly Record<string, readonly string[]>[];
  tags: readonly string[];
  summary: string;
  pathParams: readonly string[];
  queryParams: readonly string[];
  headerParams: readonly string[];
  /** Whether the operation takes a JSON body, and whether it must be present. */
  requestBody: "required" | "optional" | "none";
  /** Documented response status codes, e.g. `["200", "401", ...]`. */
  responses: readonly string[];
}

const METHODS: readonly HttpMethod[] = ["get", "post", "put", "patch", "delete"];
const ROLE_NAMES: ReadonlySet<string> = new Set((deref<JsonSchema>({ $ref: "#/components/schemas/Role" }).enum ?? []) as string[]);

interface OperationDetails {
  info: OperationInfo;
  parameters: ParameterObject[];
  body: JsonSchema | undefined;
  responses: Record<string, unknown>;
}

function buildOperations(): Map<string, OperationDetails> {
  const table = new Map<string, OperationDetails>();
  for (const [path, item] of Object.entries(openapiDocument.paths)) {
    const shared = (item.parameters as unknown[] | undefined) ?? [];
    for (const method of METHODS) {
      const op = item[method] as OperationObject | undefined;
      if (!op) continue;
      const id = op.operationId;
      if (!id) throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
      if (table.has(id)) throw new Error(`operationId ${id} is used twice`);
      // Operation-level parameters override path-level ones with the same name and location.
      const parameters = new Map<string, ParameterObject>();
      for (const raw of [...shared, ...(op.parameters ?? [])]) {
        const p = deref<ParameterObject>(raw);
        parameters.set(`${p.in}:${p.name}`, p);
      }
      const params = [...parameters.values()];
      const roles = op["x-keyplane-roles"];
      if (!Array.isArray(roles) || roles.some((r) => !ROLE_NAMES.has(r))) {
        throw new Error(`${id}: x-keyplane-roles must list roles of components.schemas.Role`);
      }
      const security = op.security ?? openapiDocument.security ?? [];
      const requestBody = op.requestBody ? deref<{ required?: boolean; content?: Record<string, { schema?: JsonSchema }> }>(op.requestBody) : undefined;
      const bodySchema = requestBody?.content?.["application/json"]?.schema;
      const names = (where: ParameterObject["in"]) => params.filter((p) => p.in === where).map((p) => p.name);
      table.set(id, {
        info: {
          operationId: id as OperationId,
          method,
          path,
          expressPath: path.replace(/\{(\w+)\}/g, ":$1"),
          roles: roles as Role[],
          secured: security.some((requirement) => Object.keys(requirement).length > 0),
          security,
          tags: op.tags ?? [],
          summary: op.summary ?? "",
          pathParams: names("path"),
          queryParams: names("query"),
          headerParams: names("header"),
          requestBody: bodySchema ? (requestBody?.required ? "required" : "optional") : "none",
          responses: Object.keys(op.responses ?? {}),
        },
        parameters: params,
        body: bodySchema,
        responses: op.responses ?? {},
      });
    }
  }
  return table;
}

const details = buildOperations();

/** Every operation of openapi.yaml by operationId, for routing and for contract-driven tests. */
export const operationTable: ReadonlyMap<string, OperationInfo> = new Map([...details].map(([id, d]) => [id, Object.freeze(d.info)] as const));

function detailsOf(operationId: string): OperationDetails {
  const d = details.get(operationId);
  if (!d) throw new Error(`openapi.yaml has no operation ${operationId}`);
  return d;
}

// ---- JSON Schema → zod ---------------------------------------------------------------------

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

/**
 * Rewrites an OpenAPI schema into the plain JSON Schema z.fromJSONSchema understands:
 * component refs become `#/$defs/<name>` (the only local refs it resolves), `allOf` of object
 * schemas is merged into one object (so `additionalProperties` applies to the merged set of
 * properties rather than rejecting the other member's keys), and annotations are dropped.
 * `closeObjects` makes objects without `additionalProperties` strict, used for responses so a
 * test notices any field the contract does not declare.
 */
function normalize(schema: unknown, closeObjects: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => normalize(s, closeObjects));
  if (!isObject(schema)) return schema;
  if (typeof schema.$ref === "string") {
    if (!schema.$ref.startsWith(SCHEMA_COMPONENT)) throw new Error(`unsupported $ref in a schema: ${schema.$ref}`);
    const rest = Object.keys(schema).filter((k) => k !== "$ref" && !ANNOTATIONS.has(k) && !k.startsWith("x-"));
    const ref = { $ref: `#/$defs/${schema.$ref.slice(SCHEMA_COMPONENT.length)}` };
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
        const name = node.$ref.slice("#/$defs/".length);
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

function compile(schema: unknown, closeObjects = false): z.ZodType {
  const root = normalize(schema, closeObjects) as JsonSchema;
  const $defs = reachableDefs(root, defsFor(closeObjects));
  // A private registry keeps converted metadata out of zod's global one.
  return z.fromJSONSchema({ ...root, $defs } as Parameters<typeof z.fromJSONSchema>[0], {
    defaultTarget: "draft-2020-12",
    registry: z.registry(),
  });
}

type ScalarKind = "integer" | "number" | "boolean" | "string" | "array" | "other";

/** The JSON type a parameter's schema expects, for coercing query and header strings. */
function kindOf(schema: JsonSchema | undefined): ScalarKind {
  const s = deref<JsonSchema>(schema ?? {});
  const types = (Array.isArray(s.type) ? s.type : [s.type]).filter((t) => t !== "null" && t !== undefined);
  if (types.length === 1 && ["integer", "number", "boolean", "string", "array"].includes(types[0] as string)) return types[0] as ScalarKind;
  if (types.length === 0 && (s.enum !== undefined || typeof s.pattern === "string")) return "string";
  return "other";
}

interface ParamValidator {
  schema: z.ZodType;
  params: { name: string; kind: ScalarKind }[];
  timestamps: TimestampPath[];
}

interface PathParam {
  name: string;
  /** What the id names, from its schema's name (`CredentialId` → `credential`), for the 404. */
  resource: string;
  schema: z.ZodType;
}

interface CompiledOperation {
  body: { schema: z.ZodType; timestamps: TimestampPath[] } | undefined;
  query: ParamValidator;
  header: ParamValidator;
  path: PathParam[];
}

function compileParams(all: ParameterObject[], where: "query" | "header"): ParamValidator {
  const params = all.filter((p) => p.in === where);
  // Header names are case-insensitive; Node hands them over in lower case.
  const key = (p: ParameterObject) => (where === "header" ? p.name.toLowerCase() : p.name);
  const properties = Object.fromEntries(params.map((p) => [key(p), p.schema ?? {}]));
  const schema = compile({
    type: "object",
    // Unknown query parameters are rejected (a typo such as ?provder= would otherwise be ignored);
    // unknown headers are everyday HTTP and pass.
    additionalProperties: where === "header",
    properties,
    required: params.filter((p) => p.required).map(key),
  });
  return {
    schema,
    params: params.map((p) => ({ name: p.name, kind: kindOf(p.schema) })),
    timestamps: timestampPaths({ type: "object", properties }),
  };
}

function compilePathParams(all: ParameterObject[]): PathParam[] {
  return all
    .filter((p) => p.in === "path")
    .map((p) => {
      const ref = isObject(p.schema) && typeof p.schema.$ref === "string" ? p.schema.$ref : "";
      const resource =
        /([A-Za-z]+)Id$/
          .exec(ref)?.[1]
          .replace(/([a-z])([A-Z])/g, "$1 $2")
          .toLowerCase() ?? p.name;
      return { name: p.name, resource, schema: compile(p.schema ?? { type: "string" }) };
    });
}

const compiled = new Map<string, CompiledOperation>();
for (const [id, d] of details) {
  compiled.set(id, {
    body: d.body ? { schema: compile(d.body), timestamps: timestampPaths(d.body) } : undefined,
    query: compileParams(d.parameters, "query"),
    header: compileParams(d.parameters, "header"),
    path: compilePathParams(d.parameters),
  });
}

function compiledOf(operationId: string): CompiledOperation {
  const c = compiled.get(operationId);
  if (!c) throw new Error(`openapi.yaml has no operation ${operationId}`);
  return c;
}

// ---- parsing -------------------------------------------------------------------------------

/**
 * Validates a JSON request body against the operation's schema and returns it typed.
 * Operations without a body accept `undefined` or `{}` and return `undefined`.
 * @throws ValidationError with paths such as `body.api_key`
 */
export function parseBody<Op extends OperationId>(operationId: Op, body: unknown): RequestBody<Op> {
  const { body: validator } = compiledOf(operationId);
  const info = detailsOf(operationId).info;
  if (!validator) {
    if (body === undefined || (isPlainObject(body) && Object.keys(body).length === 0)) return undefined as RequestBody<Op>;
    throw new ValidationError([{ path: "body", message: "this operation takes no request body" }]);
  }
  if (body === undefined) {
    if (info.requestBody === "optional") return undefined as RequestBody<Op>;
    throw new ValidationError([{ path: "body", message: "a JSON request body is required" }]);
  }
  return run(validator.schema, body, "body", validator.timestamps) as RequestBody<Op>;
}

/**
 * Validates query parameters (as Express parses them: strings, or arrays when repeated).
 * Integers, numbers and booleans (`true`/`false`) are coerced; defaults such as `limit` are applied.
 * @throws ValidationError with paths such as `query.limit`
 */
export function parseQuery<Op extends OperationId>(operationId: Op, query: unknown): QueryParams<Op> {
  return parseParams(compiledOf(operationId).query, query ?? {}, "query") as QueryParams<Op>;
}

/**
 * Validates the operation's declared headers (`Idempotency-Key`, `If-Match`, `If-None-Match`)
 * from Node's lower-cased header object; other headers are ignored. The result uses the
 * canonical names of the contract.
 * @throws ValidationError with paths such as `header.idempotency-key`
 */
export function parseHeaders<Op extends OperationId>(operationId: Op, headers: unknown): HeaderParams<Op> {
  const validator = compiledOf(operationId).header;
  const declared = new Set(validator.params.map((p) => p.name.toLowerCase()));
  const source = isObject(headers) ? headers : {};
  const picked = Object.fromEntries(
    Object.entries(source)
      .filter(([k]) => declared.has(k.toLowerCase()))
      .map(([k, v]) => [k.toLowerCase(), v]),
  );
  const parsed = parseParams(validator, picked, "header") as Record<string, unknown>;
  return Object.fromEntries(
    validator.params.filter((p) => parsed[p.name.toLowerCase()] !== undefined).map((p) => [p.name, parsed[p.name.toLowerCase()]]),
  ) as HeaderParams<Op>;
}

/**
 * The resource named by the first path parameter that cannot be an id of its kind (e.g.
 * `credential` for `/credentials/%00`), or null when every one can. Such a path names nothing:
 * the caller answers 404 before the value reaches a query or an audit event.
 */
export function impossiblePathId(operationId: OperationId, params: Record<string, unknown>): string | null {
  for (const param of compiledOf(operationId).path) {
    const value = params[param.name];
    if (typeof value !== "string" || unstorable(value) !== null || !param.schema.safeParse(value).success) return param.resource;
  }
  return null;
}

const componentSchemas = new Map<string, z.ZodType>();

/**
 * Validates a value against one of `components.schemas`, with every declared object treated as
 * closed (no undeclared fields). For tests and for checking data the service builds itself,
 * such as catalog entries.
 * @throws ValidationError with paths prefixed by `root` (default `value`)
 */
export function parseComponent<N extends keyof Schemas>(name: N, value: unknown, root = "value"): Schemas[N] {
  let schema = componentSchemas.get(name);
  if (!schema) {
    if (!Object.hasOwn(openapiDocument.components.schemas ?? {}, name)) throw new Error(`openapi.yaml has no schema ${name}`);
    schema = compile({ $ref: `${SCHEMA_COMPONENT}${name}` }, true);
    componentSchemas.set(name, schema);
  }
  return run(schema, value, root) as Schemas[N];
}

const responseSchemas = new Map<string, z.ZodType | null>();

/**
 * Validates a response body against the contract, with every declared object treated as closed
 * (no undeclared fields), so API tests catch both drift and accidental extra fields.
 * @throws ValidationError with paths such as `response.key_hint`
 */
export function parseResponse<Op extends OperationId>(operationId: Op, status: number, body: unknown): unknown {
  const key = `${operationId}:${status}`;
  let schema = responseSchemas.get(key);
  if (schema === undefined) {
    const responses = detailsOf(operationId).responses;
    const raw = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
    if (raw === undefined) throw new ValidationError([{ path: "response", message: `status ${status} is not documented for ${operationId}` }]);
    const response = deref<{ content?: Record<string, { schema?: unknown }> }>(raw);
    const media = response.content?.["application/json"] ?? response.content?.["application/problem+json"];
    schema = media?.schema ? compile(media.schema, true) : null;
    responseSchemas.set(key, schema);
  }
  if (schema === null) {
    if (body === undefined || body === "" || (isPlainObject(body) && Object.keys(body).length === 0)) return body;
    throw new ValidationError([{ path: "response", message: `status ${status} of ${operationId} has no JSON body` }]);
  }
  return run(schema, body, "response");
}

function parseParams(validator: ParamValidator, input: unknown, where: "query" | "header"): unknown {
  if (!isObject(input)) throw new ValidationError([{ path: where, message: "expected an object" }]);
  const errors: FieldError[] = [];
  const coerced = Object.create(null) as Record<string, unknown>;
  const kinds = new Map(validator.params.map((p) => [where === "header" ? p.name.toLowerCase() : p.name, p.kind]));
  for (const [name, raw] of Object.entries(input)) {
    if (raw === undefined) continue;
    const kind = kinds.get(name);
    const path = `${where}.${safeSegment(name)}`;
    if (kind === undefined) {
      coerced[name] = raw; // unknown: left to the schema, which rejects unknown query parameters
      continue;
    }
    const value = Array.isArray(raw) && kind !== "array" ? undefined : raw;
    if (value === undefined) {
      errors.push({ path, message: "must be given at most once" });
      continue;
    }
    const result = coerceScalar(value, kind);
    if ("error" in result) errors.push({ path, message: result.error });
    else coerced[name] = result.value;
  }
  checkInput(coerced, where, errors);
  if (errors.length > 0) {
    // Still run the schema so unrelated problems (unknown parameters, bounds) are reported together.
    const reported = new Set(errors.map((e) => e.path));
    const rest = Object.fromEntries(Object.entries(coerced).filter(([k]) => !reported.has(`${where}.${safeSegment(k)}`)));
    const result = validator.schema.safeParse(rest, { reportInput: true });
    if (!result.success) errors.push(...formatIssues(result.error.issues, where).filter((e) => !reported.has(e.path)));
    throw new ValidationError(errors);
  }
  return run(validator.schema, { ...coerced }, where, validator.timestamps);
}

function coerceScalar(value: unknown, kind: ScalarKind): { value: unknown } | { error: string } {
  if (typeof value !== "string") return { value };
  switch (kind) {
    case "integer":
      return /^[+-]?\d{1,15}$/.test(value) ? { value: Number(value) } : { error: "expected an integer" };
    case "number": {
      const n = Number(value);
      return value.trim() !== "" && Number.isFinite(n) ? { value: n } : { error: "expected a number" };
    }
    case "boolean":
      return value === "true" ? { value: true } : value === "false" ? { value: false } : { error: "expected true or false" };
    default:
      return { value };
  }
}

function run(schema: z.ZodType, input: unknown, root: string, timestamps: TimestampPath[] = []): unknown {
  const errors: FieldError[] = [];
  checkInput(input, root, errors);
  if (errors.length > 0) throw new ValidationError(errors);
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw new ValidationError(formatIssues(result.error.issues, root));
  for (const path of timestamps) normalizeTimestamps(result.data, path, root, errors);
  if (errors.length > 0) throw new ValidationError(errors);
  return result.data;
}

// ---- timestamps ----------------------------------------------------------------------------

/** Property names from the root to a `format: date-time` string; `*` stands for any item or key. */
type TimestampPath = readonly string[];

// What PostgreSQL, JavaScript and RFC 3339 output all represent the same way.
const EARLIEST_TIMESTAMP = Date.parse("0001-01-01T00:00:00.000Z");
const LATEST_TIMESTAMP = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * Reads an RFC 3339 date-time (already checked for shape) as the instant it names, in UTC with
 * millisecond precision, or null when that instant lies outside the years 0001–9999.
 * RFC 3339 allows offsets up to ±23:59 and PostgreSQL refuses those beyond ±15:59, so the
 * database only ever receives the normalised UTC text; the year bounds keep the value one that
 * every client parses back (JavaScript would write year 10000 as `+010000`).
 */
export function parseTimestamp(text: string): string | null {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || ms < EARLIEST_TIMESTAMP || ms > LATEST_TIMESTAMP) return null;
  return new Date(ms).toISOString();
}

function timestampPaths(schema: unknown, trail: string[] = [], visiting = new Set<unknown>()): TimestampPath[] {
  const s = deref<JsonSchema>(schema);
  if (!isObject(s) || visiting.has(s)) return [];
  visiting.add(s);
  const found: TimestampPath[] = [];
  if (s.format === "date-time") found.push([...trail]);
  for (const key of ["allOf", "anyOf", "oneOf"] as const) {
    if (Array.isArray(s[key])) for (const member of s[key] as unknown[]) found.push(...timestampPaths(member, trail, visiting));
  }
  if (isObject(s.properties)) {
    for (const [name, property] of Object.entries(s.properties)) found.push(...timestampPaths(property, [...trail, name], visiting));
  }
  if (isObject(s.items)) found.push(...timestampPaths(s.items, [...trail, "*"], visiting));
  if (isObject(s.additionalProperties)) found.push(...timestampPaths(s.additionalProperties, [...trail, "*"], visiting));
  visiting.delete(s);
  return found;
}

function normalizeTimestamps(data: unknown, path: TimestampPath, at: string, errors: FieldError[]): void {
  if (!isObject(data) && !Array.isArray(data)) return;
  const [head, ...rest] = path;
  const container = data as Record<string, unknown>;
  const keys = head === "*" ? Object.keys(container) : Object.hasOwn(container, head) ? [head] : [];
  for (const key of keys) {
    const where = `${at}.${safeSegment(Array.isArray(data) ? Number(key) : key)}`;
    const value = container[key];
    if (rest.length > 0) {
      normalizeTimestamps(value, rest, where, errors);
    } else if (typeof value === "string") {
      const normalized = parseTimestamp(value);
      if (normalized === null) errors.push({ path: where, message: "must be a date-time between the years 0001 and 9999 in UTC" });
      else container[key] = normalized;
    }
  }
}

// ---- characters no database column takes, prototype pollution and depth --------------------

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const MAX_DEPTH = 32;
// In a `u` regex a surrogate pair is one code point, so \p{Cs} matches only unpaired halves.
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * Why a string cannot be stored, or null. PostgreSQL text and jsonb refuse NUL; an unpaired
 * surrogate is not Unicode at all (jsonb refuses its escape; text would silently get U+FFFD).
 */
export function unstorable(text: string): string | null {
  if (!UNSTORABLE.test(text)) return null;
  return text.includes("\u0000") ? "must not contain NUL characters (\\u0000)" : "must not contain unpaired UTF-16 surrogates";
}

/**
 * Rejects strings (values and keys) that no column can store, `__proto__`, `constructor` and
 * `prototype` keys anywhere in the input (JSON.parse makes `__proto__` an ordinary own key,
 * which a later merge could turn into a prototype write), and nesting deeper than any schema
 * allows. Iterative, so hostile nesting cannot overflow the stack.
 */
function checkInput(input: unknown, root: string, errors: FieldError[]): void {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: input, path: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      const problem = unstorable(value);
      if (problem) errors.push({ path, message: problem });
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (depth > MAX_DEPTH) {
      errors.push({ path, message: `nesting deeper than ${MAX_DEPTH} levels` });
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: `${path}.${i}`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        errors.push({ path: `${path}.${key}`, message: "forbidden key" });
        continue;
      }
      const keyProblem = unstorable(key);
      if (keyProblem) {
        errors.push({ path: `${path}.*`, message: `names ${keyProblem}` });
        continue;
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}.${safeSegment(key)}`, depth: depth + 1 });
    }
  }
}

// ---- turning zod issues into value-free messages -------------------------------------------

type Issue = z.core.$ZodIssue;

// Keys are echoed in paths only when they look like field names (`api_key`) or header names
// (`idempotency-key`); anything else, which could be a secret pasted as a key, is shown as `*`.
const SAFE_KEY = /^(?:[A-Za-z_][A-Za-z0-9_]{0,31}|[a-z]+(?:-[a-z]+){1,3})$/;
function safeSegment(key: PropertyKey): string {
  if (typeof key === "number") return String(key);
  return typeof key === "string" && SAFE_KEY.test(key) ? key : "*";
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(safeSegment)].join(".");
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function expectedName(expected: string): string {
  return expected === "int" ? "integer" : expected;
}

const EMPTY = "must not be empty";

function formatIssues(issues: readonly Issue[], prefix: string): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) formatIssue(issue, prefix, out);
  // One message per path and text is enough; zod can report the same failure twice via unions.
  // An empty string also fails any pattern; "must not be empty" says it better on its own.
  const empty = new Set(out.filter((e) => e.message === EMPTY).map((e) => e.path));
  const seen = new Set<string>();
  return out.filter((e) => {
    const key = `${e.path}\u0000${e.message}`;
    if (seen.has(key) || (empty.has(e.path) && e.message.startsWith("must match the pattern"))) return false;
    seen.add(key);
    return true;
  });
}

function formatIssue(issue: Issue, prefix: string, out: FieldError[]): void {
  const path = joinPath(prefix, issue.path);
  const hasInput = Object.hasOwn(issue, "input");
  switch (issue.code) {
    case "invalid_type":
      out.push({
        path,
        message: !hasInput || issue.input === undefined ? "is required" : `expected ${expectedName(issue.expected)}, received ${typeName(issue.input)}`,
      });
      return;
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = small ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive !== false;
      const n = Number(bound);
      switch (issue.origin) {
        case "string":
          out.push({ path, message: small && n === 1 ? EMPTY : `must be at ${small ? "least" : "most"} ${n} characters long` });
          return;
        case "array":
        case "set":
          out.push({ path, message: `must have at ${small ? "least" : "most"} ${n} items` });
          return;
        case "object":
        case "record":
          out.push({ path, message: `must have at ${small ? "least" : "most"} ${n} ${n === 1 ? "property" : "properties"}` });
          return;
        default:
          out.push({ path, message: `must be ${small ? (inclusive ? ">=" : ">") : inclusive ? "<=" : "<"} ${n}` });
          return;
      }
    }
    case "invalid_format":
      out.push({ path, message: formatMessage(issue) });
      return;
    case "not_multiple_of":
      out.push({ path, message: `must be a multiple of ${Number(issue.divisor)}` });
      return;
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      out.push({ path, message: values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(", ")}` });
      return;
    }
    case "unrecognized_keys":
      for (const key of issue.keys) {
        out.push({ path: `${path}.${safeSegment(key)}`, message: prefix === "query" ? "unknown query parameter" : "unknown field" });
      }
      return;
    case "invalid_key": {
      const inner = formatIssues(issue.issues, "").map((e) => e.message);
      out.push({ path, message: `invalid name${inner.length ? `: ${inner.join("; ")}` : ""}` });
      return;
    }
    case "invalid_element":
      for (const inner of issue.issues) formatIssue({ ...inner, path: [...issue.path, issue.key as PropertyKey, ...inner.path] }, prefix, out);
      return;
    case "invalid_union":
      formatUnion(issue, prefix, out);
      return;
    default:
      out.push({ path, message: "is invalid" });
  }
}

/**
 * A union fails when no branch matches. If exactly one branch got past the type check (e.g. the
 * string branch of `string | null` with a bad pattern), its issues are the useful ones;
 * otherwise every branch was a type mismatch and the message lists the accepted types.
 */
function formatUnion(issue: z.core.$ZodIssueInvalidUnion, prefix: string, out: FieldError[]): void {
  const path = joinPath(prefix, issue.path);
  const isTypeMismatch = (branch: readonly Issue[]) => branch.length === 1 && branch[0].code === "invalid_type" && branch[0].path.length === 0;
  const typed = issue.errors.filter((branch) => !isTypeMismatch(branch));
  if (typed.length === 1) {
    for (const inner of typed[0]) formatIssue({ ...inner, path: [...issue.path, ...inner.path] }, prefix, out);
    return;
  }
  if (typed.length === 0 && issue.errors.length > 0) {
    const expected = [...new Set(issue.errors.map((b) => expectedName((b[0] as z.core.$ZodIssueInvalidType).expected)))];
    const received = Object.hasOwn(issue, "input") ? typeName(issue.input) : "undefined";
    out.push({ path, message: `expected ${expected.join(" or ")}, received ${received}` });
    return;
  }
  out.push({ path, message: "does not match any of the accepted shapes" });
}

function formatMessage(issue: z.core.$ZodIssueInvalidStringFormat): string {
  switch (issue.format) {
    case "regex":
      return `must match the pattern ${issue.pattern ?? ""}`.trim();
    case "url":
      return "must be a valid URL";
    case "datetime":
      return "must be an RFC 3339 date-time such as 2030-01-01T00:00:00Z";
    case "date":
      return "must be a date such as 2030-01-01";
    case "email":
      return "must be an email address";
    default:
      return `must be a valid ${issue.format}`;
  }
}

// ---- helpers -------------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isObject(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
