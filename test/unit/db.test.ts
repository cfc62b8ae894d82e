import { readdirSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CheckViolationError,
  DbError,
  ForeignKeyViolationError,
  MigrationError,
  SerializationFailureError,
  TransactionAbortedError,
  UniqueViolationError,
  migrate,
  openDb,
  setLocal,
  type Db,
  type Queryable,
} from "../../service/db/index.js";
import { BUILT_CLUSTER_TARBALL, dumpAllTables, openTestDb, testDatabases, type TestDb } from "../support/db.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../../service/db/migrations/", import.meta.url));
// What this build ships, so these tests hold as migrations are added.
const SHIPPED = readdirSync(MIGRATIONS_DIR)
  .filter((f) => /^\d{4}_.+\.sql$/.test(f))
  .sort()
  .map((f) => ({ version: Number(f.slice(0, 4)), name: f.slice(5, -4) }));
const LATEST = SHIPPED[SHIPPED.length - 1].version;
const NEXT = String(LATEST + 1).padStart(4, "0");
const SLOW = 60_000;

let counter = 0;
const id = (prefix: string) => `${prefix}_${Date.now().toString(36)}${(counter++).toString(36).padStart(6, "0")}`;

async function insertOrg(q: Queryable, slug = id("slug")): Promise<string> {
  const orgId = id("org");
  await q.query("insert into organizations (id, name, slug) values ($1, $2, $3)", [orgId, "Acme", slug]);
  return orgId;
}

async function insertCredential(q: Queryable, orgId: string, fields: { projectId?: string | null; name?: string; isDefault?: boolean } = {}): Promise<string> {
  const credId = id("cred");
  await q.query(
    `insert into credentials (id, organization_id, project_id, provider, name, key_hint, env_var, is_default)
     values ($1, $2, $3, 'openai', $4, 'sk-…abcd', 'OPENAI_API_KEY', $5)`,
    [credId, orgId, fields.projectId ?? null, fields.name ?? credId, fields.isDefault ?? false],
  );
  return credId;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

for (const kind of testDatabases()) {
  describe(`database (${kind})`, () => {
    let t: TestDb;
    let db: Db;
    beforeAll(async () => {
      t = await openTestDb(kind);
      db = t.db;
    }, SLOW);
    afterAll(() => t?.cleanup());

    describe("migrations", () => {
      it("are applied once and a second run is a no-op", async () => {
        expect(db.driver).toBe(kind);
        expect(await migrate(db)).toEqual({ applied: [], version: LATEST });
        const rows = await db.query<{ version: number; name: string; checksum: string }>(
          "select version, name, checksum from schema_migrations order by version",
        );
        expect(rows.rows).toEqual(SHIPPED.map((m) => ({ ...m, checksum: expect.stringMatching(/^[0-9a-f]{64}$/) })));
        const tables = await db.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public' order by 1");
        expect(tables.rows.map((r) => r.table_name)).toEqual([
          "api_tokens",
          "audit_chain_heads",
          "audit_events",
          "audit_keys",
          "audit_legacy_heads",
          "credential_usage_daily",
          "credential_versions",
          "credentials",
          "idempotency_keys",
          "identity_bindings",
          "model_aliases",
          "organizations",
          "projects",
          "schema_migrations",
        ]);
      });

      it("refuse an applied migration whose file changed", async () => {
        const dir = await mkdtemp(join(tmpdir(), "kp-mig-"));
        try {
          await cp(MIGRATIONS_DIR, dir, { recursive: true });
          const file = join(dir, "0001_init.sql");
          await writeFile(file, `${await readFile(file, "utf8")}\n-- edited\n`);
          const err = await caught(migrate(db, { dir }));
          expect(err).toBeInstanceOf(MigrationError);
          expect(String(err)).toContain("0001_init was changed after it was applied");
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("ignores CRLF line endings when comparing checksums", async () => {
        const dir = await mkdtemp(join(tmpdir(), "kp-mig-"));
        try {
          await cp(MIGRATIONS_DIR, dir, { recursive: true });
          const file = join(dir, "0001_init.sql");
          await writeFile(file, (await readFile(file, "utf8")).replace(/\n/g, "\r\n"));
          expect(await migrate(db, { dir })).toEqual({ applied: [], version: LATEST });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("apply a new file in order and refuse a database newer than the build", async () => {
        const dir = await mkdtemp(join(tmpdir(), "kp-mig-"));
        try {
          await cp(MIGRATIONS_DIR, dir, { recursive: true });
          await writeFile(join(dir, `${NEXT}_probe.sql`), "create table migration_probe (id int primary key);");
          expect(await migrate(db, { dir })).toEqual({ applied: [{ version: LATEST + 1, name: "probe" }], version: LATEST + 1 });
          const err = await caught(migrate(db));
          expect(err).toBeInstanceOf(MigrationError);
          expect(String(err)).toContain(`${NEXT}_probe which this build does not know`);
        } finally {
          await db.exec(`drop table if exists migration_probe; delete from schema_migrations where version = ${LATEST + 1};`);
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("roll back a failing migration completely", async () => {
        const dir = await mkdtemp(join(tmpdir(), "kp-mig-"));
        try {
          await cp(MIGRATIONS_DIR, dir, { recursive: true });
          await writeFile(join(dir, `${NEXT}_broken.sql`), "create table half_done (id int);\nselect no_such_function();");
          expect(await caught(migrate(db, { dir }))).toBeInstanceOf(DbError);
          const left = await db.query("select 1 from information_schema.tables where table_name = 'half_done'");
          expect(left.rowCount).toBe(0);
          expect((await db.query("select 1 from schema_migrations where version = $1", [LATEST + 1])).rowCount).toBe(0);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    });

    describe("transactions", () => {
      it("commit and return the callback's value", async () => {
        const orgId = await db.transaction(async (tx) => insertOrg(tx));
        expect((await db.query("select id from organizations where id = $1", [orgId])).rows).toEqual([{ id: orgId }]);
      });

      it("roll back everything when the callback throws, rethrowing the same error", async () => {
        const slug = id("rollback");
        const boom = new Error("boom");
        const err = await caught(
          db.transaction(async (tx) => {
            const orgId = await insertOrg(tx, slug);
            await insertCredential(tx, orgId);
            throw boom;
          }),
        );
        expect(err).toBe(boom);
        expect((await db.query("select 1 from organizations where slug = $1", [slug])).rowCount).toBe(0);
      });

      it("refuse to commit when a statement inside failed and the callback swallowed it", async () => {
        const slug = id("swallow");
        const err = await caught(
          db.transaction(async (tx) => {
            await insertOrg(tx, slug);
            await tx.query("select no_such_column from organizations").catch(() => undefined);
          }),
        );
        expect(err).toBeInstanceOf(TransactionAbortedError);
        expect((await db.query("select 1 from organizations where slug = $1", [slug])).rowCount).toBe(0);
      });

      it("apply isolation, read-only and transaction-local settings", async () => {
        const orgId = id("org");
        const inside = await db.transaction(
          async (tx) => {
            const iso = await tx.query<{ transaction_isolation: string }>("show transaction_isolation");
            const scope = await tx.query<{ v: string }>("select current_setting('keyplane.organization_id', true) as v");
            await setLocal(tx, "keyplane.organization_id", `${orgId}-2`);
            const changed = await tx.query<{ v: string }>("select current_setting('keyplane.organization_id', true) as v");
            return [iso.rows[0].transaction_isolation, scope.rows[0].v, changed.rows[0].v];
          },
          { isolation: "serializable", settings: { "keyplane.organization_id": orgId } },
        );
        expect(inside).toEqual(["serializable", orgId, `${orgId}-2`]);
        // SET LOCAL ends with the transaction (same PGlite connection / pooled connection).
        const after = await db.query<{ v: string | null }>("select current_setting('keyplane.organization_id', true) as v");
        expect([null, ""]).toContain(after.rows[0].v);

        const err = await caught(db.transaction((tx) => insertOrg(tx), { readOnly: true }));
        expect(err).toBeInstanceOf(DbError);
        expect((err as DbError).sqlState).toBe("25006");
      });

      it("fail loudly when the callback uses the Db instead of tx", async () => {
        const err = await caught(db.transaction(async () => db.query("select 1")));
        expect(err).toBeInstanceOf(DbError);
        expect(String(err)).toContain("use the tx argument");
        await expect(db.transaction(async () => db.transaction(async () => 1))).rejects.toThrow(/use the tx argument/);
        // Work started inside a transaction may use the Db once the transaction is over.
        let later: Promise<unknown> | undefined;
        await db.transaction(async () => {
          later = sleep(10).then(() => db.query("select 1"));
        });
        await expect(later).resolves.toMatchObject({ rowCount: 1 });
      });

      it(
        "keep concurrent read-modify-write transactions from losing updates",
        async () => {
          const orgId = await insertOrg(db);
          const workers = 4;
          const events: string[] = [];
          await Promise.all(
            Array.from({ length: workers }, (_, w) =>
              db.transaction(
                async (tx) => {
                  events.push(`start ${w}`);
                  const row = await tx.query<{ version: number }>("select version from organizations where id = $1", [orgId]);
                  await sleep(15);
                  await tx.query("update organizations set version = $2 where id = $1", [orgId, row.rows[0].version + 1]);
                  events.push(`end ${w}`);
                },
                // PostgreSQL: serialization failures are retried; PGlite: transactions never overlap.
                { isolation: "serializable", maxRetries: 8 },
              ),
            ),
          );
          const final = await db.query<{ version: number }>("select version from organizations where id = $1", [orgId]);
          expect(final.rows[0].version).toBe(1 + workers);
          if (kind === "pglite") {
            for (let i = 0; i < events.length; i += 2) {
              expect(events[i + 1]).toBe(events[i].replace("start", "end"));
            }
          }
        },
        SLOW,
      );

      it.runIf(kind === "pg")(
        "surface SerializationFailureError once retries are exhausted",
        async () => {
          const orgId = await insertOrg(db);
          const results = await Promise.allSettled(
            [0, 1].map(() =>
              db.transaction(
                async (tx) => {
                  await tx.query("select version from organizations where id = $1", [orgId]);
                  await sleep(30);
                  await tx.query("update organizations set version = version + 1 where id = $1", [orgId]);
                },
                { isolation: "serializable", maxRetries: 0 },
              ),
            ),
          );
          const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason);
          expect(failures).toHaveLength(1);
          expect(failures[0]).toBeInstanceOf(SerializationFailureError);
          expect((failures[0] as SerializationFailureError).sqlState).toBe("40001");
        },
        SLOW,
      );
    });

    describe("errors and types", () => {
      it("types unique violations with the constraint or index name", async () => {
        const slug = id("dup");
        await insertOrg(db, slug);
        const err = await caught(insertOrg(db, slug));
        expect(err).toBeInstanceOf(UniqueViolationError);
        expect((err as UniqueViolationError).constraint).toBe("organizations_slug_key");
        expect((err as UniqueViolationError).sqlState).toBe("23505");

        const orgId = await insertOrg(db);
        await insertCredential(db, orgId, { name: "main" });
        const dupName = await caught(db.transaction((tx) => insertCredential(tx, orgId, { name: "main" })));
        expect(dupName).toBeInstanceOf(UniqueViolationError);
        expect((dupName as UniqueViolationError).constraint).toBe("credentials_name_key");

        await insertCredential(db, orgId, { isDefault: true });
        const dupDefault = await caught(insertCredential(db, orgId, { isDefault: true }));
        expect((dupDefault as UniqueViolationError).constraint).toBe("credentials_default_key");
        // A project-level default for the same provider is a different scope.
        const projectId = id("prj");
        await db.query("insert into projects (id, organization_id, name) values ($1, $2, 'p')", [projectId, orgId]);
        await insertCredential(db, orgId, { projectId, isDefault: true, name: "main" });
      });

      it("never carries query parameters or row values in errors", async () => {
        const secret = "sk-should-never-appear-in-an-error-0001";
        const slug = id("leak");
        await insertOrg(db, slug);
        const err = await caught(db.query("insert into organizations (id, name, slug) values ($1, $2, $3)", [id("org"), secret, slug]));
        expect(err).toBeInstanceOf(UniqueViolationError);
        const rendered = `${String(err)} ${JSON.stringify(err)} ${JSON.stringify(Object.entries(err as object))}`;
        expect(rendered).not.toContain(secret);
        expect(rendered).not.toContain(slug);
        expect(err).not.toHaveProperty("params");
        expect(err).not.toHaveProperty("detail");
      });

      it("enforces the schema's checks and foreign keys", async () => {
        const orgA = await insertOrg(db);
        const orgB = await insertOrg(db);
        const token = (role: string, org: string | null) =>
          db.query("insert into api_tokens (id, organization_id, role, name, token_hash) values ($1, $2, $3, 't', $4)", [
            id("tok"),
            org,
            role,
            Buffer.from(id("hash")),
          ]);
        expect(await caught(token("platform_admin", orgA))).toMatchObject({ constraint: "api_tokens_scope_check" });
        expect(await caught(token("admin", null))).toMatchObject({ constraint: "api_tokens_scope_check" });
        expect(await caught(token("owner", orgA))).toBeInstanceOf(CheckViolationError);
        await token("platform_admin", null);
        await token("resolver", orgA);

        const projectB = id("prj");
        await db.query("insert into projects (id, organization_id, name) values ($1, $2, 'b')", [projectB, orgB]);
        const crossOrg = await caught(insertCredential(db, orgA, { projectId: projectB }));
        expect(crossOrg).toBeInstanceOf(ForeignKeyViolationError);
        expect((crossOrg as ForeignKeyViolationError).constraint).toBe("credentials_project_fk");

        const credId = await insertCredential(db, orgA);
        const version = (org: string, material: boolean) =>
          db.query(
            `insert into credential_versions (credential_id, organization_id, key_version, key_hint, ciphertext, nonce, wrapped_dek, master_key_id)
             values ($1, $2, 1, 'h', $3, $4, $5, $6)`,
            material ? [credId, org, Buffer.alloc(20), Buffer.alloc(12), Buffer.alloc(60), "mk"] : [credId, org, null, null, null, null],
          );
        expect(await caught(version(orgA, false))).toMatchObject({ constraint: "credential_versions_material_check" });
        expect(await caught(version(orgB, true))).toBeInstanceOf(ForeignKeyViolationError);
        await version(orgA, true);

        const bad = await caught(db.query("update credentials set type = 'password', category = 'x' where id = $1", [credId]));
        expect(bad).toBeInstanceOf(CheckViolationError);
      });

      it("keeps audit events append-only and outside organization deletion", async () => {
        const orgId = await insertOrg(db);
        const credId = await insertCredential(db, orgId);
        const evtId = id("evt");
        await db.query(
          `insert into audit_events (id, chain_key, organization_id, seq, action, outcome, hash, hash_alg)
           values ($1, $2, $3, 1, 'credential.create', 'success', 'h1', 'sha256')`,
          [evtId, `org:${orgId}`, orgId],
        );
        expect(await caught(db.query("update audit_events set action = 'x' where id = $1", [evtId]))).toBeInstanceOf(DbError);
        expect(await caught(db.query("delete from audit_events where id = $1", [evtId]))).toBeInstanceOf(DbError);
        expect(
          await caught(
            db.query(
              `insert into audit_events (id, chain_key, organization_id, seq, action, outcome, hash, hash_alg)
               values ($1, 'org:someone-else', $2, 2, 'x', 'success', 'h2', 'sha256')`,
              [id("evt"), orgId],
            ),
          ),
        ).toMatchObject({ constraint: "audit_events_chain_key_check" });
        expect(
          await caught(
            db.query(
              `insert into audit_events (id, chain_key, organization_id, seq, action, outcome, hash, hash_alg)
               values ($1, $2, $3, 1, 'x', 'success', 'h2', 'sha256')`,
              [id("evt"), `org:${orgId}`, orgId],
            ),
          ),
        ).toMatchObject({ constraint: "audit_events_chain_seq_key" });

        await db.query("delete from organizations where id = $1", [orgId]);
        expect((await db.query("select 1 from credentials where id = $1", [credId])).rowCount).toBe(0);
        expect((await db.query("select 1 from audit_events where id = $1", [evtId])).rowCount).toBe(1);
      });

      it("returns the same JS types on both drivers", async () => {
        const orgId = await insertOrg(db);
        const credId = id("cred");
        const now = new Date("2030-01-02T03:04:05.678Z");
        await db.query(
          `insert into credentials (id, organization_id, provider, name, key_hint, env_var, settings, secret_field_names, rotated_at)
           values ($1, $2, 'bedrock', 'aws', 'AKIA…WXYZ', 'AWS_ACCESS_KEY_ID', $3, $4, $5)`,
          [credId, orgId, JSON.stringify({ region: "eu-west-1" }), ["access_key_id", "secret_access_key"], now],
        );
        const row = await db.query<Record<string, unknown>>(
          `select settings, secret_field_names, rotated_at, is_default, key_version,
                  count(*) over () as total, '\\x00ff'::bytea as bytes, 9007199254740993::bigint as big
             from credentials where id = $1`,
          [credId],
        );
        expect(row.rows[0]).toEqual({
          settings: { region: "eu-west-1" },
          secret_field_names: ["access_key_id", "secret_access_key"],
          rotated_at: now,
          is_default: false,
          key_version: 1,
          total: 1,
          bytes: Buffer.from([0, 255]),
          big: 9007199254740993n,
        });
        expect(Buffer.isBuffer(row.rows[0].bytes)).toBe(true);
        const updated = await db.query("update credentials set active = false where organization_id = $1", [orgId]);
        expect(updated.rowCount).toBe(1);
      });

      it("dumps every table as text for leak scans, bytea included", async () => {
        const orgId = await insertOrg(db, id("dump"));
        const credId = await insertCredential(db, orgId);
        await db.query(
          `insert into credential_versions (credential_id, organization_id, key_version, key_hint, ciphertext, nonce, wrapped_dek, master_key_id)
           values ($1, $2, 1, 'h', $3, $4, $5, 'mk')`,
          [credId, orgId, Buffer.from("plain-text-stored-by-mistake"), Buffer.alloc(12), Buffer.alloc(60)],
        );
        const dump = await dumpAllTables(db);
        expect(dump).toContain("## credential_versions");
        expect(dump).toContain(orgId);
        expect(dump).toContain("plain-text-stored-by-mistake");
        expect(dump).toContain("## schema_migrations");
      });
    });
  });
}

describe("embedded database on disk", () => {
  // Every cluster loaded from the build's tarball carries the system identifier initdb gave it; a
  // cluster initdb makes gets its own.
  const systemIdentifier = async (db: Queryable) =>
    (await db.query<{ id: string }>("select system_identifier::text as id from pg_control_system()")).rows[0].id;
  let tarballIdentifier: string;
  // The build's tarball stamped as made by another PGlite, whose PostgreSQL may differ.
  const staleTarball = join(tmpdir(), `kp-stale-cluster-${process.pid}.tar.gz`);
  beforeAll(async () => {
    const fromTarball = await openDb({ driver: "pglite", dataDir: "memory://", clusterTarball: BUILT_CLUSTER_TARBALL });
    tarballIdentifier = await systemIdentifier(fromTarball);
    await fromTarball.close();
    await cp(BUILT_CLUSTER_TARBALL, staleTarball);
    await writeFile(`${staleTarball}.version`, "0.0.1");
  }, SLOW);
  afterAll(() => Promise.all([rm(staleTarball, { force: true }), rm(`${staleTarball}.version`, { force: true })]));

  // A new data directory gets its cluster from the build's tarball, or from initdb without one.
  it.each([
    ["from the build's cluster tarball", BUILT_CLUSTER_TARBALL, true],
    ["through initdb when there is no tarball", "/nonexistent/pglite-cluster.tar.gz", false],
    ["through initdb when another PGlite made the tarball", staleTarball, false],
  ])(
    "persists across restarts in its data directory (0700), created %s",
    async (_how, clusterTarball, fromTarball) => {
      const home = await mkdtemp(join(tmpdir(), "kp-pglite-"));
      const dataDir = join(home, "data");
      try {
        const first = await openDb({ driver: "pglite", dataDir, clusterTarball });
        expect((await stat(join(dataDir, "PG_VERSION"))).isFile()).toBe(true);
        expect((await systemIdentifier(first)) === tarballIdentifier).toBe(fromTarball);
        expect((await migrate(first)).applied).toEqual(SHIPPED);
        const orgId = await insertOrg(first, "persisted");
        await first.close();
        await first.close();

        // A lock left by a crashed process (pid no longer running) does not block the next start.
        await writeFile(`${dataDir}.lock`, "2147483646\n");
        // Reopened, the directory's own cluster is used: the tarball is only for a new one.
        const second = await openDb({ driver: "pglite", dataDir, clusterTarball });
        try {
          // A second opener would corrupt the directory: refused while the first is open.
          const err = await caught(openDb({ driver: "pglite", dataDir }));
          expect(err).toBeInstanceOf(DbError);
          expect(String(err)).toContain(`is in use by process ${process.pid}`);
          expect((await migrate(second)).applied).toEqual([]);
          expect((await second.query("select slug from organizations where id = $1", [orgId])).rows).toEqual([{ slug: "persisted" }]);
        } finally {
          await second.close();
        }
        expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
        await expect(stat(`${dataDir}.lock`)).rejects.toThrow(/ENOENT/);
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});
