/**
 * Test databases. Every suite runs against embedded PGlite (in memory) and, when
 * TEST_DATABASE_URL is set, against PostgreSQL in a fresh database of its own
 * (kp_t_<random>), so suites running in parallel never see each other's rows.
 *
 *   for (const kind of testDatabases()) describe(kind, () => {
 *     let t: TestDb;
 *     beforeAll(async () => { t = await openTestDb(kind); }, 60_000);
 *     afterAll(() => t.cleanup());
 *   });
 */
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate, openDb, type Db, type Queryable } from "../../service/db/index.js";

export type TestDbKind = "pglite" | "pg";

export interface TestDb {
  kind: TestDbKind;
  db: Db;
  /** PostgreSQL only: URL of the suite's own database (e.g. for a spawned server or CLI). */
  url?: string;
  /** Closes the Db and, for PostgreSQL, drops the database. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface OpenTestDbOptions {
  /** Apply service/db/migrations (default true). */
  migrate?: boolean;
  /** Apply only the migrations numbered below this one: the schema a later migration meets, for testing that migration. */
  migrateBefore?: number;
}

const MIGRATIONS_DIR = fileURLToPath(new URL("../../service/db/migrations/", import.meta.url));
/**
 * The new cluster the build writes (the global setup builds dist/ first): the drivers' sources,
 * which the suites import, have no tarball beside them.
 */
export const BUILT_CLUSTER_TARBALL = fileURLToPath(new URL("../../dist/service/db/pglite-cluster.tar.gz", import.meta.url));

/** The migrations numbered below `version`, or all of them. */
async function applyMigrations(db: Db, version: number | undefined): Promise<void> {
  if (version === undefined) return void (await migrate(db));
  const dir = await mkdtemp(join(tmpdir(), "kp-migrations-"));
  try {
    for (const file of await readdir(MIGRATIONS_DIR)) {
      if (/^\d{4}_/.test(file) && Number(file.slice(0, 4)) < version) await cp(join(MIGRATIONS_DIR, file), join(dir, file));
    }
    await migrate(db, { dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function testDatabases(): TestDbKind[] {
  return process.env.TEST_DATABASE_URL ? ["pglite", "pg"] : ["pglite"];
}

function adminUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("TEST_DATABASE_URL is not set; use testDatabases() to pick drivers");
  return url;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty PostgreSQL database and returns its name and URL. */
export async function createPgTestDatabase(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  // Random lowercase hex: a safe identifier, so interpolating it into DDL is fine.
  const name = `kp_t_${randomBytes(8).toString("hex")}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

export async function openTestDb(kind: TestDbKind, opts: OpenTestDbOptions = {}): Promise<TestDb> {
  if (kind === "pglite") {
    const db = await openDb({ driver: "pglite", dataDir: "memory://", clusterTarball: BUILT_CLUSTER_TARBALL });
    if (opts.migrate ?? true) await applyMigrations(db, opts.migrateBefore);
    return { kind, db, cleanup: () => db.close() };
  }
  const database = await createPgTestDatabase();
  const db = await openDb({ driver: "pg", url: database.url, poolMax: 5 });
  const cleanup = async () => {
    await db.close();
    await database.drop();
  };
  try {
    if (opts.migrate ?? true) await applyMigrations(db, opts.migrateBefore);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { kind, db, url: database.url, cleanup };
}

/**
 * Every row of every table in the public schema as text, for leak scans ("does the plaintext
 * appear anywhere?"). Rows are cast to text; bytea columns are added once more in escape form
 * so plaintext stored as bytea shows up too.
 */
export async function dumpAllTables(db: Queryable): Promise<string> {
  const tables = await db.query<{ table_name: string }>(
    `select table_name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
  );
  const parts: string[] = [];
  for (const { table_name } of tables.rows) {
    const byteaColumns = await db.query<{ column_name: string }>(
      `select column_name from information_schema.columns
        where table_schema = 'public' and table_name = $1 and data_type = 'bytea' order by ordinal_position`,
      [table_name],
    );
    const extra = byteaColumns.rows.map((c, i) => `, encode(t.${quoteIdent(c.column_name)}, 'escape') as bytea_${i}`).join("");
    const rows = await db.query<Record<string, string | null>>(`select t::text as row${extra} from public.${quoteIdent(table_name)} t`);
    parts.push(`## ${table_name}`);
    for (const row of rows.rows)
      parts.push(
        Object.values(row)
          .filter((v) => v !== null)
          .join("\t"),
      );
  }
  return parts.join("\n");
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
