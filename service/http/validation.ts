// The parse functions routes call: they run the validators built from openapi.yaml
// (contract/zod-compilation.ts) on what a request brings, coerce query and header strings, normalise
// date-times, and throw ValidationError with value-free messages. There is deliberately no
// hand-written copy of any request type here: the results are typed by contract-types.ts.

import type { z } from "zod";
import type { HeaderParams, OperationId, QueryParams, RequestBody, Schemas } from "../contract-types.js";
import { isObject } from "../contract/contract-document.js";
import { formatIssues, safeSegment } from "../contract/error-messages.js";
import { operationTable } from "../contract/operation-table.js";
import { checkStorable, unstorable } from "../contract/storable-input.js";
import { normalizeTimestamps, type TimestampPath } from "../contract/timestamps.js";
import { compiledOperation, componentValidator, responseValidator, type ParamValidator, type ScalarKind } from "../contract/zod-compilation.js";
import { ValidationError, type FieldError } from "../errors.js";

/**
 * Validates a JSON request body against the operation's schema and returns it typed.
 * Operations without a body accept `undefined` or `{}` and return `undefined`.
 * @throws ValidationError with paths such as `body.api_key`
 */
export function parseBody<Op extends OperationId>(operationId: Op, body: unknown): RequestBody<Op> {
  const { body: validator } = compiledOperation(operationId);
  if (!validator) {
    if (body === undefined || (isPlainObject(body) && Object.keys(body).length === 0)) return undefined as RequestBody<Op>;
    throw new ValidationError([{ path: "body", message: "this operation takes no request body" }]);
  }
  if (body === undefined) {
    if (operationTable.get(operationId)?.requestBody === "optional") return undefined as RequestBody<Op>;
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
  return parseParams(compiledOperation(operationId).query, query ?? {}, "query") as QueryParams<Op>;
}

/**
 * Validates the operation's declared headers (`Idempotency-Key`, `If-Match`, `If-None-Match`)
 * from Node's lower-cased header object; other headers are ignored. The result uses the
 * canonical names of the contract.
 * @throws ValidationError with paths such as `header.idempotency-key`
 */
export function parseHeaders<Op extends OperationId>(operationId: Op, headers: unknown): HeaderParams<Op> {
  const validator = compiledOperation(operationId).header;
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
  for (const param of compiledOperation(operationId).path) {
    const value = params[param.name];
    if (typeof value !== "string" || unstorable(value) !== null || !param.schema.safeParse(value).success) return param.resource;
  }
  return null;
}

/**
 * Validates a value against one of `components.schemas`, with every declared object treated as
 * closed (no undeclared fields). For tests and for checking data the service builds itself,
 * such as catalog entries.
 * @throws ValidationError with paths prefixed by `root` (default `value`)
 */
export function parseComponent<N extends keyof Schemas>(name: N, value: unknown, root = "value"): Schemas[N] {
  return run(componentValidator(name), value, root) as Schemas[N];
}

/**
 * Validates a response body against the contract, with every declared object treated as closed
 * (no undeclared fields), so API tests catch both drift and accidental extra fields.
 * @throws ValidationError with paths such as `response.key_hint`
 */
export function parseResponse<Op extends OperationId>(operationId: Op, status: number, body: unknown): unknown {
  const schema = responseValidator(operationId, status);
  if (schema === undefined) throw new ValidationError([{ path: "response", message: `status ${status} is not documented for ${operationId}` }]);
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
  checkStorable(coerced, where, errors);
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
  checkStorable(input, root, errors);
  if (errors.length > 0) throw new ValidationError(errors);
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw new ValidationError(formatIssues(result.error.issues, root));
  for (const path of timestamps) normalizeTimestamps(result.data, path, root, errors);
  if (errors.length > 0) throw new ValidationError(errors);
  return result.data;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isObject(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
