// Owns the operation table: every operation of openapi.yaml by operationId, with its method,
// path, roles (`x-keyplane-roles`), parameters, request body and responses as the contract
// declares them. Routing, access checks and contract-driven tests read it; nothing here validates
// input (zod-compilation.ts turns the schemas it collects into validators).

import type { OperationId, Role } from "../contract-types.js";
import { deref, openapiDocument, type JsonSchema } from "./contract-document.js";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

export interface ParameterObject {
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

/** What validation needs beyond the public summary: the raw parameter, body and response schemas. */
export interface OperationDetails {
  info: OperationInfo;
  parameters: ParameterObject[];
  body: JsonSchema | undefined;
  responses: Record<string, unknown>;
}

const METHODS: readonly HttpMethod[] = ["get", "post", "put", "patch", "delete"];
const ROLE_NAMES: ReadonlySet<string> = new Set((deref<JsonSchema>({ $ref: "#/components/schemas/Role" }).enum ?? []) as string[]);

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

/** Every operation with its raw schemas, by operationId. */
export const operationDetails: ReadonlyMap<string, OperationDetails> = buildOperations();

/** Every operation of openapi.yaml by operationId, for routing and for contract-driven tests. */
export const operationTable: ReadonlyMap<string, OperationInfo> = new Map([...operationDetails].map(([id, d]) => [id, Object.freeze(d.info)] as const));

export function detailsOf(operationId: string): OperationDetails {
  const d = operationDetails.get(operationId);
  if (!d) throw new Error(`openapi.yaml has no operation ${operationId}`);
  return d;
}

/**
 * The JSON schema of the response an operation gives with `status` (an exact code, else `4XX`
 * style, else `default`): `null` when that response has no JSON body, `undefined` when the
 * contract does not document the status at all.
 */
export function responseSchema(operationId: string, status: number): unknown {
  const responses = detailsOf(operationId).responses;
  const raw = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
  if (raw === undefined) return undefined;
  const response = deref<{ content?: Record<string, { schema?: unknown }> }>(raw);
  const media = response.content?.["application/json"] ?? response.content?.["application/problem+json"];
  return media?.schema ?? null;
}
