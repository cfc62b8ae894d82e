import { createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseUnavailableError, migrate, openDb, type Db, type DbError } from "../../service/db/index.js";
import { createPgTestDatabase, openTestDb, type TestDb } from "../support/db.js";

const SLOW = 60_000;

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("DatabaseUnavailableError", () => {
  it("when nothing listens on the port (ping and transaction)", async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));

    const db = await openDb({ driver: "pg", url: `postgres://kp:secret-pw@127.0.0.1:${port}/kp`, connectionTimeoutMs: 2000 });
    try {
      const err = await caught(db.ping());
      expect(err).toBeInstanceOf(DatabaseUnavailableError);
      expect(err).toMatchObject({ reason: "ECONNREFUSED", retryAfterSeconds: 2 });
      expect(String(err)).not.toContain("secret-pw");
      expect(await caught(db.transaction(async () => 1))).toBeInstanceOf(DatabaseUnavailableError);
    } finally {
      await db.close();
    }
  });

  it("when the server accepts connections but never answers", async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    const port = await listen(server);
    const db = await openDb({ driver: "pg", url: `postgres://kp@127.0.0.1:${port}/kp`, connectionTimeoutMs: 300 });
    try {
      const err = await caught(db.query("select 1"));
      expect(err).toBeInstanceOf(DatabaseUnavailableError);
      expect((err as DatabaseUnavailableError).reason).toMatch(/timeout|connection_terminated/);
    } finally {
      await db.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it(
    "when the embedded database is closed",
    async () => {
      const db = await openDb({ driver: "pglite", dataDir: "memory://" });
      await db.close();
      expect(await caught(db.ping())).toMatchObject({ name: "DatabaseUnavailableError", reason: "closed" });
    },
    SLOW,
  );
});

describe.runIf(process.env.TEST_DATABASE_URL)("PostgreSQL resilience", () => {
  let t: TestDb;
  let admin: pg.Client;
  beforeAll(async () => {
    t = await openTestDb("pg");
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
  }, SLOW);
  afterAll(async () => {
    await admin?.end();
    await t?.cleanup();
  });

  const terminateSessions = (database: string) =>
    admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [database]);
  const databaseName = () => new URL(t.url!).pathname.slice(1);

  it("survives the server dropping idle pooled connections (restart)", async () => {
    const poolErrors: Error[] = [];
    const db = await openDb({ driver: "pg", url: t.url!, onPoolError: (err) => poolErrors.push(err) });
    try {
      await Promise.all([db.query("select pg_sleep(0.05)"), db.query("select pg_sleep(0.05)")]);
      await terminateSessions(databaseName());
      await sleep(100);
      expect(poolErrors.length).toBeGreaterThan(0);
      expect(poolErrors[0]).toBeInstanceOf(DatabaseUnavailableError);
      expect((poolErrors[0] as DatabaseUnavailableError).reason).toBe("57P01");
      await expect(db.query<{ n: number }>("select 1 as n")).resolves.toMatchObject({ rows: [{ n: 1 }] });
      await expect(db.transaction(async (tx) => (await tx.query("select 2 as n")).rows)).resolves.toEqual([{ n: 2 }]);
    } finally {
      await db.close();
    }
  });

  it("reports a connection lost in the middle of a transaction and recovers", async () => {
    const db = await openDb({ driver: "pg", url: t.url!, poolMax: 2 });
    try {
      const err = await caught(
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ pid: number }>("select pg_backend_pid() as pid");
          await admin.query("select pg_terminate_backend($1)", [rows[0].pid]);
          await sleep(50);
          await tx.query("select 1");
        }),
      );
      expect(err).toBeInstanceOf(DatabaseUnavailableError);
      // The broken connection was discarded, not returned to the pool.
      for (let i = 0; i < 4; i++) await db.transaction((tx) => tx.query("select 1"));
    } finally {
      await db.close();
    }
  });

  it("maps statement_timeout to DatabaseUnavailableError", async () => {
    const db = await openDb({ driver: "pg", url: t.url!, statementTimeoutMs: 200 });
    try {
      const err = await caught(db.query("select pg_sleep(2)"));
      expect(err).toBeInstanceOf(DatabaseUnavailableError);
      expect((err as DbError).sqlState).toBe("57014");
    } finally {
      await db.close();
    }
  });

  it(
    "lets several processes migrate a fresh database at once",
    async () => {
      const fresh = await createPgTestDatabase();
      const dbs: Db[] = [];
      try {
        for (let i = 0; i < 3; i++) dbs.push(await openDb({ driver: "pg", url: fresh.url, poolMax: 2 }));
        const results = await Promise.all(dbs.map((db) => migrate(db)));
        const latest = results[0].version;
        expect(latest).toBeGreaterThan(0);
        // Each step holds the lock for one migration, so the processes may share the work, but every
        // migration was applied exactly once (numbered 1…latest).
        const applied = results.flatMap((r) => r.applied.map((m) => m.version)).sort((a, b) => a - b);
        expect(applied).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
        const rows = await dbs[0].query<{ n: number }>("select count(*)::int as n from schema_migrations");
        expect(rows.rows[0].n).toBe(latest);
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
        await fresh.drop();
      }
    },
    SLOW,
  );
});
