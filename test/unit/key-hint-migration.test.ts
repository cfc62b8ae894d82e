// Migration 0008 corrects hints stored under the old rule (any provider's prefix) to what the
// current rule gives for the same secret, without the secret.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../service/db/index.js";
import { keyHint } from "../../service/providers/catalog.js";
import { openTestDb, testDatabases, type TestDb } from "../support/db.js";

// Secrets and the hints the previous rule stored for them.
const STORED = [
  { provider: "custom", secret: "sk-ant-admin01-hunter2hunter", old: "sk-ant-admin01-…nter" },
  { provider: "custom", secret: "sk-proj-short", old: "sk-proj-…" },
  { provider: "custom", secret: "sk-0123456789abcdefab…c", old: "sk-…ab…c" },
  { provider: "custom", secret: "plain-custom-secret-0000WXYZ", old: "…WXYZ" },
  { provider: "openai", secret: "sk-ant-admin01-hunter2hunter", old: "sk-ant-admin01-…nter" },
  { provider: "openai", secret: "sk-or-v1-0123456789abcdefQRST", old: "sk-or-v1-…QRST" },
  { provider: "openai", secret: "sk-proj-0123456789abcdefWXYZ", old: "sk-proj-…WXYZ" },
  { provider: "deepseek", secret: "sk-proj-0123456789abcdefWXYZ", old: "sk-proj-…WXYZ" },
  { provider: "anthropic", secret: "sk-ant-admin01-hunter2hunter", old: "sk-ant-admin01-…nter" },
  { provider: "portkey", secret: "pk-0123456789abcdefghijEEEE", old: "pk-…EEEE" },
  { provider: "mistral", secret: "sk-0123456789abcdefghijQRST", old: "sk-…QRST" },
  { provider: "bedrock", secret: "AKIAABCDEFGHIJKLMNOP", old: "AKIA…MNOP" },
];

for (const kind of testDatabases()) {
  describe(`migration 0008: hints with the provider's own prefix (${kind})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await openTestDb(kind, { migrateBefore: 8 });
    }, 60_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    it("rewrites stored hints of credentials and versions to the current rule's hint of the same secret", async () => {
      const orgId = `org_${randomBytes(4).toString("hex")}`;
      await t.db.query("insert into organizations (id, name, slug) values ($1, 'Acme', $1)", [orgId]);
      const ids: string[] = [];
      for (const [i, row] of STORED.entries()) {
        const id = `cred_${i}`;
        ids.push(id);
        await t.db.query(`insert into credentials (id, organization_id, provider, name, key_hint, env_var) values ($1, $2, $3, $1, $4, 'X_API_KEY')`, [
          id,
          orgId,
          row.provider,
          row.old,
        ]);
        await t.db.query(
          `insert into credential_versions (credential_id, organization_id, key_version, key_hint, ciphertext, nonce, wrapped_dek, master_key_id)
           values ($1, $2, 1, $3, $4, $5, $6, 'mk')`,
          [id, orgId, row.old, randomBytes(16), randomBytes(12), randomBytes(60)],
        );
      }

      const applied = await migrate(t.db);
      expect(applied.applied.map((m) => m.version)).toContain(8);

      for (const [i, row] of STORED.entries()) {
        const expected = keyHint(row.secret, row.provider);
        const credential = await t.db.query<{ key_hint: string }>("select key_hint from credentials where id = $1", [ids[i]]);
        const version = await t.db.query<{ key_hint: string }>("select key_hint from credential_versions where credential_id = $1", [ids[i]]);
        expect({ provider: row.provider, hint: credential.rows[0].key_hint }).toEqual({ provider: row.provider, hint: expected });
        expect(version.rows[0].key_hint).toBe(expected);
      }
      expect(keyHint(STORED[0].secret, "custom")).toBe("…nter");
    });
  });
}
