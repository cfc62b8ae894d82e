import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

for (const kind of testDatabases()) {
  describe(`tokens (${kind})`, () => {
    let t: TestRuntime;
    let orgId: string;
    let admin: Record<string, string>;
    beforeAll(async () => {
      t = await startTestRuntime(kind);
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      admin = bearer(seeded.tokens.admin);
    }, 60_000);
    afterAll(() => t?.close());

    it("shows a token once, stores only its hash, and lists it without the secret", async () => {
      const created = await t.api.post(`/v1/organizations/${orgId}/tokens`).set(admin).send({ role: "resolver", name: "worker" });
      expect(created.status).toBe(201);
      expect(created.body.token).toMatch(/^kp_[A-Za-z0-9_-]{43}$/);
      const list = await t.api.get(`/v1/organizations/${orgId}/tokens`).set(admin);
      expect(JSON.stringify(list.body)).not.toContain(created.body.token);
      const stored = await t.testDb.db.query<{ token_hash: Buffer }>("select token_hash from api_tokens where id = $1", [created.body.id]);
      expect(stored.rows[0].token_hash).toHaveLength(32);
    });

    it("refuses a revoked token on its very next request, even right after it was used", async () => {
      const created = await t.api.post(`/v1/organizations/${orgId}/tokens`).set(admin).send({ role: "member", name: "short-lived" });
      const member = bearer(created.body.token);
      expect((await t.api.get(`/v1/organizations/${orgId}/credentials`).set(member)).status).toBe(200);
      expect((await t.api.delete(`/v1/organizations/${orgId}/tokens/${created.body.id}`).set(admin)).status).toBe(204);
      expect((await t.api.get(`/v1/organizations/${orgId}/credentials`).set(member)).status).toBe(401);
    });

    it("refuses an expired token", async () => {
      const soon = new Date(Date.now() + 1500).toISOString();
      const created = await t.api.post(`/v1/organizations/${orgId}/tokens`).set(admin).send({ role: "member", name: "expiring", expires_at: soon });
      const member = bearer(created.body.token);
      expect((await t.api.get(`/v1/organizations/${orgId}/credentials`).set(member)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1700));
      expect((await t.api.get(`/v1/organizations/${orgId}/credentials`).set(member)).status).toBe(401);
    });
  });
}
