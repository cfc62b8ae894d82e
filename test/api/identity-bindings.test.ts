/**
 * Identity bindings: admins manage them, members read them; https issuers unless
 * KEYPLANE_ALLOW_INSECURE_ISSUERS; If-Match on update and delete; deleting a binding revokes the
 * tokens it issued; token exchanges are rate-limited per issuer and client address.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";
import { TestOidcIssuer } from "../support/oidc-issuer.js";
import { globMatches } from "../../service/identity/identity-token.js";

describe("subject and claim patterns", () => {
  it("match exactly, with * standing for any run of characters", () => {
    expect(globMatches("repo:acme/app:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main")).toBe(true);
    expect(globMatches("repo:acme/app:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/mainx")).toBe(false);
    expect(globMatches("repo:acme/*", "repo:acme/app:pull_request")).toBe(true);
    expect(globMatches("repo:acme/*", "repo:acme-evil/app")).toBe(false);
    expect(globMatches("*:ref:refs/heads/*", "repo:a:ref:refs/heads/x")).toBe(true);
    expect(globMatches("*", "")).toBe(true);
    expect(globMatches("a*b*c", "aXXbYYc")).toBe(true);
    expect(globMatches("a*b*c", "aXXbYY")).toBe(false);
    expect(globMatches("a.c", "abc")).toBe(false);
  });

  it("stay quick (pattern × value steps) on patterns that would make a regular expression backtrack", () => {
    const started = performance.now();
    expect(globMatches(`${"*a".repeat(200)}b`, "a".repeat(5000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

for (const kind of testDatabases()) {
  describe(`identity bindings (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1", KEYPLANE_ALLOW_INSECURE_ISSUERS: "1" });
    const issuer = new TestOidcIssuer();
    const base = () => `/v1/organizations/${t.orgId}/identity-bindings`;
    const valid = () => ({ name: "ci", issuer: issuer.url, audience: "keyplane", subject: "repo:acme/*" });

    beforeAll(() => issuer.start());
    afterAll(() => issuer.stop());

    it("creates a binding with defaults; members read, members and resolvers may not manage", async () => {
      const res = await t.api.post(base()).set(t.admin).send(valid());
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      parseResponse("createIdentityBinding", 201, res.body);
      expect(res.body).toMatchObject({
        ...valid(),
        jwks_uri: null,
        claims: {},
        role: "resolver",
        project_id: null,
        ttl_seconds: 900,
        active: true,
        version: 1,
      });
      expect(res.body.id).toMatch(/^idb_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(res.headers.location).toBe(`${base()}/${res.body.id}`);
      expect(res.headers.etag).toBe('"v1"');
      const read = await t.api.get(`${base()}/${res.body.id}`).set(t.member);
      expect(read.status).toBe(200);
      const list = await t.api.get(base()).set(t.member);
      expect(list.status).toBe(200);
      parseResponse("listIdentityBindings", 200, list.body);
      expect(list.body.data.map((b: { id: string }) => b.id)).toEqual([res.body.id]);
      expect(
        (
          await t.api
            .post(base())
            .set(t.member)
            .send({ ...valid(), name: "m" })
        ).status,
      ).toBe(403);
      expect((await t.api.get(base()).set(t.resolver)).status).toBe(403);
    });

    it("refuses a taken name, an unknown project, a bad ttl and unknown fields with field paths", async () => {
      const taken = await t.api.post(base()).set(t.admin).send(valid());
      expect(taken.status).toBe(409);
      expect(taken.body.code).toBe("name_conflict");
      const project = await t.api
        .post(base())
        .set(t.admin)
        .send({ ...valid(), name: "p", project_id: "prj_01J0000000000000000000000P" });
      expect(project.status).toBe(422);
      expect(project.body.errors[0].path).toBe("body.project_id");
      const bad = await t.api
        .post(base())
        .set(t.admin)
        .send({ ...valid(), name: "x", ttl_seconds: 30, role: "admin", claims: { sub: 3 }, extra: 1 });
      expect(bad.status).toBe(422);
      const paths = bad.body.errors.map((e: { path: string }) => e.path);
      expect(paths).toEqual(expect.arrayContaining(["body.ttl_seconds", "body.role", "body.claims.sub", "body.extra"]));
    });

    it("updates with If-Match and deletes; deleting revokes the tokens the binding issued", async () => {
      const created = await t.api
        .post(base())
        .set(t.admin)
        .send({ ...valid(), name: "to-delete", audience: "other" });
      const id = created.body.id as string;
      const stale = await t.api.patch(`${base()}/${id}`).set(t.admin).set("If-Match", '"v9"').send({ audience: "keyplane" });
      expect(stale.status).toBe(412);
      const updated = await t.api
        .patch(`${base()}/${id}`)
        .set(t.admin)
        .set("If-Match", '"v1"')
        .send({ audience: "keyplane", claims: { env: "prod" } });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ audience: "keyplane", claims: { env: "prod" }, version: 2 });
      expect(updated.headers.etag).toBe('"v2"');
      // Disable the first binding so this one decides the exchange.
      const first = (await t.api.get(base()).set(t.admin)).body.data.find((b: { name: string }) => b.name === "ci");
      await t.api.patch(`${base()}/${first.id}`).set(t.admin).send({ active: false });
      const exchanged = await t.api
        .post("/v1/auth/token-exchange")
        .send({ organization_id: t.orgId, identity_token: await issuer.sign({ aud: "keyplane", sub: "repo:acme/app", env: "prod" }) });
      expect(exchanged.status, JSON.stringify(exchanged.body)).toBe(200);
      expect(exchanged.body.binding_id).toBe(id);
      expect((await t.api.get("/v1/whoami").set(bearer(exchanged.body.token))).status).toBe(200);
      expect((await t.api.delete(`${base()}/${id}`).set(t.admin).set("If-Match", '"v1"')).status).toBe(412);
      expect((await t.api.delete(`${base()}/${id}`).set(t.admin).set("If-Match", '"v2"')).status).toBe(204);
      expect((await t.api.get(`${base()}/${id}`).set(t.admin)).status).toBe(404);
      expect((await t.api.get("/v1/whoami").set(bearer(exchanged.body.token))).status).toBe(401);
      const events = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ target_id: id, limit: 200 }).set(t.admin);
      expect(events.body.data.map((e: { action: string }) => e.action)).toEqual(
        expect.arrayContaining(["identity_binding.create", "identity_binding.update", "identity.exchange", "identity_binding.delete"]),
      );
    });
  });

  describe(`identity bindings without KEYPLANE_ALLOW_INSECURE_ISSUERS (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "3" });

    it("requires https issuers and key sets", async () => {
      const res = await t.api
        .post(`/v1/organizations/${t.orgId}/identity-bindings`)
        .set(t.admin)
        .send({ name: "plain", issuer: "http://issuer.example", jwks_uri: "http://issuer.example/jwks", audience: "a", subject: "*" });
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["body.issuer", "body.jwks_uri"]);
    });

    it("rate-limits exchanges per issuer and address: a new unknown issuer buys no fresh attempts", async () => {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const payload = Buffer.from(JSON.stringify({ iss: `https://unknown-${i}.example`, sub: "x" })).toString("base64url");
        const res = await t.api.post("/v1/auth/token-exchange").send({ organization_id: t.orgId, identity_token: `eyJhbGciOiJSUzI1NiJ9.${payload}.c2ln` });
        codes.push(res.status);
        if (res.status === 429) expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      }
      expect(codes).toEqual([401, 401, 401, 429, 429]);
    });
  });
}
