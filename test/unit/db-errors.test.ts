import { describe, expect, it } from "vitest";
import {
  CheckViolationError,
  DatabaseUnavailableError,
  DbError,
  ForeignKeyViolationError,
  SerializationFailureError,
  UniqueViolationError,
  isUniqueViolation,
  mapDbError,
  withUniqueConflicts,
} from "../../service/db/index.js";
import { ConflictError } from "../../service/errors.js";

const pgError = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`server says ${code}`), { code, ...extra });

describe("mapDbError", () => {
  it.each([
    ["57P01", "admin_shutdown"],
    ["57P02", "crash_shutdown"],
    ["57P03", "cannot_connect_now"],
    ["08006", "connection_failure"],
    ["08001", "unable to connect"],
    ["53300", "too_many_connections"],
    ["3D000", "database does not exist"],
  ])("maps SQLSTATE %s (%s) to DatabaseUnavailableError", (code) => {
    const err = mapDbError(pgError(code));
    expect(err).toBeInstanceOf(DatabaseUnavailableError);
    expect(err).toMatchObject({ reason: code, sqlState: code, retryAfterSeconds: 2 });
  });

  it.each([
    ["connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"],
    ["read ECONNRESET", "ECONNRESET"],
    ["getaddrinfo ENOTFOUND db", "ENOTFOUND"],
  ])("maps socket errors (%s)", (message, code) => {
    expect(mapDbError(Object.assign(new Error(message), { code }))).toMatchObject({
      name: "DatabaseUnavailableError",
      reason: code,
    });
  });

  it.each([
    ["Connection terminated unexpectedly", "connection_terminated"],
    ["Connection terminated due to connection timeout", "connection_terminated"],
    ["timeout exceeded when trying to connect", "connect_timeout"],
    ["Query read timeout", "query_timeout"],
    ["Client has encountered a connection error and is not queryable", "connection_lost"],
    ["Cannot use a pool after calling end on the pool", "closed"],
  ])("maps driver message %j", (message, reason) => {
    expect(mapDbError(new Error(message))).toMatchObject({ name: "DatabaseUnavailableError", reason });
  });

  it("unwraps the AggregateError Node reports for multi-address hosts", () => {
    const aggregate = new AggregateError([Object.assign(new Error("connect ECONNREFUSED ::1:5432"), { code: "ECONNREFUSED" })]);
    expect(mapDbError(aggregate)).toMatchObject({ name: "DatabaseUnavailableError", reason: "ECONNREFUSED" });
  });

  it("types constraint violations and serialization failures", () => {
    const unique = mapDbError(pgError("23505", { constraint: "organizations_slug_key", table: "organizations", detail: "Key (slug)=(acme)" }));
    expect(unique).toBeInstanceOf(UniqueViolationError);
    expect(unique).toMatchObject({ constraint: "organizations_slug_key", table: "organizations" });
    expect(unique.message).not.toContain("acme");
    expect(mapDbError(pgError("23503", { constraint: "fk" }))).toBeInstanceOf(ForeignKeyViolationError);
    expect(mapDbError(pgError("23514", { constraint: "ck" }))).toBeInstanceOf(CheckViolationError);
    expect(mapDbError(pgError("40001"))).toBeInstanceOf(SerializationFailureError);
    expect(mapDbError(pgError("40P01"))).toBeInstanceOf(SerializationFailureError);
  });

  it("keeps other errors as DbError without driver extras, and passes DbErrors through", () => {
    const raw = pgError("42703", { params: ["sk-secret"], detail: "row (sk-secret)" });
    const err = mapDbError(raw);
    expect(err.constructor).toBe(DbError);
    expect(err).toMatchObject({ sqlState: "42703", message: "server says 42703" });
    expect(JSON.stringify(err)).not.toContain("sk-secret");
    expect(mapDbError(err)).toBe(err);
  });
});

describe("withUniqueConflicts", () => {
  const conflicts = {
    organizations_slug_key: {
      code: "slug_conflict",
      detail: "An organization with this slug already exists.",
      field: { path: "body.slug", message: "slugs are unique" },
    },
  };
  const violation = (constraint: string) => new UniqueViolationError(`unique constraint ${constraint} violated`, { sqlState: "23505", constraint });

  it("turns a violation of a listed constraint into its ConflictError", async () => {
    const err = await withUniqueConflicts(conflicts, () => Promise.reject(violation("organizations_slug_key"))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({
      code: "slug_conflict",
      message: "An organization with this slug already exists.",
      errors: [{ path: "body.slug", message: "slugs are unique" }],
    });
  });

  it("passes results, other errors and violations of unlisted constraints through", async () => {
    expect(await withUniqueConflicts(conflicts, () => Promise.resolve(7))).toBe(7);
    const unlisted = violation("projects_organization_name_key");
    await expect(withUniqueConflicts(conflicts, () => Promise.reject(unlisted))).rejects.toBe(unlisted);
    const other = new Error("boom");
    await expect(withUniqueConflicts(conflicts, () => Promise.reject(other))).rejects.toBe(other);
  });

  it("isUniqueViolation names one constraint", () => {
    expect(isUniqueViolation(violation("api_tokens_token_hash_key"), "api_tokens_token_hash_key")).toBe(true);
    expect(isUniqueViolation(violation("organizations_slug_key"), "api_tokens_token_hash_key")).toBe(false);
    expect(isUniqueViolation(new Error("api_tokens_token_hash_key"), "api_tokens_token_hash_key")).toBe(false);
  });
});
