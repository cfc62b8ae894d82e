import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyOrganizationChain } from "../../service/audit/audit-service.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

const ABSENT_ORG = "org_00000000000000000000000000";
const OPENAI_KEY = "sk-proj-Organizations000000000000000000000000a1b2";

for (const kind of testDatabases()) {
  describe(`organizations (${kind})`, () => {
    let t: TestRuntime;
    let platform: Record<string, string>;

    beforeAll(async () => {
      t = await startTestRuntime(kind, { KEYPLANE_PLATFORM_OPENAI_API_KEY: "sk-proj-PlatformKey00000000000000000000000000z9" });
      platform = bearer(t.platformToken);
    }, 60_000);
    afterAll(() => t?.close());

    describe("under an organization id that does not exist", () => {
      it("a credential POST is a 404, not a foreign-key 500, and writes nothing", async () => {
        const res = await t.api
          .post(`/v1/organizations/${ABSENT_ORG}/credentials`)
          .set(platform)
          .send({ provider: "openai", name: "typo", api_key: OPENAI_KEY });
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({ code: "not_found", detail: "The organization does not exist." });
        const rows = await t.runtime.db.query<{ n: number }>("select count(*)::int as n from credentials where organization_id = $1", [ABSENT_ORG]);
        expect(Number(rows.rows[0].n)).toBe(0);
      });

      it("lists are a 404, not an empty page", async () => {
        for (const path of ["credentials", "projects", "tokens", "audit-events"]) {
          const res = await t.api.get(`/v1/organizations/${ABSENT_ORG}/${path}`).set(platform);
          expect(res.status, path).toBe(404);
        }
      });

      it("audit verify is a 404, not a valid chain of 0 events", async () => {
        const res = await t.api.post(`/v1/organizations/${ABSENT_ORG}/audit-events/verify`).set(platform);
        expect(res.status).toBe(404);
        expect(res.body.valid).toBeUndefined();
      });
    });

    describe("deletion", () => {
      it("refuses with 409 while the organization holds active credentials, and changes nothing", async () => {
        const { org, tokens } = await seedOrganization(t);
        const admin = bearer(tokens.admin);
        const created = await t.api.post(`/v1/organizations/${org.id}/credentials`).set(admin).send({ provider: "openai", name: "live", api_key: OPENAI_KEY });
        expect(created.status).toBe(201);
        const refused = await t.api.delete(`/v1/organizations/${org.id}`).set(platform);
        expect(refused.status).toBe(409);
        expect(refused.body.code).toBe("organization_has_active_credentials");
        expect(refused.body.detail).toMatch(/1 active credential/);
        expect((await t.api.get(`/v1/organizations/${org.id}`).set(admin)).status).toBe(200);
        expect((await t.api.get(`/v1/organizations/${org.id}/credentials/${created.body.id}`).set(admin)).status).toBe(200);
        // An organization admin may not delete its organization at all.
        expect((await t.api.delete(`/v1/organizations/${org.id}?force=true`).set(admin)).status).toBe(403);
      });

      it("with force destroys credentials and tokens, keeps and extends the audit chain, then answers 404", async () => {
        const { org, tokens } = await seedOrganization(t);
        const admin = bearer(tokens.admin);
        const project = await t.api.post(`/v1/organizations/${org.id}/projects`).set(admin).send({ name: "doomed" });
        await t.api.post(`/v1/organizations/${org.id}/credentials`).set(admin).send({ provider: "openai", name: "org-level", api_key: OPENAI_KEY });
        await t.api
          .post(`/v1/organizations/${org.id}/credentials`)
          .set(admin)
          .send({ provider: "anthropic", name: "in-project", project_id: project.body.id, api_key: "sk-ant-api03-Deletion0000000000000000000000000000x9Qz" });
        expect((await t.api.get(`/v1/organizations/${org.id}/credentials`).set(bearer(tokens.member))).status).toBe(200);

        const deleted = await t.api.delete(`/v1/organizations/${org.id}?force=true`).set(platform);
        expect(deleted.status).toBe(204);

        expect((await t.api.get(`/v1/organizations/${org.id}`).set(platform)).status).toBe(404);
        expect((await t.api.get(`/v1/organizations/${org.id}/audit-events`).set(platform)).status).toBe(404);
        expect((await t.api.delete(`/v1/organizations/${org.id}?force=true`).set(platform)).status).toBe(404);
        for (const token of Object.values(tokens)) {
          expect((await t.api.get("/v1/whoami").set(bearer(token))).status).toBe(401);
        }
        const db = t.runtime.db;
        for (const table of ["credentials", "credential_versions", "projects", "api_tokens", "idempotency_keys"]) {
          const left = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where organization_id = $1`, [org.id]);
          expect(Number(left.rows[0].n), table).toBe(0);
        }

        const events = await db.query<{ action: string; details: Record<string, unknown> }>(
          "select action, details from audit_events where chain_key = $1 order by seq",
          [`org:${org.id}`],
        );
        expect(events.rows.length).toBeGreaterThan(5);
        expect(events.rows.at(-1)).toMatchObject({
          action: "organization.delete",
          details: { force: true, credentials: 2, active_credentials: 2, projects: 1, tokens: 3 },
        });
        expect(await verifyOrganizationChain(db, org.id)).toMatchObject({ valid: true, checked: events.rows.length });
        const platformEvents = await db.query<{ target_id: string }>(
          "select target_id from audit_events where chain_key = 'platform' and action = 'organization.delete'",
        );
        expect(platformEvents.rows.map((r) => r.target_id)).toContain(org.id);
        expect(await verifyOrganizationChain(db, null)).toMatchObject({ valid: true });
      });

      it("needs no force when every credential is inactive", async () => {
        const { org, tokens } = await seedOrganization(t);
        const admin = bearer(tokens.admin);
        const created = await t.api.post(`/v1/organizations/${org.id}/credentials`).set(admin).send({ provider: "openai", name: "idle", api_key: OPENAI_KEY });
        expect((await t.api.post(`/v1/organizations/${org.id}/credentials/${created.body.id}/deactivate`).set(admin)).status).toBe(200);
        expect((await t.api.delete(`/v1/organizations/${org.id}`).set(platform)).status).toBe(204);
      });
    });

    describe("platform_fallback", () => {
      it("an organization admin may turn it off but not back on (403, audited); a platform admin may", async () => {
        const { org, tokens } = await seedOrganization(t);
        const admin = bearer(tokens.admin);
        const resolver = bearer(tokens.resolver);
        expect((await t.api.post(`/v1/organizations/${org.id}/resolve`).set(resolver).send({ provider: "openai" })).body.source).toBe("platform");

        const off = await t.api.patch(`/v1/organizations/${org.id}`).set(platform).send({ platform_fallback: false });
        expect(off.status).toBe(200);
        expect((await t.api.post(`/v1/organizations/${org.id}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(404);

        const refused = await t.api.patch(`/v1/organizations/${org.id}`).set(admin).send({ platform_fallback: true, name: "Renamed" });
        expect(refused.status).toBe(403);
        expect(refused.body.code).toBe("platform_fallback_forbidden");
        expect(refused.body.detail).toMatch(/only a platform admin/i);
        const after = await t.api.get(`/v1/organizations/${org.id}`).set(admin);
        expect(after.body).toMatchObject({ platform_fallback: false, name: off.body.name, version: off.body.version });
        expect((await t.api.post(`/v1/organizations/${org.id}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(404);

        const denials = await t.api.get(`/v1/organizations/${org.id}/audit-events`).query({ action: "organization.update" }).set(platform);
        const denied = denials.body.data.filter((e: { outcome: string }) => e.outcome === "denied");
        expect(denied).toHaveLength(1);
        expect(denied[0]).toMatchObject({ actor_role: "admin", details: { reason: "platform_fallback_requires_platform_admin" } });

        // Turning it off, or sending the value it already has, stays allowed to the organization admin.
        expect((await t.api.patch(`/v1/organizations/${org.id}`).set(admin).send({ platform_fallback: false })).status).toBe(200);
        const on = await t.api.patch(`/v1/organizations/${org.id}`).set(platform).send({ platform_fallback: true });
        expect(on.body.platform_fallback).toBe(true);
        expect((await t.api.patch(`/v1/organizations/${org.id}`).set(admin).send({ platform_fallback: true })).status).toBe(200);
        expect((await t.api.patch(`/v1/organizations/${org.id}`).set(admin).send({ platform_fallback: false })).status).toBe(200);
        expect((await t.api.post(`/v1/organizations/${org.id}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(404);
      });
    });
  });
}
