import { createHmac, hkdfSync } from "node:crypto";
import type { Request } from "express";
import type { Db, Queryable } from "../db/index.js";
import type { MasterKeyring } from "../crypto/index.js";
import { canonicalJson } from "../audit/audit-chain.js";
import { actorOf } from "./context.js";
import { problems } from "./problem.js";

// Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the first request with a key does
// the work; later ones with the same key and the same request get the stored response; the same
// key with another request is a 422. The fingerprint is an HMAC so a stored row cannot be used to
// confirm a guessed secret.

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!KEY_PATTERN.test(header)) {
    throw problems.validation([{ path: "header.idempotency-key", message: "must be 1–255 visible ASCII characters" }]);
  }
  return header;
}

/** A write's answer as it is replayed: the ETag (and a create's Location) derive from the body. */
export interface StoredResponse<T = unknown> {
  status: number;
  body: T;
}

/**
 * Claims the key inside the caller's transaction. On PostgreSQL a concurrent request with the same
 * key blocks on the unique index until this transaction ends, then sees the stored response.
 * Returns the stored response to replay, or null when this request owns the key.
 */
async function claimIdempotencyKey(tx: Queryable, organizationId: string, key: string, requestHash: string): Promise<StoredResponse | null> {
  const inserted = await tx.query(
    `insert into idempotency_keys (organization_id, idem_key, request_hash, status, response, created_at)
     values ($1, $2, $3, 0, null, now()) on conflict do nothing`,
    [organizationId, key, requestHash],
  );
  if ((inserted.rowCount ?? 0) === 1) return null;
  const { rows } = await tx.query<{ request_hash: string; status: number; response: unknown }>(
    "select request_hash, status, response from idempotency_keys where organization_id = $1 and idem_key = $2",
    [organizationId, key],
  );
  const stored = rows[0];
  if (!stored || stored.request_hash !== requestHash) {
    throw problems.validation(
      [{ path: "header.idempotency-key", message: "this key was already used with another request (token, operation, resource, query or body)" }],
      "Idempotency-Key reused with another request.",
    );
  }
  return { status: stored.status, body: stored.response };
}

async function storeIdempotentResponse(tx: Queryable, organizationId: string, key: string, response: StoredResponse) {
  await tx.query("update idempotency_keys set status = $3, response = $4 where organization_id = $1 and idem_key = $2", [
    organizationId,
    key,
    response.status,
    JSON.stringify(response.body),
  ]);
}

export async function purgeIdempotencyKeys(db: Queryable, olderThanHours = 24): Promise<number> {
  const { rowCount } = await db.query("delete from idempotency_keys where created_at < now() - make_interval(hours => $1)", [olderThanHours]);
  return rowCount ?? 0;
}

/**
 * The writes of one feature that honour `Idempotency-Key`. The key is claimed in the write's own
 * transaction, before the write checks `If-Match`: a retry whose first attempt committed gets that
 * attempt's answer although the version it names is no longer current. A write that fails rolls
 * its claim back, so its retry runs again.
 */
export class IdempotentWrites {
  private readonly hmacKey: Buffer;

  constructor(
    private readonly db: Db,
    keyring: MasterKeyring,
  ) {
    // Fingerprints are keyed by the master key: a stored row cannot confirm a guessed secret.
    this.hmacKey = Buffer.from(hkdfSync("sha256", keyring.current.bytes(), Buffer.alloc(0), "keyplane idempotency fingerprint", 32));
  }

  /**
   * Runs `write` (in the transaction it is given, or in its own without a key) and answers
   * `status` with its result, or replays the answer stored under the request's key.
   * The key is scoped to the organization; the fingerprint binds it to the calling token, the
   * operation, the path and query, and the body.
   */
  async run<T>(req: Request, organizationId: string, status: number, body: unknown, write: (tx?: Queryable) => Promise<T>): Promise<StoredResponse<T>> {
    const key = parseIdempotencyKey(req.get("idempotency-key"));
    if (key === undefined) return { status, body: await write() };
    const requestHash = this.fingerprint({
      token: actorOf(req).tokenId,
      operation: req.kp.operationId,
      path: req.params,
      query: req.query,
      body,
    });
    return this.db.transaction(async (tx) => {
      const stored = await claimIdempotencyKey(tx, organizationId, key, requestHash);
      if (stored) return stored as StoredResponse<T>;
      const response = { status, body: await write(tx) };
      await storeIdempotentResponse(tx, organizationId, key, response);
      return response;
    });
  }

  private fingerprint(request: unknown): string {
    return createHmac("sha256", this.hmacKey).update(canonicalJson(request)).digest("hex");
  }
}
