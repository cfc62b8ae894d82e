/**
 * Workload identity's outbound calls (OpenID discovery and key sets) go through the same policy as
 * verify: an admin who names an issuer on the service's loopback interface, or an issuer whose
 * discovery document points the key set at a metadata address or answers with a redirect, gets
 * `jwks_unavailable` and nothing is fetched there. Servers here listen on 127.0.0.1 and count the
 * requests they get; no test connects to any other address.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture, type ApiFixture } from "../support/api-fixture.js";
import { TestOidcIssuer } from "../support/oidc-issuer.js";

/** An issuer that answers each path with a discovery document naming `jwksUri`, or with a redirect. */
async function discoveryServer(answer: (base: string, path: string) => { jwksUri?: string; redirect?: string }) {
  const requests: string[] = [];
  let base = "";
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const { jwksUri, redirect } = answer(base, req.url ?? "");
    if (redirect) res.writeHead(302, { location: redirect }).end();
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ issuer: base, jwks_uri: jwksUri }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

for (const kind of testDatabases()) {
  const exchangeOf = (t: ApiFixture) => async (identityToken: string) =>
    t.api.post("/v1/auth/token-exchange").send({ organization_id: t.orgId, identity_token: identityToken });

  describe(`identity issuers under the default outbound policy (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_ALLOW_INSECURE_ISSUERS: "1" });
    const issuer = new TestOidcIssuer();
    beforeAll(() => issuer.start());
    afterAll(() => issuer.stop());

    it("does not fetch a loopback issuer's discovery document or key set", async () => {
      for (const [name, jwks_uri] of [
        ["by-discovery", undefined],
        ["by-jwks-uri", `${issuer.url}/jwks`],
      ] as const) {
        const created = await t.api
          .post(`/v1/organizations/${t.orgId}/identity-bindings`)
          .set(t.admin)
          .send({ name, issuer: issuer.url, jwks_uri, audience: name, subject: "*" });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const res = await exchangeOf(t)(await issuer.sign({ aud: name, sub: "x" }));
        expect(res.status).toBe(401);
        expect(res.body.code).toBe("jwks_unavailable");
      }
      expect(issuer.discoveryFetches + issuer.jwksFetches).toBe(0);
    });
  });

  describe(`identity issuers with private addresses allowed (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_ALLOW_INSECURE_ISSUERS: "1", KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1" });
    const issuer = new TestOidcIssuer();
    beforeAll(() => issuer.start());
    afterAll(() => issuer.stop());

    const bindAndExchange = async (name: string, issuerUrl: string) => {
      const created = await t.api
        .post(`/v1/organizations/${t.orgId}/identity-bindings`)
        .set(t.admin)
        .send({ name, issuer: issuerUrl, audience: "keyplane", subject: "*" });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      // Signed by the real issuer's key and claiming the crafted issuer: only the key set decides.
      return exchangeOf(t)(await issuer.sign({ iss: issuerUrl, aud: "keyplane", sub: "x" }));
    };

    it("refuses a key set at a metadata address named by the discovery document", async () => {
      const crafted = await discoveryServer(() => ({ jwksUri: "http://169.254.169.254/latest/meta-data/" }));
      try {
        const res = await bindAndExchange("metadata-jwks", crafted.base);
        expect(res.body.code).toBe("jwks_unavailable");
        expect(crafted.requests).toEqual(["/.well-known/openid-configuration"]);
      } finally {
        await crafted.close();
      }
    });

    it("does not follow a redirect from the discovery document or the key set", async () => {
      const toDiscovery = await discoveryServer(() => ({ redirect: `${issuer.url}/.well-known/openid-configuration` }));
      const toKeys = await discoveryServer((base, path) => (path === "/jwks" ? { redirect: `${issuer.url}/jwks` } : { jwksUri: `${base}/jwks` }));
      try {
        const before = issuer.discoveryFetches + issuer.jwksFetches;
        expect((await bindAndExchange("redirected-discovery", toDiscovery.base)).body.code).toBe("jwks_unavailable");
        expect((await bindAndExchange("moved-keys", toKeys.base)).body.code).toBe("jwks_unavailable");
        expect(toKeys.requests).toEqual(["/.well-known/openid-configuration", "/jwks"]);
        expect(issuer.discoveryFetches + issuer.jwksFetches).toBe(before);
      } finally {
        await toDiscovery.close();
        await toKeys.close();
      }
    });
  });
}
