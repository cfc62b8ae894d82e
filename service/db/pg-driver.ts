import pg from "pg";
import { reveal } from "../crypto/redacted.js";
import { DatabaseUnavailableError, TransactionAbortedError, mapDbError } from "./errors.js";
import { TransactionScope, applyTransactionOptions, withSerializationRetries } from "./transaction.js";
import type { Db, PgDbOptions, QueryOptions, QueryResult, Queryable, TransactionOptions } from "./types.js";
import { currentOrganizationScope, roleForScope, SCOPE_ROLES_USABLE_SQL } from "./scope.js";
import { CHANGE_CHANNEL, ChangeFeed } from "./change-feed.js";

const LISTEN_RETRY_MIN_MS = 500;
const LISTEN_RETRY_MAX_MS = 30_000;

const INT8_OID = 20;

/** int8 as a JS number like PGlite does (bigint only beyond 2^53), instead of pg's default string. */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

// Per-pool type parsers: changing pg.types globally would affect every other pg user in the process.
const types: pg.CustomTypesConfig = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID && format !== "binary") return parseInt8;
    return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
  },
};

async function run<T>(target: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<QueryResult<T>> {
  try {
    const values = params as unknown[] | undefined;
    const result = opts?.name ? await target.query({ name: opts.name, text: sql, values }) : await target.query(sql, values);
    return { rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length };
  } catch (err) {
    throw mapDbError(err);
  }
}

/** Simple-query protocol: several statements, no parameters; the driver then returns an array of results. */
async function runScript(target: pg.Pool | pg.PoolClient, sql: string): Promise<void> {
  try {
    await target.query(sql);
  } catch (err) {
    throw mapDbError(err);
  }
}

/** Session state of a pooled connection, so role and scope are set only when they change. */
interface ScopedClient extends pg.PoolClient {
  keyplaneScope?: string;
}

class PgDb implements Db {
  readonly driver = "pg" as const;
  readonly #pool: pg.Pool;
  readonly #scope = new TransactionScope();
  #closed = false;
  #enforceScope = false;
  #rolesUsable: Promise<boolean> | undefined;
  readonly changes = new ChangeFeed(false, () => void this.#listen());
  #listener: pg.Client | undefined;
  #listenRetryMs = LISTEN_RETRY_MIN_MS;
  #listenRetry: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PgDbOptions) {
    const statementTimeout = opts.statementTimeoutMs ?? 15_000;
    this.#pool = new pg.Pool({
      connectionString: reveal(opts.url),
      max: opts.poolMax ?? 10,
      idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
      statement_timeout: statementTimeout,
      // Client-side backstop for a server that stopped answering without closing the socket.
      query_timeout: statementTimeout + 5_000,
      idle_in_transaction_session_timeout: 60_000,
      application_name: opts.applicationName ?? "keyplane",
      keepAlive: true,
      types,
    });
    // An idle pooled connection dies when PostgreSQL restarts; without a listener that error would
    // crash the process. The pool already discards the client; new checkouts reconnect.
    this.#pool.on("error", (err) => opts.onPoolError?.(mapDbError(err)));
  }

  get database(): Db {
    return this;
  }

  enforceOrganizationScope(): void {
    this.#enforceScope = true;
  }

  /**
   * A dedicated connection LISTENs for other processes' changes. The feed is live only while it
   * is up; when it drops, the feed goes dark (caches empty and stop filling) until it is back.
   */
  async #listen(): Promise<void> {
    if (this.#closed || this.#listener) return;
    const client = new pg.Client({
      connectionString: reveal(this.opts.url),
      application_name: `${this.opts.applicationName ?? "keyplane"}-changes`,
      connectionTimeoutMillis: this.opts.connectionTimeoutMs ?? 5_000,
      keepAlive: true,
    });
    this.#listener = client;
    const lost = () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.changes.setLive(false);
      client.removeAllListeners("notification");
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#listenRetry = setTimeout(() => void this.#listen(), this.#listenRetryMs);
      this.#listenRetry.unref();
      this.#listenRetryMs = Math.min(this.#listenRetryMs * 2, LISTEN_RETRY_MAX_MS);
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => this.changes.announce(message.payload ?? "*"));
    try {
      await client.connect();
      await client.query(`listen ${CHANGE_CHANNEL}`);
    } catch {
      lost();
      return;
    }
    if (this.#listener !== client) return;
    this.#listenRetryMs = LISTEN_RETRY_MIN_MS;
    this.changes.setLive(true);
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<QueryResult<T>> {
    this.#scope.assertOutside(this, "Db.query");
    if (!this.#enforceScope) return run<T>(this.#pool, sql, params, opts);
    return this.#withClient((client) => run<T>(client, sql, params, opts));
  }

  exec(sql: string): Promise<void> {
    this.#scope.assertOutside(this, "Db.exec");
    if (!this.#enforceScope) return runScript(this.#pool, sql);
    return this.#withClient((client) => runScript(client, sql));
  }

  /**
   * Checks out a connection in the current scope. `markBroken` (and any DatabaseUnavailableError)
   * makes release destroy the connection instead of returning a possibly dead one to the pool.
   */
  async #withClient<T>(fn: (client: pg.PoolClient, markBroken: () => void) => Promise<T>): Promise<T> {
    let client: ScopedClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw mapDbError(err);
    }
    // A checked-out client has no pool listener: a connection terminated under it would otherwise
    // be an unhandled 'error' event and bring the process down.
    let broken = false;
    const markBroken = () => {
      broken = true;
    };
    client.on("error", markBroken);
    try {
      await this.#applyScope(client);
      return await fn(client, markBroken);
    } catch (err) {
      if (err instanceof DatabaseUnavailableError) broken = true;
      throw err;
    } finally {
      client.off("error", markBroken);
      client.release(broken);
    }
  }

  /** Role and scope whenever they differ from the connection's last ones: one statement. */
  async #applyScope(client: ScopedClient): Promise<void> {
    if (!this.#enforceScope) return;
    const scope = currentOrganizationScope();
    if (client.keyplaneScope === scope) return;
    this.#rolesUsable ??= run<{ usable: boolean }>(this.#pool, SCOPE_ROLES_USABLE_SQL).then(
      (r) => r.rows[0].usable,
      (err: unknown) => {
        this.#rolesUsable = undefined; // asked again once the database answers
        throw err;
      },
    );
    const role = roleForScope(scope, await this.#rolesUsable);
    await run(client, "select set_config('role', $1, false), set_config('keyplane.organization_id', $2, false)", [role, scope], {
      name: "keyplane_set_scope",
    });
    client.keyplaneScope = scope;
  }

  async ping(): Promise<void> {
    await this.query("select 1");
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    this.#scope.assertOutside(this, "Db.transaction");
    return withSerializationRetries(opts.maxRetries, () => this.#attempt(fn, opts));
  }

  #attempt<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions): Promise<T> {
    return this.#withClient(async (client, markBroken) => {
      const tx: Queryable = {
        query: <R>(sql: string, params?: readonly unknown[], opts?: QueryOptions) => run<R>(client, sql, params, opts),
        exec: (sql: string) => runScript(client, sql),
        database: this,
      };
      let open = false;
      try {
        await run(client, "BEGIN");
        open = true;
        await applyTransactionOptions(tx, opts);
        const result = await this.#scope.run(this, () => fn(tx));
        open = false;
        const commit = await client.query("COMMIT").catch((err: unknown) => {
          throw mapDbError(err);
        });
        // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
        if (commit.command === "ROLLBACK") {
          throw new TransactionAbortedError("transaction rolled back: a statement inside it failed");
        }
        if (!opts.readOnly) this.changes.announce(currentOrganizationScope());
        return result;
      } catch (err) {
        if (open) await client.query("ROLLBACK").catch(markBroken);
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#listenRetry);
    const listener = this.#listener;
    this.#listener = undefined;
    this.changes.setLive(false);
    await Promise.all([this.#pool.end(), listener?.end().catch(() => {})]);
  }
}

export function openPgDb(opts: PgDbOptions): Db {
  return new PgDb(opts);
}
