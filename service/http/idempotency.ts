import { createHmac } from "node:crypto";
import type { Queryable } from "../db/index.js";
import { canonicalJson } from "../audit/audit-chain.js";
import { problems } from "./problem.js";

// Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the first request with a key does
// the work; later ones with the same key and the same body get the stored response; the same key
// with a different body is a 422. The fingerprint is an HMAC so a stored row cannot be used to
// confirm a guessed secret.

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!KEY_PATTERN.test(header)) {
    throw problems.validation([{ path: "header.idempotency-key", message: "must be 1–255 visible ASCII characters" }]);
  }
  return header;
}

export function fingerprint(hmacKey: Buffer, body: unknown): string {
  return createHmac("sha256", hmacKey).update(canonicalJson(body)).digest("hex");
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * Claims the key inside the caller's transaction. On PostgreSQL a concurrent request with the same
 * key blocks on the unique index until this transaction ends, then sees the stored response.
 * Returns the stored response to replay, or null when this request owns the key.
 */
export async function claimIdempotencyKey(tx: Queryable, organizationId: string, key: string, requestHash: string): Promise<StoredResponse | null> {
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
      [{ path: "header.idempotency-key", message: "this key was already used with a different request body" }],
      "Idempotency-Key reused with a different body.",
    );
  }
  return { status: stored.status, body: stored.response };
}

export async function storeIdempotentResponse(tx: Queryable, organizationId: string, key: string, response: StoredResponse) {
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
