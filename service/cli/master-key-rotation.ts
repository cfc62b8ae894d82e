import { existsSync } from "node:fs";
import { chmod, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "../db/index.js";
import { MasterKey, PENDING_MASTER_KEY_FILE_NAME, rewrapDek, type MasterKeyring } from "../crypto/index.js";
import { recordAudit } from "../audit/audit-service.js";
import { rewrapAuditKeys } from "../audit/audit-keys.js";

export interface RewrapProgress {
  total: number;
  done: number;
}

interface PendingRow {
  credential_id: string;
  organization_id: string;
  key_version: number;
  ciphertext: Buffer;
  nonce: Buffer;
  wrapped_dek: Buffer;
  master_key_id: string;
}

/**
 * Re-wraps the audit key and every live data key under `newKey`. Each batch commits on its own
 * and rows already under the new key are skipped, so an interrupted run is resumed by running it
 * again with the same new key. Secret ciphertexts and audit events are never touched.
 */
export async function rewrapAllDataKeys(
  db: Db,
  oldKeyring: MasterKeyring,
  newKey: MasterKey,
  onProgress: (p: RewrapProgress) => void = () => {},
  batchSize = 200,
): Promise<RewrapProgress> {
  const countResult = await db.query<{ n: number }>(
    "select count(*)::int as n from credential_versions where wrapped_dek is not null and master_key_id <> $1",
    [newKey.id],
  );
  const auditKeys = await rewrapAuditKeys(db, oldKeyring, newKey);
  const progress = { total: Number(countResult.rows[0].n), done: 0 };
  onProgress(progress);
  for (;;) {
    const rewrapped = await db.transaction(async (tx) => {
      const { rows } = await tx.query<PendingRow>(
        `select credential_id, organization_id, key_version, ciphertext, nonce, wrapped_dek, master_key_id
         from credential_versions where wrapped_dek is not null and master_key_id <> $1
         order by credential_id, key_version limit $2 for update`,
        [newKey.id, batchSize],
      );
      for (const row of rows) {
        const aad = { organizationId: row.organization_id, credentialId: row.credential_id, keyVersion: row.key_version };
        const next = rewrapDek(
          oldKeyring,
          newKey,
          { ciphertext: row.ciphertext, nonce: row.nonce, wrappedDek: row.wrapped_dek, masterKeyId: row.master_key_id },
          aad,
        );
        await tx.query("update credential_versions set wrapped_dek = $1, master_key_id = $2 where credential_id = $3 and key_version = $4", [
          next.wrappedDek,
          next.masterKeyId,
          row.credential_id,
          row.key_version,
        ]);
      }
      return rows.length;
    });
    progress.done += rewrapped;
    onProgress(progress);
    if (rewrapped < batchSize) break;
  }
  await db.transaction((tx) =>
    recordAudit(tx, {
      organizationId: null,
      actor: { tokenId: null, role: null },
      action: "master_key.rotate",
      targetType: "master_key",
      targetId: newKey.id,
      outcome: "success",
      requestId: "cli",
      details: { rewrapped: progress.done, audit_keys_rewrapped: auditKeys, previous_key_ids: oldKeyring.ids().filter((id) => id !== newKey.id) },
    }),
  );
  return progress;
}

/**
 * For the development key in the data directory: the next key is written to `master.key.next`
 * before any row changes, so a run that dies half-way is resumed with the same key.
 */
export async function nextDevelopmentKey(dataDir: string): Promise<{ key: MasterKey; path: string }> {
  const path = join(dataDir, PENDING_MASTER_KEY_FILE_NAME);
  if (existsSync(path)) return { key: MasterKey.fromBase64((await readFile(path, "utf8")).trim()), path };
  const key = MasterKey.generate();
  await writeFile(path, key.toBase64() + "\n", { mode: 0o600, flag: "wx" });
  await chmod(path, 0o600);
  return { key, path };
}

/** After a completed rewrap: master.key → master.key.previous, master.key.next → master.key. */
export async function promoteDevelopmentKey(dataDir: string): Promise<void> {
  const current = join(dataDir, "master.key");
  await rename(current, join(dataDir, "master.key.previous"));
  await rename(join(dataDir, PENDING_MASTER_KEY_FILE_NAME), current);
}
