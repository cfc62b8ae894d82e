// Credential usage as running totals (migration 0013): the audit group commit folds resolves into
// one row per credential and UTC day; the 30-day window, the 24-hour in-use guard and the denied
// count read those rows. Also: resolves by model alias count like provider-level ones, PATCH
// `active: false` is guarded like deactivate, and the in-use problem names the last use and its token.
import { afterEach, describe, expect, it, vi } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";
import { parseComponent, parseResponse } from "../../service/http/validation.js";

const KEYS = {
  batch: "gsk_UsageTotalsBatch000000000000000000000001",
  window: "xai-UsageTotalsWindow00000000000000000000002",
  pinned: "sk-UsageTotalsPinned0000000000000000000000003",
  spare: "sk-UsageTotalsSpare00000000000000000000000004",
  patched: "pplx-UsageTotalsPatched000000000000000000005",
  patchedPinned: "pplx-UsageTotalsPatchedPin0000000000000006",
  contract: "fw_UsageTotalsInUseContract0000000000000007",
};
const SECRETS = Object.values(KEYS);
const DAY_MS = 24 * 3600 * 1000;

/** 00:00:00.000 UTC of today plus `days`. */
function utcMidnight(days: number): number {
  const today = new Date();
  return Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()) + days * DAY_MS;
}

interface UsageRow {
  day: string;
  resolves: number;
  denied: number;
  last_used_at: Date | null;
  last_used_by: string | null;
}

for (const kind of testDatabases()) {
  describe(`credential usage totals (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}`;
    const create = async (body: Record<string, unknown>) => {
      const res = await t.api.post(`${base()}/credentials`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    const resolve = (body: Record<string, unknown>) => t.api.post(`${base()}/resolve`).set(t.resolver).send(body);
    const usageOf = async (id: string) => (await t.api.get(`${base()}/credentials/${id}`).set(t.admin)).body.usage;
    const rowsOf = async (id: string) =>
      (
        await t.testDb.db.query<UsageRow>(
          `select to_char(day, 'YYYY-MM-DD') as day, resolves, denied, last_used_at, last_used_by
           from credential_usage_daily where organization_id = $1 and credential_id = $2 order by day`,
          [t.orgId, id],
        )
      ).rows;
    const lastResolveEvent = async () => {
      const res = await t.api.get(`${base()}/audit-events`).query({ action: "credential.resolve", limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      return res.body.data[res.body.data.length - 1] as { details: Record<string, unknown>; target_id: string | null };
    };

    afterEach(() => {
      vi.useRealTimers();
    });

    it("folds concurrent resolves into one row per credential and day", async () => {
      const id = await create({ provider: "groq", name: "batch", api_key: KEYS.batch });
      const answers = await Promise.all(Array.from({ length: 25 }, () => resolve({ provider: "groq" })));
      expect(answers.map((a) => a.status)).toEqual(Array(25).fill(200));
      const rows = await rowsOf(id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ day: new Date().toISOString().slice(0, 10), resolves: 25, denied: 0 });
      const usage = await usageOf(id);
      expect(usage).toMatchObject({ resolves_30d: 25, last_used_by: { token_id: rows[0].last_used_by } });
      expect(usage.last_used_at).toBe(rows[0].last_used_at!.toISOString());
    });

    it("splits days at UTC midnight and counts the current UTC day and the 29 before it", async () => {
      const id = await create({ provider: "xai", name: "window", api_key: KEYS.window });
      // The last moments of days −31 and −30 (outside), the first of day −29 (inside).
      const times = [utcMidnight(-30) - 100, utcMidnight(-29) - 100, utcMidnight(-29) + 100, utcMidnight(-29) + 200];
      // Only the service's clock is moved: the audit events (and so the days) take their time from it.
      vi.useFakeTimers({ toFake: ["Date"] });
      for (const at of times) {
        vi.setSystemTime(at);
        expect((await resolve({ provider: "xai" })).status).toBe(200);
      }
      vi.useRealTimers();

      const day = (days: number) => new Date(utcMidnight(days)).toISOString().slice(0, 10);
      expect((await rowsOf(id)).map((r) => [r.day, r.resolves])).toEqual([
        [day(-31), 1],
        [day(-30), 1],
        [day(-29), 2],
      ]);
      const usage = await usageOf(id);
      expect(usage).toMatchObject({ resolves_30d: 2, last_used_at: new Date(times[3]).toISOString() });

      // Last resolved 29 days ago: not in use, so deactivating needs no force.
      expect((await t.api.post(`${base()}/credentials/${id}/deactivate`).set(t.admin)).status).toBe(200);
    });

    it("counts a resolve by model alias that passes over an inactive credential, once per resolve, as the provider-level resolve names it", async () => {
      const pinned = await create({ provider: "deepseek", name: "pinned", api_key: KEYS.pinned, is_default: true });
      const spare = await create({ provider: "deepseek", name: "spare", api_key: KEYS.spare });
      const alias = await t.api
        .post(`${base()}/model-aliases`)
        .set(t.admin)
        .send({ name: "usage-pinned", provider: "deepseek", model: "deepseek-chat", credential_id: pinned });
      expect(alias.status).toBe(201);

      const refused = await t.api.post(`${base()}/credentials/${pinned}/deactivate`).set(t.admin);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ code: "credential_in_use", aliases: [{ id: alias.body.id, name: "usage-pinned" }] });
      expect((await t.api.post(`${base()}/credentials/${pinned}/deactivate`).query({ force: true }).set(t.admin)).status).toBe(200);

      // The inactive pin falls through to the provider's order, where the pin (the default) ranks first.
      const byAlias = await resolve({ alias: "usage-pinned" });
      expect(byAlias.body).toMatchObject({ credential_id: spare, alias: "usage-pinned" });
      const aliasEvent = await lastResolveEvent();
      expect(aliasEvent).toMatchObject({ target_id: spare, details: { alias: "usage-pinned", skipped_inactive: [pinned] } });

      expect((await resolve({ provider: "deepseek" })).body.credential_id).toBe(spare);
      const providerEvent = await lastResolveEvent();
      expect(providerEvent.details.skipped_inactive).toEqual(aliasEvent.details.skipped_inactive);

      expect(await usageOf(pinned)).toMatchObject({ denied_since_deactivation: 2, resolves_30d: 0 });
      expect(await usageOf(spare)).toMatchObject({ denied_since_deactivation: 0, resolves_30d: 2 });

      // With nothing left to serve, the failed alias resolve still names it.
      expect((await t.api.post(`${base()}/credentials/${spare}/deactivate`).query({ force: true }).set(t.admin)).status).toBe(200);
      expect((await resolve({ alias: "usage-pinned" })).status).toBe(404);
      expect((await lastResolveEvent()).details.skipped_inactive).toEqual([pinned, spare].sort());
      expect(await usageOf(pinned)).toMatchObject({ denied_since_deactivation: 3 });
      expect(await usageOf(spare)).toMatchObject({ denied_since_deactivation: 1 });
    });

    it("guards PATCH active=false like deactivate, with the same force, and restarts the denied count", async () => {
      const id = await create({ provider: "perplexity", name: "patched", api_key: KEYS.patched });
      expect((await resolve({ provider: "perplexity" })).status).toBe(200);
      const before = (await t.api.get(`${base()}/credentials/${id}`).set(t.admin)).body;

      const refused = await t.api.patch(`${base()}/credentials/${id}`).set(t.admin).send({ active: false, description: "retiring" });
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({
        code: "credential_in_use",
        aliases: [],
        last_used_at: before.usage.last_used_at,
        last_used_by: before.usage.last_used_by,
      });
      expect(before.usage.last_used_by).toMatchObject({ name: "resolver token" });
      const unchanged = (await t.api.get(`${base()}/credentials/${id}`).set(t.admin)).body;
      expect(unchanged).toMatchObject({ active: true, description: null, version: before.version });

      // Other fields need no force; neither does repeating active=true.
      expect((await t.api.patch(`${base()}/credentials/${id}`).set(t.admin).send({ active: true, description: "kept" })).status).toBe(200);

      const forced = await t.api
        .patch(`${base()}/credentials/${id}`)
        .query({ force: true })
        .set(t.admin)
        .set("If-Match", `"v${before.version + 1}"`)
        .send({ active: false });
      expect(forced.status, JSON.stringify(forced.body)).toBe(200);
      expect(forced.body).toMatchObject({ active: false, usage: { denied_since_deactivation: 0 } });

      expect((await resolve({ provider: "perplexity" })).status).toBe(404);
      expect(await usageOf(id)).toMatchObject({ denied_since_deactivation: 1 });
      // Reactivated and deactivated again by PATCH: the count starts again.
      expect((await t.api.patch(`${base()}/credentials/${id}`).set(t.admin).send({ active: true })).status).toBe(200);
      const again = await t.api.patch(`${base()}/credentials/${id}`).query({ force: true }).set(t.admin).send({ active: false });
      expect(again.body.usage.denied_since_deactivation).toBe(0);
      // PATCH active=false on an inactive credential is no deactivation: the count stays.
      expect((await resolve({ provider: "perplexity" })).status).toBe(404);
      const repeated = await t.api.patch(`${base()}/credentials/${id}`).set(t.admin).send({ active: false });
      expect(repeated.status).toBe(200);
      expect(repeated.body.usage.denied_since_deactivation).toBe(1);
    });

    it("refuses PATCH active=false on a credential an active alias pins, naming the alias", async () => {
      const id = await create({ provider: "perplexity", name: "patched-pinned", api_key: KEYS.patchedPinned });
      const alias = await t.api
        .post(`${base()}/model-aliases`)
        .set(t.admin)
        .send({ name: "usage-patched", provider: "perplexity", model: "sonar", credential_id: id });
      expect(alias.status).toBe(201);
      const refused = await t.api.patch(`${base()}/credentials/${id}`).set(t.admin).send({ active: false });
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({
        code: "credential_in_use",
        aliases: [{ id: alias.body.id, name: "usage-patched" }],
        last_used_at: null,
        last_used_by: null,
      });
      parseResponse("updateCredential", 409, refused.body);
    });

    it("answers credential_in_use on deactivate, PATCH and DELETE as the contract's CredentialInUseProblem", async () => {
      const id = await create({ provider: "fireworks", name: "in-use-contract", api_key: KEYS.contract });
      const alias = await t.api
        .post(`${base()}/model-aliases`)
        .set(t.admin)
        .send({ name: "usage-contract", provider: "fireworks", model: "llama-v3p1-8b-instruct", credential_id: id });
      expect(alias.status).toBe(201);
      expect((await resolve({ alias: "usage-contract" })).status).toBe(200);
      const lastUsedAt = (await usageOf(id)).last_used_at as string;
      const resolver = (await t.api.get("/v1/whoami").set(t.resolver)).body as { id: string };
      // Who resolved it: the token's id and name, as the credential's usage names it.
      const lastUsedBy = { token_id: resolver.id, name: "resolver token" };
      expect((await usageOf(id)).last_used_by).toEqual(lastUsedBy);
      const inUse = {
        code: "credential_in_use",
        aliases: [{ id: alias.body.id, name: "usage-contract" }],
        last_used_at: lastUsedAt,
        last_used_by: lastUsedBy,
      };
      const bodies: unknown[] = [];

      const deactivate = await t.api.post(`${base()}/credentials/${id}/deactivate`).set(t.admin);
      const patch = await t.api.patch(`${base()}/credentials/${id}`).set(t.admin).send({ active: false });
      // An active credential is refused as active before its use is looked at; the same 409 schema describes that problem too.
      const deleteActive = await t.api.delete(`${base()}/credentials/${id}`).set(t.admin);
      expect((await t.api.post(`${base()}/credentials/${id}/deactivate`).query({ force: true }).set(t.admin)).status).toBe(200);
      const deleteInactive = await t.api.delete(`${base()}/credentials/${id}`).set(t.admin);
      for (const [operationId, res] of [
        ["deactivateCredential", deactivate],
        ["updateCredential", patch],
        ["deleteCredential", deleteInactive],
      ] as const) {
        expect(res.status, operationId).toBe(409);
        expect(res.body, operationId).toMatchObject(inUse);
        expect(res.body.detail, operationId).toContain(`last resolved at ${lastUsedAt} by token "resolver token" (${resolver.id})`);
        expect(parseResponse(operationId, 409, res.body), operationId).toEqual(res.body);
        // The members are more than a plain Problem holds: without the schema the body would be undescribed.
        expect(() => parseComponent("Problem", res.body), operationId).toThrow();
        bodies.push(res.body);
      }
      expect(deleteActive.status).toBe(409);
      expect(deleteActive.body.code).toBe("credential_active");
      expect(deleteActive.body).not.toHaveProperty("aliases");
      parseResponse("deleteCredential", 409, deleteActive.body);
      const seen = JSON.stringify([...bodies, deleteActive.body]);
      // Neither the provider key nor the bearer token of the caller it names.
      for (const secret of [KEYS.contract, t.tokens.resolver]) expect(seen).not.toContain(secret);
    });

    it("deletes a credential's usage rows with it", async () => {
      const listed = await t.api.get(`${base()}/credentials`).query({ provider: "groq" }).set(t.admin);
      const id = listed.body.data[0].id as string;
      expect(await rowsOf(id)).toHaveLength(1);
      expect((await t.api.delete(`${base()}/credentials/${id}`).query({ force: true }).set(t.admin)).status).toBe(204);
      expect(await rowsOf(id)).toEqual([]);
    });

    it("never puts a secret in usage rows, listings or the audit trail", async () => {
      const rows = await t.testDb.db.query("select * from credential_usage_daily");
      const list = await t.api.get(`${base()}/credentials`).set(t.admin);
      const audit = await t.api.get(`${base()}/audit-events`).query({ limit: 200 }).set(t.admin);
      const seen = JSON.stringify([rows.rows, list.body, audit.body]);
      for (const secret of SECRETS) expect(seen).not.toContain(secret);
    });
  });
}
