import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { DbError, SerializationFailureError } from "./errors.js";
import type { Db, Queryable, TransactionOptions } from "./types.js";

/**
 * Sets a transaction-local setting (`SET LOCAL name = value`, parametrized through set_config).
 * (Row-level security's scope is applied by the drivers; see scope.ts.)
 */
export async function setLocal(tx: Queryable, name: string, value: string): Promise<void> {
  await tx.query("select set_config($1, $2, true)", [name, value]);
}

/**
 * Runs `run` in the caller's transaction when there is one (a write that must commit together
 * with something else, such as its Idempotency-Key), else in a new transaction of `db`.
 */
export function inTransaction<T>(db: Db, tx: Queryable | undefined, run: (q: Queryable) => Promise<T>): Promise<T> {
  return tx ? run(tx) : db.transaction(run);
}

const ISOLATION_SQL = {
  "read committed": "READ COMMITTED",
  "repeatable read": "REPEATABLE READ",
  serializable: "SERIALIZABLE",
} as const;

/** Runs right after BEGIN, before any other statement of the transaction. */
export async function applyTransactionOptions(tx: Queryable, opts: TransactionOptions): Promise<void> {
  const modes: string[] = [];
  if (opts.isolation) {
    const level = ISOLATION_SQL[opts.isolation];
    if (!level) throw new TypeError(`unknown isolation level ${String(opts.isolation)}`);
    modes.push(`ISOLATION LEVEL ${level}`);
  }
  if (opts.readOnly) modes.push("READ ONLY");
  if (modes.length > 0) await tx.query(`SET TRANSACTION ${modes.join(", ")}`);
  for (const [name, value] of Object.entries(opts.settings ?? {})) {
    await setLocal(tx, name, value);
  }
}

const DEFAULT_MAX_RETRIES = 3;
const RETRY_BASE_MS = 20;

/** Runs `attempt` again after serialization failures/deadlocks, with full-jitter exponential backoff. */
export async function withSerializationRetries<T>(maxRetries: number | undefined, attempt: () => Promise<T>): Promise<T> {
  const retries = maxRetries ?? DEFAULT_MAX_RETRIES;
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof SerializationFailureError) || i >= retries) throw err;
      await sleep(Math.random() * RETRY_BASE_MS * 2 ** i);
    }
  }
}

/**
 * Detects use of the Db object inside its own transaction callback. On PGlite (one connection,
 * transactions hold its lock) that would deadlock forever; on PostgreSQL it silently runs outside
 * the transaction and can exhaust the pool. Failing loudly beats both.
 */
export class TransactionScope {
  readonly #storage = new AsyncLocalStorage<{ owner: object; active: boolean }>();

  assertOutside(owner: object, what: string): void {
    const store = this.#storage.getStore();
    if (store && store.active && store.owner === owner) {
      throw new DbError(`${what} called inside a transaction callback of the same database; use the tx argument`);
    }
  }

  async run<T>(owner: object, fn: () => Promise<T>): Promise<T> {
    const store = { owner, active: true };
    try {
      return await this.#storage.run(store, fn);
    } finally {
      // Continuations started inside the callback keep the store; they may use the Db afterwards.
      store.active = false;
    }
  }
}
