/**
 * Workload identity: a local OIDC issuer (test/support/oidc-issuer.ts) signs identity tokens that
 * the service exchanges for short-lived `kp_` tokens through identity bindings. Every forged or
 * mismatching token is refused with the code of the check that failed and issues nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { SignJWT } from "jose";
import { parseResponse } from "../../service/http/validation.js";
import { testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";
import { TestOidcIssuer, unsignedToken } from "../support/oidc-issuer.js";

const EXCHANGE = "/v1/auth/token-exchange";
const SUBJECT = "repo:acme/support-bot:ref:refs/heads/main";

/** A service that reaches the loopback test issuer, without the exchange rate limit, auditing `audited` refusals a minute one by one. */
const exchangeEnv = (audited: number) => ({
  KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
  KEYPLANE_ALLOW_INSECURE_ISSUERS: "1",
  KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "100000",
  KEYPLANE_AUDITED_EXCHANGE_REFUSALS_PER_MINUTE: String(audited),
});

for (const kind of testDatabases()) {
  describe(`identity token exchange (${kind})`, () => {
    // Every refusal its own event (the aggregate past the budget: the next describe).
    const t = useApiFixture(kind, exchangeEnv(0));
    const issuer = new TestOidcIssuer();
    let projectId: string;
    let bindingId: string;

    const bindings = () => `/v1/organizations/${t.orgId}/identity-bindings`;
    const exchange = (identityToken: string, extra: Record<string, unknown> = {}) =>
      t.api.post(EXCHANGE).send({ organization_id: t.orgId, identity_token: identityToken, ...extra });
    const goodClaims = () => ({ aud: "keyplane", sub: SUBJECT, repository_owner: "acme", workflow_ref: "acme/support-bot/.github/workflows/deploy.yml@main" });
    const activeTokenCount = async () => {
      const res = await t.api.get(`/v1/organizations/${t.orgId}/tokens`).query({ limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      return res.body.data.length as number;
    };
    const expectRefused = async (identityToken: string, code: string, extra: Record<string, unknown> = {}) => {
      const before = await activeTokenCount();
      const res = await exchange(identityToken, extra);
      expect(res.status, JSON.stringify(res.body)).toBe(401);
      expect(res.body.code).toBe(code);
      expect(res.body.token).toBeUndefined();
      expect(JSON.stringify(res.body)).not.toContain(identityToken);
      expect(await activeTokenCount()).toBe(before);
    };

    beforeAll(async () => {
      await issuer.start();
      const project = await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "support-bot" });
      projectId = project.body.id;
      const created = await t.api
        .post(bindings())
        .set(t.admin)
        .send({
          name: "deploy-main",
          issuer: issuer.url,
          audience: "keyplane",
          subject: "repo:acme/support-bot:ref:refs/heads/*",
          claims: { repository_owner: "acme", workflow_ref: "acme/support-bot/.github/workflows/*" },
          project_id: projectId,
          ttl_seconds: 600,
        });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      bindingId = created.body.id;
    });
    afterAll(() => issuer.stop());
    afterEach(() => vi.useRealTimers());

    it("exchanges a good token for a short-lived resolver token confined to the binding's project", async () => {
      const identityToken = await issuer.sign(goodClaims());
      const res = await exchange(identityToken);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      parseResponse("exchangeIdentityToken", 200, res.body);
      expect(res.body).toMatchObject({ role: "resolver", project_id: projectId, binding_id: bindingId });
      const lifetime = Date.parse(res.body.expires_at) - Date.now();
      expect(lifetime).toBeGreaterThan(590_000);
      expect(lifetime).toBeLessThanOrEqual(600_000);
      // What the project confinement means for resolve: the next test.
      const who = await t.api.get("/v1/whoami").set(bearer(res.body.token));
      expect(who.status).toBe(200);
      expect(who.body).toMatchObject({ role: "resolver", organization_id: t.orgId, project_id: projectId, expires_at: res.body.expires_at });
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(res.body.token))).status).toBe(403);
      expect(issuer.discoveryFetches).toBe(1);
      expect(issuer.jwksFetches).toBe(1);
    });

    it("the issued token resolves only in its binding's project", async () => {
      const own = "sk-proj-ExchangedOwnProject0000000000000000e01";
      const other = "sk-proj-ExchangedOtherProject00000000000000e02";
      const otherProject = (await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "elsewhere" })).body.id;
      for (const [name, api_key, project_id] of [
        ["own", own, projectId],
        ["other", other, otherProject],
      ]) {
        const created = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send({ provider: "openai", name, api_key, project_id });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
      }
      const issued = bearer((await exchange(await issuer.sign(goodClaims()))).body.token);
      const resolve = (body: Record<string, unknown>) => t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(issued).send(body);

      expect((await resolve({ provider: "openai" })).body).toMatchObject({ secret: own, source: "project" });
      expect((await resolve({ provider: "openai", project_id: projectId })).body).toMatchObject({ secret: own });
      const elsewhere = await resolve({ provider: "openai", project_id: otherProject });
      expect(elsewhere.status).toBe(404);
      expect(JSON.stringify(elsewhere.body)).not.toContain(other);
      const environment = (project_id?: string) => t.api.get(`/v1/organizations/${t.orgId}/environment`).query({ project_id }).set(issued);
      expect((await environment()).body.variables).toEqual({ OPENAI_API_KEY: own });
      expect((await environment(otherProject)).status).toBe(404);
    });

    it("accepts ES256 and EdDSA tokens, and a rotated key after the cached key set is old enough", async () => {
      for (const alg of ["ES256", "EdDSA"] as const) {
        expect((await exchange(await issuer.sign(goodClaims(), { alg }))).status).toBe(200);
      }
      const fetches = issuer.jwksFetches;
      const rotated = await issuer.rotate("RS256");
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 31_000 });
      const res = await exchange(await issuer.sign(goodClaims(), { key: rotated }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(issuer.jwksFetches).toBe(fetches + 1);
    });

    it("refuses a token signed by a key the issuer does not publish (invalid_signature)", async () => {
      const stranger = await TestOidcIssuer.unpublishedKey("RS256");
      await expectRefused(await issuer.sign(goodClaims(), { key: stranger, kid: issuer.current("RS256").kid }), "invalid_signature");
      await expectRefused("not-a-jwt", "invalid_signature");
      const good = await issuer.sign(goodClaims());
      await expectRefused(`${good.slice(0, -4)}AAAA`, "invalid_signature");
    });

    it("refuses alg none and HMAC, even when the key set carries an oct key (algorithm_not_allowed)", async () => {
      await expectRefused(
        unsignedToken({ iss: issuer.url, ...goodClaims(), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 }),
        "algorithm_not_allowed",
      );
      const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(issuer.current("RS256").publicJwk));
      const now = Math.floor(Date.now() / 1000);
      const hs256 = await new SignJWT({ iss: issuer.url, ...goodClaims(), iat: now, exp: now + 300 })
        .setProtectedHeader({ alg: "HS256", kid: issuer.current("RS256").kid })
        .sign(publicKeyAsSecret);
      await expectRefused(hs256, "algorithm_not_allowed");
      const secret = new TextEncoder().encode("a-shared-secret-of-thirty-two-bytes!");
      issuer.extraKeys = [{ kty: "oct", kid: "hmac", alg: "HS256", k: Buffer.from(secret).toString("base64url") }];
      try {
        const viaOct = await new SignJWT({ iss: issuer.url, ...goodClaims(), iat: now, exp: now + 300 })
          .setProtectedHeader({ alg: "HS256", kid: "hmac" })
          .sign(secret);
        await expectRefused(viaOct, "algorithm_not_allowed");
      } finally {
        issuer.extraKeys = [];
      }
    });

    it("checks exp, nbf, iat and the total lifetime with 60 seconds of skew", async () => {
      await expectRefused(await issuer.sign(goodClaims(), { issuedAtOffsetSeconds: -400, lifetimeSeconds: 300 }), "expired");
      expect((await exchange(await issuer.sign(goodClaims(), { issuedAtOffsetSeconds: -330, lifetimeSeconds: 300 }))).status).toBe(200);
      const now = Math.floor(Date.now() / 1000);
      await expectRefused(await issuer.sign({ ...goodClaims(), nbf: now + 120 }), "not_yet_valid");
      await expectRefused(await issuer.sign(goodClaims(), { issuedAtOffsetSeconds: 300 }), "not_yet_valid");
      await expectRefused(await issuer.sign(goodClaims(), { lifetimeSeconds: 25 * 3600 }), "lifetime_too_long");
      await expectRefused(await issuer.sign({ ...goodClaims(), exp: undefined }), "lifetime_too_long");
    });

    it("refuses a wrong audience, issuer, subject or claim", async () => {
      await expectRefused(await issuer.sign({ ...goodClaims(), aud: ["other", "api"] }), "audience_mismatch");
      await expectRefused(await issuer.sign({ ...goodClaims(), iss: "https://elsewhere.example" }), "unknown_issuer");
      await expectRefused(await issuer.sign({ ...goodClaims(), sub: "repo:acme/support-bot:pull_request" }), "subject_mismatch");
      await expectRefused(await issuer.sign({ ...goodClaims(), repository_owner: "mallory" }), "claim_mismatch");
      await expectRefused(await issuer.sign({ ...goodClaims(), workflow_ref: undefined }), "claim_mismatch");
      expect((await exchange(await issuer.sign({ ...goodClaims(), aud: ["other", "keyplane"] }))).status).toBe(200);
      // Another organization has no binding of this issuer: unknown there.
      const other = await t.api
        .post("/v1/organizations")
        .set(t.platform)
        .send({ name: "Other", slug: `other-${kind}-id` });
      const res = await t.api.post(EXCHANGE).send({ organization_id: other.body.id, identity_token: await issuer.sign(goodClaims()) });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("unknown_issuer");
      const missing = await t.api.post(EXCHANGE).send({ organization_id: "org_01J0000000000000000000000Z", identity_token: await issuer.sign(goodClaims()) });
      expect(missing.body.code).toBe("unknown_issuer");
    });

    it("bounds key set fetches when tokens carry made-up kids", async () => {
      const before = issuer.jwksFetches;
      const stranger = await TestOidcIssuer.unpublishedKey("RS256");
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => (await exchange(await issuer.sign(goodClaims(), { key: stranger, kid: `forged-${i}` }))).body.code),
      );
      expect(new Set(results)).toEqual(new Set(["invalid_signature"]));
      expect(issuer.jwksFetches - before).toBeLessThanOrEqual(1);
      expect(await activeTokenCount()).toBeGreaterThan(0);
    });

    it("answers jwks_unavailable when the key set cannot be fetched, and issues nothing", async () => {
      const dead = new TestOidcIssuer();
      await dead.start();
      await dead.stop();
      const created = await t.api.post(bindings()).set(t.admin).send({ name: "dead-issuer", issuer: dead.url, audience: "keyplane", subject: "*" });
      expect(created.status).toBe(201);
      await expectRefused(await issuer.sign({ ...goodClaims(), iss: dead.url }), "jwks_unavailable");
    });

    it("exchanges through the named binding only", async () => {
      const second = await t.api
        .post(bindings())
        .set(t.admin)
        .send({ name: "any-branch", issuer: issuer.url, audience: "keyplane", subject: "repo:acme/*", ttl_seconds: 60 });
      expect(second.status).toBe(201);
      const pr = await issuer.sign({ ...goodClaims(), sub: "repo:acme/support-bot:pull_request" });
      const res = await exchange(pr);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ binding_id: second.body.id, project_id: null });
      await expectRefused(pr, "subject_mismatch", { binding: bindingId });
      await expectRefused(pr, "unknown_issuer", { binding: "idb_01J0000000000000000000000Z" });
      expect((await t.api.delete(`${bindings()}/${second.body.id}`).set(t.admin)).status).toBe(204);
    });

    it("uses a binding's jwks_uri without asking for the discovery document", async () => {
      const created = await t.api
        .post(bindings())
        .set(t.admin)
        .send({ name: "explicit-jwks", issuer: issuer.url, jwks_uri: `${issuer.url}/jwks`, audience: "explicit", subject: "*" });
      expect(created.status).toBe(201);
      const discoveries = issuer.discoveryFetches;
      const res = await exchange(await issuer.sign({ ...goodClaims(), aud: "explicit" }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.binding_id).toBe(created.body.id);
      expect(issuer.discoveryFetches).toBe(discoveries);
      expect((await t.api.delete(`${bindings()}/${created.body.id}`).set(t.admin)).status).toBe(204);
    });

    it("tries the matching bindings in the order the list shows them, oldest first by id, whatever their created_at", async () => {
      const make = (name: string) =>
        t.api.post(bindings()).set(t.admin).send({ name, issuer: issuer.url, audience: "keyplane", subject: "repo:acme/order:*", ttl_seconds: 60 });
      const [older, newer] = [(await make("order-older")).body.id as string, (await make("order-newer")).body.id as string];
      // A create retried after a serialization failure keeps its id but gets a later created_at;
      // here the newer one claims the earlier time.
      await t.testDb.db.query("update identity_bindings set created_at = created_at - interval '1 hour' where id = $1", [newer]);
      const listed = (await t.api.get(bindings()).query({ limit: 200 }).set(t.admin)).body.data.map((b: { id: string }) => b.id) as string[];
      expect(listed.filter((id) => id === older || id === newer)).toEqual([older, newer]);
      const res = await exchange(await issuer.sign({ ...goodClaims(), sub: "repo:acme/order:main" }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.binding_id).toBe(older);
      for (const id of [older, newer]) expect((await t.api.delete(`${bindings()}/${id}`).set(t.admin)).status).toBe(204);
    });

    it("refuses an issued token after its expires_at", async () => {
      const res = await exchange(await issuer.sign(goodClaims()));
      expect(res.status).toBe(200);
      expect((await t.api.get("/v1/whoami").set(bearer(res.body.token))).status).toBe(200);
      vi.useFakeTimers({ toFake: ["Date"], now: Date.parse(res.body.expires_at) + 1000 });
      expect((await t.api.get("/v1/whoami").set(bearer(res.body.token))).status).toBe(401);
    });

    it("audits exchanges with issuer, subject and binding, never the identity token", async () => {
      const identityToken = await issuer.sign(goodClaims());
      const ok = await exchange(identityToken);
      await expectRefused(await issuer.sign({ ...goodClaims(), repository_owner: "mallory" }), "claim_mismatch");
      const events = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "identity.exchange", limit: 200 }).set(t.admin);
      expect(events.status).toBe(200);
      const success = events.body.data.find(
        (e: { outcome: string; details: { token_id?: string } }) => e.details.token_id !== undefined && e.outcome === "success",
      );
      expect(success).toMatchObject({ target_type: "identity_binding", target_id: bindingId, details: { issuer: issuer.url, subject: SUBJECT } });
      const denied = events.body.data.find(
        (e: { outcome: string; details: { reason?: string } }) => e.outcome === "denied" && e.details.reason === "claim_mismatch",
      );
      expect(denied).toMatchObject({ details: { issuer: issuer.url, claimed_subject: SUBJECT } });
      const everything = JSON.stringify(events.body) + t.logs.join("");
      expect(everything).not.toContain(identityToken);
      expect(everything).not.toContain(identityToken.split(".")[2]);
      expect(everything).not.toContain(ok.body.token);
      const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
      expect(verify.status).toBe(200);
      expect(verify.body.valid).toBe(true);
    });

    it("audits a subject holding NUL, an unpaired surrogate or a pair cut at the audited length, instead of failing with 500", async () => {
      // Anyone who knows an organization id and a bound issuer reaches the denied path with a
      // forged token whose claims nobody validated; jsonb refuses U+0000 and unpaired surrogates.
      const created = await t.api.post(bindings()).set(t.admin).send({ name: "odd-subjects", issuer: issuer.url, audience: "odd-subjects", subject: "*" });
      expect(created.status).toBe(201);
      const stranger = await TestOidcIssuer.unpublishedKey("RS256");
      try {
        for (const sub of ["repo:\u0000acme", "repo:\ud800acme", `${"a".repeat(255)}\u{1F600}`]) {
          const claims = { aud: "odd-subjects", sub };
          const forged = await exchange(await issuer.sign(claims, { key: stranger, kid: issuer.current("RS256").kid }));
          expect(forged.status, JSON.stringify(forged.body)).toBe(401);
          expect(forged.body.code).toBe("invalid_signature");
          const good = await exchange(await issuer.sign(claims));
          expect(good.status, JSON.stringify(good.body)).toBe(200);
        }
        const events = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "identity.exchange", limit: 200 }).set(t.admin);
        const subjects = events.body.data.map(
          (e: { details: { subject?: string; claimed_subject?: string } }) => e.details.subject ?? e.details.claimed_subject,
        );
        for (const audited of ["repo:\ufffdacme", `${"a".repeat(255)}\ufffd`])
          expect(subjects.filter((s: string) => s === audited).length).toBeGreaterThanOrEqual(2);
        const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
        expect(verify.body).toMatchObject({ valid: true });
      } finally {
        expect((await t.api.delete(`${bindings()}/${created.body.id}`).set(t.admin)).status).toBe(204);
      }
    });

    it("deactivating the binding stops new exchanges and revokes the tokens it issued", async () => {
      const issued = await exchange(await issuer.sign(goodClaims()));
      expect(issued.status).toBe(200);
      const current = await t.api.get(`${bindings()}/${bindingId}`).set(t.admin);
      const off = await t.api.patch(`${bindings()}/${bindingId}`).set(t.admin).set("If-Match", current.headers.etag).send({ active: false });
      expect(off.status).toBe(200);
      expect(off.body.active).toBe(false);
      expect((await t.api.get("/v1/whoami").set(bearer(issued.body.token))).status).toBe(401);
      await expectRefused(await issuer.sign(goodClaims()), "unknown_issuer");
    });

    it("measures exchange latency at one connection (reported, not asserted)", async () => {
      const current = await t.api.get(`${bindings()}/${bindingId}`).set(t.admin);
      await t.api.patch(`${bindings()}/${bindingId}`).set(t.admin).set("If-Match", current.headers.etag).send({ active: true });
      const identityToken = await issuer.sign(goodClaims());
      const samples: number[] = [];
      for (let i = 0; i < 200; i++) {
        const started = process.hrtime.bigint();
        const res = await exchange(identityToken);
        samples.push(Number(process.hrtime.bigint() - started) / 1e6);
        expect(res.status).toBe(200);
      }
      samples.sort((a, b) => a - b);
      const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(2);
      console.log(`token exchange latency (${kind}, 200 sequential): p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
    });
  });

  describe(`refused exchanges past the audit budget (${kind})`, () => {
    const t = useApiFixture(kind, exchangeEnv(2));
    const issuer = new TestOidcIssuer();
    beforeAll(async () => {
      await issuer.start();
      const created = await t.api
        .post(`/v1/organizations/${t.orgId}/identity-bindings`)
        .set(t.admin)
        .send({ name: "any", issuer: issuer.url, audience: "keyplane", subject: "*" });
      expect(created.status).toBe(201);
    });
    afterAll(() => issuer.stop());

    it("are counted in the organization's log, not written one event each: forged tokens cost nothing", async () => {
      const stranger = await TestOidcIssuer.unpublishedKey("RS256");
      const forged = await issuer.sign({ aud: "keyplane", sub: "x" }, { key: stranger, kid: issuer.current("RS256").kid });
      for (let i = 0; i < 6; i++) {
        const res = await t.api.post(EXCHANGE).send({ organization_id: t.orgId, identity_token: forged });
        expect(res.status).toBe(401);
        expect(res.body.code).toBe("invalid_signature");
      }
      await t.runtime.app.operations.unauthenticated.flush();
      const events = (await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ limit: 200 }).set(t.admin)).body.data as {
        action: string;
        outcome: string;
        details: Record<string, unknown>;
      }[];
      expect(events.filter((e) => e.action === "identity.exchange" && e.outcome === "denied")).toHaveLength(2);
      const counted = events.filter((e) => e.action === "auth.unauthenticated");
      expect(counted).toHaveLength(1);
      expect(counted[0].details).toMatchObject({ reason: "invalid_signature", count: 4, operations: { exchangeIdentityToken: 4 } });
      expect(JSON.stringify(events)).not.toContain(forged.split(".")[2]);
      expect((await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin)).body.valid).toBe(true);
    });
  });

  describe(`exchanges refused before any binding matched (${kind})`, () => {
    // Four attempts a minute per address and issuer.
    const t = useApiFixture(kind, { ...exchangeEnv(0), KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "4" });
    // A real issuer that no binding of the organization names.
    const unbound = new TestOidcIssuer();
    beforeAll(() => unbound.start());
    afterAll(() => unbound.stop());

    it("share the address's budget for unknown issuers and are counted in the platform's log, not the named organization's", async () => {
      const tokens = [
        "not-a-jwt",
        unsignedToken({ iss: unbound.url, sub: "x" }),
        await unbound.sign({ iss: undefined, aud: "keyplane", sub: "x" }),
        await unbound.sign({ aud: "keyplane", sub: "x" }),
        await unbound.sign({ aud: "keyplane", sub: "y" }),
      ];
      const codes: string[] = [];
      for (const identityToken of tokens) {
        const res = await t.api.post(EXCHANGE).send({ organization_id: t.orgId, identity_token: identityToken });
        codes.push(`${res.status} ${res.body.code ?? ""}`);
      }
      expect(codes).toEqual(["401 invalid_signature", "401 algorithm_not_allowed", "401 unknown_issuer", "401 unknown_issuer", "429 rate_limited"]);
      await t.runtime.app.operations.unauthenticated.flush();
      const { rows } = await t.testDb.db.query<{ organization_id: string | null; details: Record<string, unknown> }>(
        "select organization_id, details from audit_events where action = 'auth.unauthenticated' and details->'operations' ? 'exchangeIdentityToken' order by seq",
      );
      expect(rows.map((r) => [r.organization_id, r.details.reason, r.details.count])).toEqual([
        [null, "invalid_signature", 1],
        [null, "algorithm_not_allowed", 1],
        [null, "unknown_issuer", 2],
      ]);
    });
  });
}
