// KEYPLANE_USAGE_RETENTION_DAYS: credential usage rows (one per credential and UTC day) older than
// the retention are pruned, except the row of a credential's last resolve; what usage reports for
// the last 30 days, and the audit events, stay as they were.
import { describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";
import { pruneCredentialUsage } from "../../service/server.js";

const KEYS = {
  busy: "gsk_UsageRetentionBusy00000000000000000000001",
  idle: "xai-UsageRetentionIdle0000000000000000000002",
};
const DAY_MS = 24 * 3600 * 1000;

/** YYYY-MM-DD of the UTC day `days` from today. */
function utcDay(days: number): string {
  return new Date(Date.now() + days * DAY_MS).toISOString().slice(0, 10);
}

for (const kind of testDatabases()) {
  describe(`credential usage retention (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}`;
    const create = async (body: Record<string, unknown>) => {
      const res = await t.api.post(`${base()}/credentials`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    const usageOf = async (id: string) => (await t.api.get(`${base()}/credentials/${id}`).set(t.admin)).body.usage;
    const daysOf = async (id: string) =>
      (
        await t.testDb.db.query<{ day: string }>(
          "select to_char(day, 'YYYY-MM-DD') as day from credential_usage_daily where organization_id = $1 and credential_id = $2 order by day",
          [t.orgId, id],
        )
      ).rows.map((r) => r.day);
    /** A day's row as the audit group commit would have written it then (`used` adds a resolve at noon UTC by `by`). */
    const insertDay = (credentialId: string, days: number, { resolves = 0, denied = 0, by = null as string | null } = {}) =>
      t.testDb.db.query(
        `insert into credential_usage_daily (organization_id, credential_id, day, resolves, denied, last_used_at, last_used_by)
         values ($1, $2, $3::date, $4, $5, case when $4::int > 0 then ($3::date + interval '12 hours') at time zone 'UTC' end, $6)`,
        [t.orgId, credentialId, utcDay(days), resolves, denied, resolves > 0 ? by : null],
      );
    const auditEvents = async () => (await t.testDb.db.query<{ n: number }>("select count(*)::int as n from audit_events")).rows[0].n;
    const prune = (days: number) => pruneCredentialUsage(t.runtime.db, t.runtime.log, days);

    it("prunes rows older than the retention, keeps the recent ones, the 30-day count and the audit events", async () => {
      const busy = await create({ provider: "groq", name: "busy", api_key: KEYS.busy });
      expect((await t.api.post(`${base()}/resolve`).set(t.resolver).send({ provider: "groq" })).status).toBe(200);
      const resolver = ((await t.api.get("/v1/whoami").set(t.resolver)).body as { id: string }).id;
      for (const days of [-500, -401, -32, -31, -20, -1]) await insertDay(busy, days, { resolves: 2, denied: 1, by: resolver });
      const usage = await usageOf(busy);
      // Today's resolve and the days −20 and −1: the window counts the current UTC day and the 29 before it.
      expect(usage.resolves_30d).toBe(5);
      const events = await auditEvents();

      await prune(400);
      expect(await daysOf(busy)).toEqual([-32, -31, -20, -1, 0].map(utcDay));
      expect(await usageOf(busy)).toEqual(usage);

      // The shortest retention allowed keeps day −31: the 30-day window never loses a day.
      await prune(31);
      expect(await daysOf(busy)).toEqual([-31, -20, -1, 0].map(utcDay));
      expect(await usageOf(busy)).toEqual(usage);
      expect(await auditEvents()).toBe(events);
    });

    it("keeps the row of a credential's last resolve, however old, and drops old rows of deleted credentials", async () => {
      const idle = await create({ provider: "xai", name: "idle", api_key: KEYS.idle });
      const resolver = ((await t.api.get("/v1/whoami").set(t.resolver)).body as { id: string }).id;
      await insertDay(idle, -600, { resolves: 1, by: resolver });
      await insertDay(idle, -450, { resolves: 3, by: resolver });
      // Denied resolves after the last use (it was deactivated): they hold no last use and go.
      await insertDay(idle, -420, { denied: 4 });
      await insertDay(idle, -10, { denied: 1 });
      const gone = "cred_01J000000000000000000GONE";
      await insertDay(gone, -500, { resolves: 1, by: resolver });
      const before = await usageOf(idle);
      expect(before).toMatchObject({ last_used_at: `${utcDay(-450)}T12:00:00.000Z`, last_used_by: { token_id: resolver }, resolves_30d: 0 });

      await prune(400);
      expect(await daysOf(idle)).toEqual([-450, -10].map(utcDay));
      expect(await daysOf(gone)).toEqual([]);
      const after = await usageOf(idle);
      expect(after).toMatchObject({ last_used_at: before.last_used_at, last_used_by: before.last_used_by, resolves_30d: 0 });
    });
  });
}
