// RFC 9457 problem details. Every error the API returns is one of these; `detail` and `errors`
// are written by us and never echo request values, so a secret sent by mistake cannot leak back.

import { DomainError, PreconditionFailedError, TooManyRequestsError, type DomainErrorKind, type FieldError } from "../errors.js";

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = "HttpProblem";
  }
}

const STATUS_AND_TITLE: Record<DomainErrorKind, [number, string]> = {
  validation: [422, "Validation failed"],
  not_found: [404, "Not found"],
  conflict: [409, "Conflict"],
  precondition_failed: [412, "Precondition failed"],
  forbidden: [403, "Forbidden"],
  unauthenticated: [401, "Unauthenticated"],
  too_many_requests: [429, "Too many requests"],
  identity_rejected: [401, "Identity token rejected"],
};

// Problem types that are more than their status, titled as the contract shows them.
const TITLE_OF_CODE: ReadonlyMap<string, string> = new Map([
  ["no_credential", "No credential"],
  ["no_previous_version", "No previous version"],
  ["secret_required", "Secret required"],
]);

/** The one mapping from what a service threw to what the client is told. */
export function problemFromDomainError(err: DomainError): HttpProblem {
  const [status, title] = STATUS_AND_TITLE[err.kind];
  const headers: Record<string, string> = {};
  if (err instanceof PreconditionFailedError) headers.ETag = err.currentEtag;
  if (err.kind === "unauthenticated") headers["WWW-Authenticate"] = 'Bearer realm="keyplane"';
  if (err instanceof TooManyRequestsError) headers["Retry-After"] = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
  return new HttpProblem(status, err.code, TITLE_OF_CODE.get(err.code) ?? title, err.message, err.errors, headers, err.extensions);
}

const PROBLEM_BASE = "https://keyplane.dev/problems/";

export function problemBody(problem: HttpProblem, requestId: string) {
  return {
    type: PROBLEM_BASE + problem.code,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    code: problem.code,
    ...(problem.errors ? { errors: problem.errors } : {}),
    ...problem.extensions,
    request_id: requestId,
  };
}

export const problems = {
  badRequest: (detail: string, errors?: FieldError[]) => new HttpProblem(400, "bad_request", "Bad request", detail, errors),
  malformedJson: () => new HttpProblem(400, "malformed_json", "Malformed JSON", "The request body is not valid JSON."),
  validation: (errors: FieldError[], detail = "The request did not pass validation.") =>
    new HttpProblem(422, "validation_failed", "Validation failed", detail, errors),
  unauthenticated: (detail = "A valid bearer token is required.") =>
    new HttpProblem(401, "unauthenticated", "Unauthenticated", detail, undefined, {
      "WWW-Authenticate": 'Bearer realm="keyplane"',
    }),
  forbidden: (detail: string) => new HttpProblem(403, "forbidden", "Forbidden", detail),
  notFound: (what = "resource") => new HttpProblem(404, "not_found", "Not found", `The ${what} does not exist.`),
  conflict: (code: string, detail: string, errors?: FieldError[]) => new HttpProblem(409, code, "Conflict", detail, errors),
  unsupportedMediaType: () => new HttpProblem(415, "unsupported_media_type", "Unsupported media type", "Send the body as application/json."),
  payloadTooLarge: () => new HttpProblem(413, "payload_too_large", "Payload too large", "The request body exceeds the size limit."),
  rateLimited: (retryAfterSeconds: number) =>
    new HttpProblem(429, "rate_limited", "Too many requests", "Slow down and retry later.", undefined, {
      "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))),
    }),
  unavailable: () =>
    new HttpProblem(503, "database_unavailable", "Service unavailable", "The database is unreachable; retry shortly.", undefined, {
      "Retry-After": "2",
    }),
  methodNotAllowed: () => new HttpProblem(405, "method_not_allowed", "Method not allowed", "This method is not supported on this path."),
};
