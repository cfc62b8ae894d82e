// KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS: tokens the identity exchange issued are deleted once they
// have been expired or revoked for longer than the retention, also after their binding was deleted;
// tokens people created never are. What named a deleted token still reads: a credential's last
// user (name null, as the contract allows), credential_in_use, the audit log and its chain.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { pruneExchangedTokens } from "../../service/server.js";
import { pruneEndedExchangedTokens } from "../../service/tokens/token-service.js";
import { testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";
import { TestOidcIssuer } from "../support/oidc-issuer.js";

const SUBJECT = "repo:acme/support-bot:ref:refs/heads/main";
const KEY = "gsk_ExchangedTokenRetention000000000000000001";

for (const kind of testDatabases()) {
  describe(`exchanged token retention (${kind})`, () => {
    const t = useApiFixture(kind, {
      KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
      KEYPLANE_ALLOW_INSECURE_ISSUERS: "1",
      KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "100000",
    });
    const issuer = new TestOidcIssuer();
    const base = () => `/v1/organizations/${t.orgId}`;

    const createBinding = async (name: string) => {
      const res = await t.api.post(`${base()}/identity-bindings`).set(t.admin).send({ name, issuer: issuer.url, audience: "keyplane", subject: SUBJECT });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    /** An exchanged token through `binding`: its value and id. */
    const exchange = async (binding: string) => {
      const identityToken = await issuer.sign({ aud: "keyplane", sub: SUBJECT });
      const res = await t.api.post("/v1/auth/token-exchange").send({ organization_id: t.orgId, identity_token: identityToken, binding });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const who = await t.api.get("/v1/whoami").set(bearer(res.body.token));
      return { token: res.body.token as string, id: who.body.id as string };
    };
    /** Moves a token's end `days` into the past: it expired then, or (`revoked`) was revoked then, ten minutes before it would have expired. */
    const endedDaysAgo = (id: string, days: number, { revoked = false } = {}) =>
      t.testDb.db.query(
        revoked
          ? "update api_tokens set revoked_at = now() - make_interval(days => $2), expires_at = now() - make_interval(days => $2) + interval '10 minutes' where id = $1"
          : "update api_tokens set expires_at = now() - make_interval(days => $2) where id = $1",
        [id, days],
      );
    const storedIds = async () =>
      new Set((await t.testDb.db.query<{ id: string }>("select id from api_tokens where organization_id = $1", [t.orgId])).rows.map((r) => r.id));
    const listedIds = async () => {
      const res = await t.api.get(`${base()}/tokens`).query({ limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      return new Set((res.body.data as { id: string }[]).map((token) => token.id));
    };
    const prune = (days: number) => pruneExchangedTokens(t.runtime.db, t.runtime.log, days);

    let binding: string;
    beforeAll(async () => {
      await issuer.start();
      binding = await createBinding("ci");
    });
    afterAll(() => issuer.stop());

    it("deletes exchanged tokens ended longer ago than the retention; keeps recent, live and person-created ones", async () => {
      const old = await exchange(binding);
      await endedDaysAgo(old.id, 8);
      const revokedOld = await exchange(binding);
      expect((await t.api.delete(`${base()}/tokens/${revokedOld.id}`).set(t.admin)).status).toBe(204);
      await endedDaysAgo(revokedOld.id, 8, { revoked: true });
      // Its binding deleted: identity_binding_id is null now, the token is still known as exchanged.
      const doomed = await createBinding("short-lived");
      const orphan = await exchange(doomed);
      expect((await t.api.delete(`${base()}/identity-bindings/${doomed}`).set(t.admin)).status).toBe(204);
      await endedDaysAgo(orphan.id, 8, { revoked: true });
      const recent = await exchange(binding);
      await endedDaysAgo(recent.id, 6);
      const live = await exchange(binding);

      const person = async (name: string) => {
        const expiresAt = new Date(Date.now() + 3600_000).toISOString();
        const res = await t.api.post(`${base()}/tokens`).set(t.admin).send({ role: "resolver", name, expires_at: expiresAt });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.id as string;
      };
      const expiredPerson = await person("expired long ago");
      await endedDaysAgo(expiredPerson, 400);
      const revokedPerson = await person("revoked long ago");
      expect((await t.api.delete(`${base()}/tokens/${revokedPerson}`).set(t.admin)).status).toBe(204);
      await endedDaysAgo(revokedPerson, 400, { revoked: true });

      const before = await storedIds();
      const logged = t.logs.length;
      await prune(7);
      const after = await storedIds();
      expect([...before].filter((id) => !after.has(id)).sort()).toEqual([old.id, orphan.id, revokedOld.id].sort());
      for (const kept of [recent.id, live.id, expiredPerson, revokedPerson]) expect(after.has(kept)).toBe(true);
      const line = t.logs.slice(logged).find((l) => l.includes("deleted exchanged tokens"));
      expect(JSON.parse(line!)).toMatchObject({ pruned: 3, retention_days: 7 });

      // Listed until then: the expired ones still show (not revoked), the deleted one no more.
      const listed = await listedIds();
      expect(listed.has(old.id)).toBe(false);
      for (const shown of [recent.id, live.id, expiredPerson]) expect(listed.has(shown)).toBe(true);
      // A deleted token is refused as any unknown token; the live one still works.
      expect((await t.api.get("/v1/whoami").set(bearer(old.token))).status).toBe(401);
      expect((await t.api.get("/v1/whoami").set(bearer(live.token))).status).toBe(200);

      // A longer retention keeps what a shorter one would delete; a second run finds nothing.
      await prune(30);
      await prune(7);
      expect(await storedIds()).toEqual(after);
      await prune(1);
      expect((await storedIds()).has(recent.id)).toBe(false);
    });

    it("a credential last resolved by a deleted token reads with the token's name null; the audit chain verifies", async () => {
      const created = await t.api.post(`${base()}/credentials`).set(t.admin).send({ provider: "groq", name: "groq", api_key: KEY });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const credential = `${base()}/credentials/${created.body.id}`;
      const ci = await exchange(binding);
      expect((await t.api.post(`${base()}/resolve`).set(bearer(ci.token)).send({ provider: "groq" })).status).toBe(200);
      expect((await t.api.get(credential).set(t.admin)).body.usage.last_used_by).toEqual({ token_id: ci.id, name: "identity: ci" });

      await endedDaysAgo(ci.id, 8);
      await prune(7);
      expect((await storedIds()).has(ci.id)).toBe(false);

      const read = await t.api.get(credential).set(t.admin);
      expect(read.status).toBe(200);
      parseResponse("getCredential", 200, read.body);
      expect(read.body.usage).toMatchObject({ last_used_by: { token_id: ci.id, name: null }, resolves_30d: 1 });
      const list = await t.api.get(`${base()}/credentials`).set(t.admin);
      expect(list.status).toBe(200);
      parseResponse("listCredentials", 200, list.body);

      // Resolved a moment ago: in use, by a token that no longer exists.
      const refused = await t.api.post(`${credential}/deactivate`).set(t.admin);
      expect(refused.status).toBe(409);
      parseResponse("deactivateCredential", 409, refused.body);
      expect(refused.body).toMatchObject({ code: "credential_in_use", last_used_by: { token_id: ci.id, name: null } });
      expect(refused.body.detail).toContain(`by token ${ci.id} (deleted)`);

      // The audit events keep naming it, and the chain is unchanged.
      const events = await t.api.get(`${base()}/audit-events`).query({ limit: 200 }).set(t.admin);
      expect(events.status).toBe(200);
      expect(
        (events.body.data as { action: string; actor_token_id: string | null }[]).some((e) => e.action === "credential.resolve" && e.actor_token_id === ci.id),
      ).toBe(true);
      const verify = await t.api.post(`${base()}/audit-events/verify`).set(t.admin);
      expect(verify.status).toBe(200);
      expect(verify.body.valid).toBe(true);
    });

    it("deletes in bounded statements until none is left", async () => {
      const ended = [];
      for (let i = 0; i < 5; i++) ended.push((await exchange(binding)).id);
      for (const id of ended) await endedDaysAgo(id, 8);
      expect(await pruneEndedExchangedTokens(t.runtime.db, 7, 2)).toBe(5);
      const after = await storedIds();
      for (const id of ended) expect(after.has(id)).toBe(false);
    });
  });
}
