import { openPgDb } from "./pg-driver.js";
import { openPgliteDb } from "./pglite-driver.js";
import type { Db, DbOptions } from "./types.js";

export * from "./errors.js";
export * from "./types.js";
export { migrate, MigrationError } from "./migrate.js";
export { inTransaction, setLocal } from "./transaction.js";
export { ALL_ORGANIZATIONS, withOrganizationScope } from "./scope.js";
export { ChangeFeed } from "./change-feed.js";
export { StatementParameters } from "./parameters.js";

/**
 * Opens PostgreSQL (a pool; connections are made lazily, call ping() to check) or the embedded
 * PGlite database. `loadConfig().database` is a DbOptions.
 */
export async function openDb(opts: DbOptions): Promise<Db> {
  return opts.driver === "pg" ? openPgDb(opts) : openPgliteDb(opts);
}
