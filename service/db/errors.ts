import { ConflictError, type FieldError } from "../errors.js";

/**
 * Typed database errors. Driver errors are never rethrown as they are: PGlite attaches the query
 * parameters to its errors and PostgreSQL's `detail` quotes row values, so only safe fields
 * (SQLSTATE, constraint, table, column, message) are copied over.
 */
export class DbError extends Error {
  override name = "DbError";
  /** SQLSTATE when the server reported one. */
  readonly sqlState: string | undefined;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;

  constructor(message: string, fields: DbErrorFields = {}) {
    super(message);
    this.sqlState = fields.sqlState;
    this.constraint = fields.constraint;
    this.table = fields.table;
    this.column = fields.column;
  }
}

export interface DbErrorFields {
  sqlState?: string;
  constraint?: string;
  table?: string;
  column?: string;
}

/** The database cannot be reached or is shutting down/overloaded: answer 503 with Retry-After. */
export class DatabaseUnavailableError extends DbError {
  override name = "DatabaseUnavailableError";
  readonly retryAfterSeconds: number;
  /** short machine-readable cause, e.g. "ECONNREFUSED", "57P01", "connect_timeout". Never contains credentials. */
  readonly reason: string;

  constructor(reason: string, fields: DbErrorFields = {}, retryAfterSeconds = 2) {
    super(`database unavailable (${reason})`, fields);
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 23505. `constraint` is the unique constraint or unique index name (see 0001_init.sql). */
export class UniqueViolationError extends DbError {
  override name = "UniqueViolationError";
}

/** The 409 a unique constraint stands for: its code, what the client is told, and the field at fault. */
export interface UniqueConflict {
  code: string;
  detail: string;
  field: FieldError;
}

/** Whether `err` is a violation of the unique constraint (or unique index) named `constraint`. */
export function isUniqueViolation(err: unknown, constraint: string): err is UniqueViolationError {
  return err instanceof UniqueViolationError && err.constraint === constraint;
}

/**
 * Runs a write and turns a violation of one of the unique constraints named in `conflicts` into
 * the ConflictError listed for it. Other errors, and violations of unlisted constraints, pass
 * through: a constraint nobody mapped is a bug, not a client's conflict.
 */
export async function withUniqueConflicts<T>(conflicts: Readonly<Record<string, UniqueConflict>>, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const conflict = error instanceof UniqueViolationError && error.constraint !== undefined ? conflicts[error.constraint] : undefined;
    if (conflict === undefined) throw error;
    throw new ConflictError(conflict.code, conflict.detail, [conflict.field]);
  }
}

/** 23503. */
export class ForeignKeyViolationError extends DbError {
  override name = "ForeignKeyViolationError";
}

/** 23514. */
export class CheckViolationError extends DbError {
  override name = "CheckViolationError";
}

/** 40001/40P01 still failing after the retries of Db.transaction. */
export class SerializationFailureError extends DbError {
  override name = "SerializationFailureError";
}

/** COMMIT turned into ROLLBACK because a statement inside the transaction had failed. */
export class TransactionAbortedError extends DbError {
  override name = "TransactionAbortedError";
}

const UNAVAILABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "57014", // query_canceled (statement_timeout)
  "53300", // too_many_connections
  "28000", // invalid_authorization_specification
  "28P01", // invalid_password
  "3D000", // invalid_catalog_name: the database does not exist (yet)
]);

const UNAVAILABLE_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN"]);

const UNAVAILABLE_MESSAGES: Array<[RegExp, string]> = [
  [/^Connection terminated/, "connection_terminated"],
  [/^timeout exceeded when trying to connect/, "connect_timeout"],
  [/^timeout expired/, "connect_timeout"],
  [/^Query read timeout/, "query_timeout"],
  [/not queryable/, "connection_lost"],
  [/^Cannot use a pool after calling end/, "closed"],
  [/^PGlite is closed/, "closed"],
];

interface RawDriverError {
  code?: unknown;
  constraint?: unknown;
  table?: unknown;
  column?: unknown;
  message?: unknown;
  errors?: unknown;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** Converts any error thrown by a driver into a DbError subclass. DbErrors pass through. */
export function mapDbError(err: unknown): DbError {
  if (err instanceof DbError) return err;
  const raw = (typeof err === "object" && err !== null ? err : { message: String(err) }) as RawDriverError;
  const code = str(raw.code);
  const message = str(raw.message) ?? "database error";

  // Node (since 20) tries every address of "localhost" and reports an AggregateError.
  if (Array.isArray(raw.errors) && raw.errors.length > 0 && !code) return mapDbError(raw.errors[0]);

  if (code && UNAVAILABLE_ERRNOS.has(code)) return new DatabaseUnavailableError(code);
  const fields: DbErrorFields = {
    sqlState: code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined,
    constraint: str(raw.constraint),
    table: str(raw.table),
    column: str(raw.column),
  };
  const sqlState = fields.sqlState;
  if (sqlState) {
    if (sqlState.startsWith("08") || UNAVAILABLE_SQLSTATES.has(sqlState)) {
      return new DatabaseUnavailableError(sqlState, fields);
    }
    switch (sqlState) {
      case "23505":
        return new UniqueViolationError(`unique constraint ${fields.constraint ?? "?"} violated`, fields);
      case "23503":
        return new ForeignKeyViolationError(`foreign key constraint ${fields.constraint ?? "?"} violated`, fields);
      case "23514":
        return new CheckViolationError(`check constraint ${fields.constraint ?? "?"} violated`, fields);
      case "40001":
      case "40P01":
        return new SerializationFailureError(message, fields);
    }
    return new DbError(message, fields);
  }
  for (const [pattern, reason] of UNAVAILABLE_MESSAGES) {
    if (pattern.test(message)) return new DatabaseUnavailableError(reason);
  }
  return new DbError(message, fields);
}
