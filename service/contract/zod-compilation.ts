// Owns the zod validators built from the contract: each operation's body, query, header and path
// parameter schemas compiled once at load (so a schema zod cannot convert fails at start-up), and
// component and response schemas compiled on first use. zod is the contract's validation library;
// http/validation.ts runs these validators, this module only builds them.

import { z } from "zod";
import { deref, isObject, openapiDocument, type JsonSchema } from "./contract-document.js";
import { operationDetails, responseSchema, type ParameterObject } from "./operation-table.js";
import { componentRef, toJsonSchema } from "./schema-normalization.js";
import { timestampPaths, type TimestampPath } from "./timestamps.js";

export type ScalarKind = "integer" | "number" | "boolean" | "string" | "array" | "other";

export interface ParamValidator {
  schema: z.ZodType;
  params: { name: string; kind: ScalarKind }[];
  timestamps: TimestampPath[];
}

export interface PathParamValidator {
  name: string;
  /** What the id names, from its schema's name (`CredentialId` → `credential`), for the 404. */
  resource: string;
  schema: z.ZodType;
}

export interface CompiledOperation {
  body: { schema: z.ZodType; timestamps: TimestampPath[] } | undefined;
  query: ParamValidator;
  header: ParamValidator;
  path: PathParamValidator[];
}

function compile(schema: unknown, closeObjects = false): z.ZodType {
  // A private registry keeps converted metadata out of zod's global one.
  return z.fromJSONSchema(toJsonSchema(schema, closeObjects), {
    defaultTarget: "draft-2020-12",
    registry: z.registry(),
  });
}

/** The JSON type a parameter's schema expects, for coercing query and header strings. */
function kindOf(schema: JsonSchema | undefined): ScalarKind {
  const s = deref<JsonSchema>(schema ?? {});
  const types = (Array.isArray(s.type) ? s.type : [s.type]).filter((t) => t !== "null" && t !== undefined);
  if (types.length === 1 && ["integer", "number", "boolean", "string", "array"].includes(types[0] as string)) return types[0] as ScalarKind;
  if (types.length === 0 && (s.enum !== undefined || typeof s.pattern === "string")) return "string";
  return "other";
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

function compilePathParams(all: ParameterObject[]): PathParamValidator[] {
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
for (const [id, d] of operationDetails) {
  compiled.set(id, {
    body: d.body ? { schema: compile(d.body), timestamps: timestampPaths(d.body) } : undefined,
    query: compileParams(d.parameters, "query"),
    header: compileParams(d.parameters, "header"),
    path: compilePathParams(d.parameters),
  });
}

/** The validators of one operation's request. */
export function compiledOperation(operationId: string): CompiledOperation {
  const c = compiled.get(operationId);
  if (!c) throw new Error(`openapi.yaml has no operation ${operationId}`);
  return c;
}

const componentValidators = new Map<string, z.ZodType>();

/** The validator of one of `components.schemas`, every declared object closed. */
export function componentValidator(name: string): z.ZodType {
  let schema = componentValidators.get(name);
  if (!schema) {
    if (!Object.hasOwn(openapiDocument.components.schemas ?? {}, name)) throw new Error(`openapi.yaml has no schema ${name}`);
    schema = compile(componentRef(name), true);
    componentValidators.set(name, schema);
  }
  return schema;
}

const responseValidators = new Map<string, z.ZodType | null | undefined>();

/**
 * The validator of the JSON body an operation answers `status` with, every declared object
 * closed: `null` when that response has no JSON body, `undefined` when the status is not documented.
 */
export function responseValidator(operationId: string, status: number): z.ZodType | null | undefined {
  const key = `${operationId}:${status}`;
  if (!responseValidators.has(key)) {
    const schema = responseSchema(operationId, status);
    responseValidators.set(key, schema === undefined || schema === null ? schema : compile(schema, true));
  }
  return responseValidators.get(key);
}
