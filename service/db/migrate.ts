import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Db, Queryable } from "./types.js";

/** Next to this module both in the sources (vitest) and in dist/ (copied by scripts/copy-assets.mjs). */
const DEFAULT_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Any key works as long as every Keyplane process uses the same one. */
const LOCK_KEY_SQL = "select pg_advisory_xact_lock(hashtextextended('keyplane.schema_migrations', 0))";

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

export interface MigrateOptions {
  /** Directory of NNNN_name.sql files. Default: ./migrations next to this module. */
  dir?: string;
}

export interface MigrateResult {
  /** Migrations applied by this call, in order. */
  applied: Array<{ version: number; name: string }>;
  /** Highest version now recorded. */
  version: number;
}

interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  for (const entry of (await readdir(dir)).sort()) {
    if (!entry.endsWith(".sql")) continue;
    const match = FILE_PATTERN.exec(entry);
    if (!match) throw new MigrationError(`migration file ${entry} does not match NNNN_name.sql`);
    // Line endings normalized: a checkout with CRLF must not count as a changed migration.
    const sql = (await readFile(join(dir, entry), "utf8")).replace(/\r\n/g, "\n");
    const version = Number(match[1]);
    if (files.some((f) => f.version === version)) {
      throw new MigrationError(`two migration files share version ${match[1]}`);
    }
    files.push({ version, name: match[2], sql, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  return files;
}

async function lockAndEnsureTable(tx: Queryable): Promise<void> {
  // The lock comes first: concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
  await tx.query(LOCK_KEY_SQL);
  await tx.exec(`
    create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
}

/**
 * Applies pending migrations in version order, each in its own transaction, recorded in
 * schema_migrations. Every step holds a transaction-level advisory lock, so processes starting at
 * once apply each migration exactly once. Refuses to run when an applied migration's file changed
 * or disappeared (a database newer than this build).
 */
export async function migrate(db: Db, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await readMigrations(opts.dir ?? DEFAULT_DIR);

  const recorded = await db.transaction(async (tx) => {
    await lockAndEnsureTable(tx);
    return (await tx.query<{ version: number; name: string; checksum: string }>("select version, name, checksum from schema_migrations order by version")).rows;
  });
  for (const row of recorded) {
    if (!files.some((f) => f.version === row.version)) {
      throw new MigrationError(
        `database has migration ${String(row.version).padStart(4, "0")}_${row.name} which this build does not know; refusing to run an older build against a newer schema`,
      );
    }
  }

  const applied: MigrateResult["applied"] = [];
  for (const file of files) {
    const label = `${String(file.version).padStart(4, "0")}_${file.name}`;
    const didApply = await db.transaction(async (tx) => {
      await lockAndEnsureTable(tx);
      const existing = await tx.query<{ checksum: string }>("select checksum from schema_migrations where version = $1", [file.version]);
      if (existing.rows.length > 0) {
        if (existing.rows[0].checksum !== file.checksum) {
          throw new MigrationError(`migration ${label} was changed after it was applied (checksum mismatch); add a new migration instead`);
        }
        return false;
      }
      await tx.exec(file.sql);
      await tx.query("insert into schema_migrations (version, name, checksum) values ($1, $2, $3)", [file.version, file.name, file.checksum]);
      return true;
    });
    if (didApply) applied.push({ version: file.version, name: file.name });
  }
  return { applied, version: files.length > 0 ? files[files.length - 1].version : 0 };
}
