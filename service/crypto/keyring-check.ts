import type { Queryable } from "../db/index.js";
import { MasterKeyError, type MasterKeyring } from "./master-key.js";

/**
 * The master key ids that wrap stored key material: live data keys and the audit key. Every one
 * must be in the keyring, or the rows it wraps cannot be read.
 */
async function storedMasterKeyIds(q: Queryable): Promise<Array<{ id: string; rows: number }>> {
  const { rows } = await q.query<{ id: string; rows: number }>(
    `select master_key_id as id, count(*)::int as rows from (
       select master_key_id from credential_versions where wrapped_dek is not null
       union all select master_key_id from audit_keys) wrapped
     group by master_key_id order by master_key_id`,
  );
  return rows;
}

/**
 * Refuses a keyring that lacks a master key stored rows were wrapped by: started with the wrong
 * key, the service would answer every resolve with an error and seal new credentials under a
 * key nothing else knows. The message names the ids, never key material.
 */
export async function assertKeyringCoversStoredKeys(q: Queryable, keyring: MasterKeyring): Promise<void> {
  const lacking = (await storedMasterKeyIds(q)).filter(({ id }) => !keyring.has(id));
  if (lacking.length === 0) return;
  const expected = lacking.map(({ id, rows }) => `${id} (${rows} wrapped ${rows === 1 ? "key" : "keys"})`).join(", ");
  throw new MasterKeyError(
    `the stored data is wrapped by master key id(s) ${expected}, which the configured keys (id(s) ${keyring.ids().join(", ")}) do not include. ` +
      "Set KEYPLANE_MASTER_KEY or KEYPLANE_MASTER_KEY_FILE to the key with that id (master key id = first 16 hex characters of " +
      'sha256("keyplane-master-key-id:" ‖ key)); during a rotation keep the other key in KEYPLANE_MASTER_KEY_PREVIOUS',
  );
}

/**
 * The periodic check while the service runs: stored ids the keyring lacks make it reload its
 * sources (a rotation by another process), and those still lacking make /readyz fail.
 */
export async function refreshKeyringHealth(q: Queryable, keyring: MasterKeyring): Promise<string[]> {
  let lacking = (await storedMasterKeyIds(q)).map(({ id }) => id).filter((id) => !keyring.has(id));
  if (lacking.length > 0) {
    await keyring.reload().catch(() => {});
    lacking = lacking.filter((id) => !keyring.has(id));
  }
  keyring.setMissing(lacking);
  return lacking;
}
