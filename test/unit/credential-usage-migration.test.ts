// Migration 0013 totals the resolve events written before it into credential_usage_daily, with
// the figures 0011's reads gave for them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../service/db/index.js";
import { openTestDb, testDatabases, type TestDb } from "../support/db.js";

const ORG = "org_usagebackfill";

interface Event {
  action: string;
  target?: string | null;
  outcome?: string;
  token?: string | null;
  at: string;
  details?: Record<string, unknown>;
}

for (const kind of testDatabases()) {
  describe(`migration 0013: credential usage totals from the audit events (${kind})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await openTestDb(kind, { migrateBefore: 13 });
    }, 60_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    it("totals resolves per credential and UTC day, and denied resolves since each inactive credential's last deactivation", async () => {
      const db = t.db;
      await db.query("insert into organizations (id, name, slug) values ($1, 'Usage', 'usage-backfill')", [ORG]);
      const credential = (id: string, active: boolean, createdAt: string) =>
        db.query(
          `insert into credentials (id, organization_id, provider, name, key_hint, env_var, active, created_at)
           values ($1, $2, 'openai', $1, 'sk-…abcd', 'OPENAI_API_KEY', $3, $4)`,
          [id, ORG, active, createdAt],
        );
      await credential("cred_used", true, "2025-03-01T00:00:00Z");
      await credential("cred_retired", false, "2025-03-01T00:00:00Z");
      await credential("cred_never", false, "2025-03-01T00:00:00Z");

      const events: Event[] = [
        // Two on the evening of March 9 (UTC), one just after midnight: two days.
        { action: "credential.resolve", target: "cred_used", token: "tok_first", at: "2025-03-09T20:00:00Z" },
        { action: "credential.resolve", target: "cred_used", token: "tok_second", at: "2025-03-09T23:59:59.999Z" },
        { action: "credential.resolve", target: "cred_used", token: "tok_first", at: "2025-03-10T00:00:00Z" },
        // Failed and denied resolves are not uses; environment calls are not resolves.
        { action: "credential.resolve", target: "cred_used", outcome: "failure", token: "tok_second", at: "2025-03-10T01:00:00Z" },
        { action: "environment.resolve", target: null, token: "tok_second", at: "2025-03-10T02:00:00Z" },
        // cred_retired: resolved, deactivated, reactivated, deactivated again (by PATCH).
        { action: "credential.resolve", target: "cred_retired", token: "tok_first", at: "2025-03-05T10:00:00Z" },
        { action: "credential.deactivate", target: "cred_retired", at: "2025-03-06T10:00:00Z", details: { changed: true } },
        { action: "credential.resolve", target: "cred_used", token: "tok_first", at: "2025-03-06T11:00:00Z", details: { skipped_inactive: ["cred_retired"] } },
        { action: "credential.activate", target: "cred_retired", at: "2025-03-07T10:00:00Z", details: { changed: true } },
        { action: "credential.update", target: "cred_retired", at: "2025-03-08T10:00:00Z", details: { changed_fields: ["active", "name"] } },
        // Since the last deactivation: two denied (one failed, one served another), on two days.
        {
          action: "credential.resolve",
          target: "cred_used",
          token: "tok_first",
          at: "2025-03-08T11:00:00Z",
          details: { skipped_inactive: ["cred_never", "cred_retired"] },
        },
        { action: "credential.resolve", target: null, outcome: "failure", at: "2025-03-09T11:00:00Z", details: { skipped_inactive: ["cred_retired"] } },
        // Naming an active credential counts for nothing (it was not inactive since a deactivation).
        { action: "credential.resolve", target: null, outcome: "failure", at: "2025-03-09T12:00:00Z", details: { skipped_inactive: ["cred_used"] } },
        // A deactivation that changed nothing does not restart the count.
        { action: "credential.deactivate", target: "cred_retired", at: "2025-03-09T13:00:00Z", details: { changed: false } },
      ];
      for (const [i, e] of events.entries()) {
        await db.query(
          `insert into audit_events (id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type, target_id,
             outcome, request_id, details, created_at, prev_hash, hash, hash_alg)
           values ($1, $2, $3, $4, $5, 'resolver', $6, 'credential', $7, $8, 'req', $9, $10, null, $1, 'sha256')`,
          [`evt_${i}`, `org:${ORG}`, ORG, i + 1, e.token ?? null, e.action, e.target ?? null, e.outcome ?? "success", JSON.stringify(e.details ?? {}), e.at],
        );
      }

      const applied = await migrate(t.db);
      expect(applied.applied.map((m) => m.version)).toContain(13);

      const { rows } = await db.query<Record<string, unknown>>(
        `select credential_id, to_char(day, 'YYYY-MM-DD') as day, resolves, denied, last_used_at, last_used_by
         from credential_usage_daily where organization_id = $1 order by credential_id, day`,
        [ORG],
      );
      const at = (iso: string) => new Date(iso);
      expect(rows).toEqual([
        { credential_id: "cred_never", day: "2025-03-08", resolves: 0, denied: 1, last_used_at: null, last_used_by: null },
        { credential_id: "cred_retired", day: "2025-03-05", resolves: 1, denied: 0, last_used_at: at("2025-03-05T10:00:00Z"), last_used_by: "tok_first" },
        { credential_id: "cred_retired", day: "2025-03-08", resolves: 0, denied: 1, last_used_at: null, last_used_by: null },
        { credential_id: "cred_retired", day: "2025-03-09", resolves: 0, denied: 1, last_used_at: null, last_used_by: null },
        { credential_id: "cred_used", day: "2025-03-06", resolves: 1, denied: 0, last_used_at: at("2025-03-06T11:00:00Z"), last_used_by: "tok_first" },
        { credential_id: "cred_used", day: "2025-03-08", resolves: 1, denied: 0, last_used_at: at("2025-03-08T11:00:00Z"), last_used_by: "tok_first" },
        {
          credential_id: "cred_used",
          day: "2025-03-09",
          resolves: 2,
          denied: 0,
          last_used_at: at("2025-03-09T23:59:59.999Z"),
          last_used_by: "tok_second",
        },
        { credential_id: "cred_used", day: "2025-03-10", resolves: 1, denied: 0, last_used_at: at("2025-03-10T00:00:00Z"), last_used_by: "tok_first" },
      ]);

      // The indexes 0011 kept for reading usage from the events are gone.
      const indexes = await db.query<{ indexname: string }>("select indexname from pg_indexes where tablename = 'audit_events'");
      expect(indexes.rows.map((r) => r.indexname)).not.toContain("audit_events_credential_resolve_idx");
      expect(indexes.rows.map((r) => r.indexname)).not.toContain("audit_events_skipped_inactive_idx");
    });
  });
}
