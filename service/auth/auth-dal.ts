import type { Queryable } from "../db/index.js";
import type { Role } from "./tokens.js";

export interface TokenRecord {
  id: string;
  organization_id: string | null;
  role: Role;
  name: string;
  token_hash: Buffer;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_by: string | null;
}

export async function findTokenByHash(db: Queryable, hash: Buffer): Promise<TokenRecord | null> {
  const { rows } = await db.query<TokenRecord>(
    "select id, organization_id, role, name, token_hash, created_at, expires_at, last_used_at, revoked_at, created_by from api_tokens where token_hash = $1",
    [hash],
    { name: "keyplane_token_by_hash" },
  );
  return rows[0] ?? null;
}

export async function touchToken(db: Queryable, id: string): Promise<void> {
  await db.query("update api_tokens set last_used_at = now() where id = $1", [id]);
}
