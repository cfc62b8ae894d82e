// The TypeScript face of openapi.yaml: every type here is derived from the declarations
// openapi-typescript generated from the contract (service/generated/openapi.d.ts), so no request
// or response shape is ever written by hand.

import type { components, operations } from "./generated/openapi.js";

export type Schemas = components["schemas"];
export type Role = Schemas["Role"];
export type CredentialType = Schemas["CredentialType"];
export type OperationId = keyof operations;

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
