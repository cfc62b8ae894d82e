import type { Redacted } from "../crypto/redacted.js";
import type { ChangeFeed } from "./change-feed.js";

/**
 * Values returned by both drivers are normalized to the same JS types: bytea → Buffer,
 * int8/bigint → number (bigint beyond 2^53), timestamptz → Date, jsonb → parsed value,
 * text[] → string[].
 * Parameters: pass jsonb values as JSON.stringify(value) — node-postgres turns JS arrays into
 * PostgreSQL array literals, PGlite does not; a JSON string behaves the same on both.
 */
export interface QueryResult<T> {
  rows: T[];
  /** rows returned by SELECT/RETURNING, or rows affected by INSERT/UPDATE/DELETE. */
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Hot-path statements only: PostgreSQL keeps a named statement parsed and planned per
   * connection. The name must always go with the same SQL text. PGlite ignores it.
   */
  name?: string;
}

export interface Queryable {
  /** One statement with $1… placeholders. Values are never interpolated into SQL text. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<QueryResult<T>>;
  /** Several statements without parameters: static SQL scripts only (migrations, test setup). */
  exec(sql: string): Promise<void>;
  /** The database these statements run on: the Db itself, or the Db a transaction belongs to. */
  readonly database: Db;
}

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  /** Default: the server default (read committed). */
  isolation?: IsolationLevel;
  readOnly?: boolean;
  /** Transaction-local settings applied right after BEGIN, e.g. {"keyplane.organization_id": id}. */
  settings?: Readonly<Record<string, string>>;
  /** Retries after serialization failure/deadlock (40001/40P01). Default 3. */
  maxRetries?: number;
}

export type DriverName = "pg" | "pglite";

export interface Db extends Queryable {
  readonly driver: DriverName;
  /**
   * Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it throws. On a
   * serialization failure or deadlock the whole callback runs again (so keep side effects
   * outside the database out of it). Inside `fn`, use only `tx`: calling the Db itself throws.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /**
   * From now on every statement runs in the async context's organization scope, as keyplane_app
   * or, for the '*' scope, keyplane_platform (scope.ts), so row-level security (migrations 0003,
   * 0004) applies. Call after migrations, which need the owner's rights.
   */
  enforceOrganizationScope(): void;
  /**
   * Committed changes by organization, for caches: this process's transactions at once, and on
   * PostgreSQL every process's writes through LISTEN (migration 0006).
   */
  readonly changes: ChangeFeed;
  /** Resolves when the database answers `select 1`; throws DatabaseUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PgDbOptions {
  driver: "pg";
  url: string | Redacted<string>;
  /** Pool size. Default 10. */
  poolMax?: number;
  /** Server-side statement_timeout. Default 15000 ms. */
  statementTimeoutMs?: number;
  /** Time to get a connection (new or from the pool) before DatabaseUnavailableError. Default 5000 ms. */
  connectionTimeoutMs?: number;
  /** Idle connections are closed after this. Default 30000 ms. */
  idleTimeoutMs?: number;
  applicationName?: string;
  /** Errors of idle pooled connections (e.g. the server restarted). They are already handled; this is for logging. */
  onPoolError?: (err: Error) => void;
}

export interface PgliteDbOptions {
  driver: "pglite";
  /** Directory of the embedded database, or "memory://" (tests). */
  dataDir: string;
  /**
   * A new cluster as a tarball, loaded into a data directory that has none instead of running
   * initdb; by default the one the build writes beside the compiled driver. Without one, PGlite
   * runs initdb.
   */
  clusterTarball?: string;
}

export type DbOptions = PgDbOptions | PgliteDbOptions;
