// Migration 0015 marks the tokens the identity exchange issued before it: those that name their
// binding, and those whose binding was deleted, through their identity.exchange audit event.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../service/db/index.js";
import { openTestDb, testDatabases, type TestDb } from "../support/db.js";

const ORG = "org_exchangedbackfill";
const OTHER_ORG = "org_exchangedother";

for (const kind of testDatabases()) {
  describe(`migration 0015: exchanged tokens are marked (${kind})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await openTestDb(kind, { migrateBefore: 15 });
    }, 60_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    it("marks tokens of live and deleted bindings, never a token a person created", async () => {
      const db = t.db;
      for (const [id, slug] of [
        [ORG, "exchanged-backfill"],
        [OTHER_ORG, "exchanged-other"],
      ]) {
        await db.query("insert into organizations (id, name, slug) values ($1, $1, $2)", [id, slug]);
      }
      await db.query(
        `insert into identity_bindings (id, organization_id, name, issuer, audience, subject, role)
         values ('idb_live', $1, 'ci', 'https://issuer.example', 'keyplane', 'repo:*', 'resolver')`,
        [ORG],
      );
      const token = (id: string, org: string, name: string, bindingId: string | null) =>
        db.query(
          `insert into api_tokens (id, organization_id, role, name, token_hash, expires_at, identity_binding_id)
           values ($1, $2, 'resolver', $3, sha256(convert_to($1, 'UTF8')), now() - interval '30 days', $4)`,
          [id, org, name, bindingId],
        );
      await token("tok_live_binding", ORG, "identity: ci", "idb_live");
      await token("tok_deleted_binding", ORG, "identity: gone", null);
      // Named like an exchanged token, created by a person: no exchange event names it.
      await token("tok_person", ORG, "identity: gone", null);
      // An exchange event of another organization cannot mark it.
      await token("tok_other_org", OTHER_ORG, "identity: gone", null);

      const event = (i: number, action: string, outcome: string, details: Record<string, unknown>) =>
        db.query(
          `insert into audit_events (id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type, target_id,
             outcome, request_id, details, created_at, prev_hash, hash, hash_alg)
           values ($1, $2, $3, $4, null, null, $5, 'identity_binding', 'idb_gone', $6, 'req', $7, now(), null, $1, 'sha256')`,
          [`evt_${i}`, `org:${ORG}`, ORG, i, action, outcome, JSON.stringify(details)],
        );
      await event(1, "identity.exchange", "success", { token_id: "tok_deleted_binding" });
      await event(2, "identity.exchange", "success", { token_id: "tok_other_org" });
      await event(3, "identity.exchange", "denied", { reason: "subject_mismatch", token_id: "tok_person" });
      await event(4, "token.create", "success", { token_id: "tok_person" });

      expect((await migrate(db)).applied.map((m) => m.version)).toContain(15);

      const { rows } = await db.query<{ id: string; exchanged: boolean }>(
        "select id, exchanged from api_tokens where organization_id in ($1, $2) order by id",
        [ORG, OTHER_ORG],
      );
      expect(rows).toEqual([
        { id: "tok_deleted_binding", exchanged: true },
        { id: "tok_live_binding", exchanged: true },
        { id: "tok_other_org", exchanged: false },
        { id: "tok_person", exchanged: false },
      ]);
      const indexes = await db.query<{ indexname: string }>("select indexname from pg_indexes where tablename = 'api_tokens'");
      expect(indexes.rows.map((r) => r.indexname)).toContain("api_tokens_exchanged_end_idx");
    });
  });
}
