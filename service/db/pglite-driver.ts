import { existsSync, unlinkSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite, TransactionAbortedError as PgliteTransactionAbortedError, types as pgliteTypes } from "@electric-sql/pglite";
import type { Results, Transaction } from "@electric-sql/pglite";
import { DbError, TransactionAbortedError, mapDbError } from "./errors.js";
import { TransactionScope, applyTransactionOptions, withSerializationRetries } from "./transaction.js";
import type { Db, PgliteDbOptions, QueryResult, Queryable, TransactionOptions } from "./types.js";
import { currentOrganizationScope, roleForScope, SCOPE_ROLES_USABLE_SQL } from "./scope.js";
import { ChangeFeed } from "./change-feed.js";

/** bytea arrives as "\x…" hex text; return Buffer like the pg driver instead of PGlite's Uint8Array. */
function parseBytea(text: string): Buffer {
  return Buffer.from(text.slice(2), "hex");
}

function normalize<T>(result: Results<T>): QueryResult<T> {
  return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
}

type Target = Pick<PGlite, "query" | "exec"> | Transaction;

async function run<T>(target: Target, sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
  try {
    return normalize(await target.query<T>(sql, params as unknown[] | undefined));
  } catch (err) {
    throw mapDbError(err);
  }
}

async function runScript(target: Target, sql: string): Promise<void> {
  try {
    await target.exec(sql);
  } catch (err) {
    throw mapDbError(err);
  }
}

/**
 * PGlite is one PostgreSQL backend in WASM. Its transaction() holds an internal lock for the whole
 * callback and its query()/exec() wait for that lock, so concurrent requests never interleave
 * statements inside someone else's transaction (verified against 0.5.x; covered by db tests).
 */
class PgliteDb implements Db {
  readonly driver = "pglite" as const;
  readonly #pg: PGlite;
  readonly #scope = new TransactionScope();
  readonly #releaseLock: () => Promise<void>;

  constructor(pglite: PGlite, releaseLock: () => Promise<void>) {
    this.#pg = pglite;
    this.#releaseLock = releaseLock;
  }

  #enforceScope = false;
  // One process owns the embedded database (lockDataDir), so its own commits are all the changes.
  readonly changes = new ChangeFeed(true);
  #rolesUsable: Promise<boolean> | undefined;

  get database(): Db {
    return this;
  }

  enforceOrganizationScope(): void {
    this.#enforceScope = true;
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    this.#scope.assertOutside(this, "Db.query");
    if (!this.#enforceScope) return run<T>(this.#pg, sql, params);
    return this.#scoped((raw) => run<T>(raw, sql, params));
  }

  exec(sql: string): Promise<void> {
    this.#scope.assertOutside(this, "Db.exec");
    if (!this.#enforceScope) return runScript(this.#pg, sql);
    return this.#scoped((raw) => runScript(raw, sql));
  }

  /**
   * One connection serves every request, so role and scope are set transaction-locally, in the
   * same locked transaction as the statement: another request can never run in between.
   */
  async #scoped<T>(fn: (raw: Transaction) => Promise<T>): Promise<T> {
    await this.#scopeRolesUsable();
    let thrownByCallback: { error: unknown } | undefined;
    try {
      return await this.#pg.transaction(async (raw) => {
        try {
          await this.#applyScope(raw);
          return await fn(raw);
        } catch (error) {
          thrownByCallback = { error };
          throw error;
        }
      });
    } catch (err) {
      if (thrownByCallback && err === thrownByCallback.error) throw err;
      throw mapDbError(err);
    }
  }

  #scopeRolesUsable(): Promise<boolean> {
    this.#rolesUsable ??= run<{ usable: boolean }>(this.#pg, SCOPE_ROLES_USABLE_SQL).then((r) => r.rows[0].usable);
    return this.#rolesUsable;
  }

  async #applyScope(raw: Transaction): Promise<void> {
    if (!this.#enforceScope) return;
    const scope = currentOrganizationScope();
    await run(raw, "select set_config('role', $1, true), set_config('keyplane.organization_id', $2, true)", [
      roleForScope(scope, await this.#scopeRolesUsable()),
      scope,
    ]);
  }

  async ping(): Promise<void> {
    await this.query("select 1");
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    this.#scope.assertOutside(this, "Db.transaction");
    return withSerializationRetries(opts.maxRetries, () => this.#attempt(fn, opts));
  }

  async #attempt<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions): Promise<T> {
    if (this.#enforceScope) await this.#scopeRolesUsable();
    let thrownByCallback: { error: unknown } | undefined;
    let result: T;
    try {
      result = await this.#pg.transaction(async (raw) => {
        const tx: Queryable = {
          query: <R>(sql: string, params?: readonly unknown[]) => run<R>(raw, sql, params),
          exec: (sql: string) => runScript(raw, sql),
          database: this,
        };
        try {
          await this.#applyScope(raw);
          await applyTransactionOptions(tx, opts);
          return await this.#scope.run(this, () => fn(tx));
        } catch (error) {
          thrownByCallback = { error };
          throw error;
        }
      });
    } catch (err) {
      if (thrownByCallback && err === thrownByCallback.error) throw err;
      if (err instanceof PgliteTransactionAbortedError) {
        throw new TransactionAbortedError("transaction rolled back: a statement inside it failed");
      }
      throw mapDbError(err);
    }
    if (!opts.readOnly) this.changes.announce(currentOrganizationScope());
    return result;
  }

  async close(): Promise<void> {
    if (!this.#pg.closed) await this.#pg.close();
    await this.#releaseLock();
  }
}

/** Lock files this process holds: a lock naming our own pid but not listed here is stale (pid reuse after a crash). */
const heldLocks = new Set<string>();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * PGlite does not lock its data directory, and two processes opening it (say `keyplane serve` and
 * `keyplane token create`) corrupt it. `<dataDir>.lock` holds the owner's pid.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = `${resolve(dataDir)}.lock`;
  // Written aside and link()ed into place, so the lock never exists without its pid.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, `${process.pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw mapDbError(err);
      }
      const owner = Number((await readFile(path, "utf8").catch(() => "")).trim());
      const live = owner === process.pid ? heldLocks.has(path) : owner > 0 && isRunning(owner);
      // attempt > 1: another process keeps winning the race for a stale lock; it owns the directory now.
      if (live || attempt > 1) {
        throw new DbError(`the embedded database ${resolve(dataDir)} is in use by process ${owner || "?"}; stop it first or set DATABASE_URL`);
      }
      await rm(path, { force: true });
    }
  } finally {
    await rm(tmp, { force: true });
  }
  heldLocks.add(path);
  // A lock left behind by a crash is recognized as stale on the next start; this covers normal exits.
  const onExit = () => {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  process.once("exit", onExit);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    process.off("exit", onExit);
    heldLocks.delete(path);
    await rm(path, { force: true });
  };
}

/**
 * initdb's output, written by the build (scripts/copy-assets.mjs) beside the compiled driver in
 * dist/, with the version of the PGlite that made it in `<tarball>.version`. PGlite runs initdb in
 * WebAssembly when a data directory has no cluster: 3–4 s of a new data directory's first start,
 * and of every in-memory database the tests open. Loading the tarball takes under one.
 */
const BUILT_CLUSTER_TARBALL = fileURLToPath(new URL("./pglite-cluster.tar.gz", import.meta.url));

let pgliteVersion: Promise<string> | undefined;

/** Read once per process. PGlite's package.json is not among its exports; it lies beside the dist/ its entry point is in. */
function installedPgliteVersion(): Promise<string> {
  pgliteVersion ??= readFile(join(dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite")), "..", "package.json"), "utf8").then(
    (text) => (JSON.parse(text) as { version: string }).version,
  );
  return pgliteVersion;
}

/**
 * The tarball at `path`, or undefined when there is none or another PGlite made it (a PGlite
 * upgraded without a build may run another PostgreSQL): PGlite then runs initdb itself.
 */
async function clusterTarball(path: string): Promise<Blob | undefined> {
  const missing = (error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  };
  const madeBy = await readFile(`${path}.version`, "utf8").catch(missing);
  if (madeBy?.trim() !== (await installedPgliteVersion())) return undefined;
  const bytes = await readFile(path).catch(missing);
  return bytes && new Blob([bytes], { type: "application/gzip" });
}

export async function openPgliteDb(opts: PgliteDbOptions): Promise<Db> {
  const inMemory = opts.dataDir.startsWith("memory://");
  let releaseLock = async () => {};
  if (!inMemory) {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    releaseLock = await lockDataDir(opts.dataDir);
  }
  try {
    const hasCluster = !inMemory && existsSync(join(opts.dataDir, "PG_VERSION"));
    const newCluster = hasCluster ? undefined : await clusterTarball(opts.clusterTarball ?? BUILT_CLUSTER_TARBALL);
    const pglite = await PGlite.create(opts.dataDir, {
      parsers: { [pgliteTypes.BYTEA]: parseBytea },
      // PostgreSQL's default 128 MB of shared buffers live in the WASM heap, which never shrinks;
      // the embedded database is for one small deployment, and 16 MB of them are plenty for it.
      startParams: [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"],
      ...(newCluster ? { loadDataDir: newCluster } : {}),
    });
    return new PgliteDb(pglite, releaseLock);
  } catch (err) {
    await releaseLock();
    throw mapDbError(err);
  }
}
