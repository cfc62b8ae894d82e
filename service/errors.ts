// Domain errors: what went wrong, said in the domain's words. Services, DALs and the CLI throw
// these; http/problem.ts is the one place that turns them into RFC 9457 answers, so no feature
// outside http/ decides a status code. `detail` and `errors` are written by us and never echo an
// input value, so a secret sent by mistake cannot come back in an answer or a log line.

import type { components } from "./generated/openapi.js";

/** A field-level error: `path` says where the input was found (`body.`, `query.`, `header.`, `path.`). */
export type FieldError = components["schemas"]["FieldError"];

export type DomainErrorKind =
  "validation" | "not_found" | "conflict" | "precondition_failed" | "forbidden" | "unauthenticated" | "too_many_requests" | "identity_rejected";

export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;

  constructor(
    /** Stable machine-readable code (the problem's `code`). */
    readonly code: string,
    detail: string,
    readonly errors?: FieldError[],
    /** Extra members of the answer, e.g. the steps a resolution checked. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

/** Input that breaks a rule: 422. */
export class ValidationError extends DomainError {
  readonly kind = "validation";
  declare readonly errors: FieldError[];
  constructor(errors: FieldError[], detail = "The request did not pass validation.", code = "validation_failed") {
    super(code, detail, errors);
  }
}

/** The thing named does not exist (or the caller may not know it does): 404. */
export class NotFoundError extends DomainError {
  readonly kind = "not_found";
  constructor(what = "resource", code = "not_found", detail = `The ${what} does not exist.`, extensions: Record<string, unknown> = {}) {
    super(code, detail, undefined, extensions);
  }
}

/** `find`, throwing NotFoundError (naming `what`) where it finds nothing: how a service loads the object a call names. */
export function orNotFound<Args extends unknown[], Row>(what: string, find: (...args: Args) => Promise<Row | null>): (...args: Args) => Promise<Row> {
  return async (...args) => {
    const row = await find(...args);
    if (row === null) throw new NotFoundError(what);
    return row;
  };
}

/** The request contradicts the current state (a taken name, an active credential): 409. */
export class ConflictError extends DomainError {
  readonly kind = "conflict";
  constructor(code: string, detail: string, errors?: FieldError[], extensions: Record<string, unknown> = {}) {
    super(code, detail, errors, extensions);
  }
}

/** If-Match named another version than the current one: 412. */
export class PreconditionFailedError extends DomainError {
  readonly kind = "precondition_failed";
  constructor(readonly currentEtag: string) {
    super("precondition_failed", `If-Match does not match the current version (ETag ${currentEtag}); fetch the resource and retry.`);
  }
}

/** The caller is known but may not do this: 403. */
export class ForbiddenError extends DomainError {
  readonly kind = "forbidden";
  constructor(detail: string, code = "forbidden") {
    super(code, detail);
  }
}

/** The caller could not be identified: 401. */
export class UnauthenticatedError extends DomainError {
  readonly kind = "unauthenticated";
  constructor(detail = "A valid bearer token is required.") {
    super("unauthenticated", detail);
  }
}

/** The caller holds as many of a bounded resource (e.g. long-polls, exchange attempts) as it may: 429, retry later. */
export class TooManyRequestsError extends DomainError {
  readonly kind = "too_many_requests";
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
  ) {
    super("rate_limited", detail);
  }
}

/** A workload identity token was refused (`code` names the check that failed): 401, nothing issued. */
export class IdentityRejectedError extends DomainError {
  readonly kind = "identity_rejected";
  constructor(code: string, detail: string) {
    super(code, detail);
  }
}
