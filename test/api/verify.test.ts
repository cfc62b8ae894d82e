/**
 * Verify against a fake provider on 127.0.0.1 (a random port): the request shape per provider
 * family, the classification of answers, and that the key goes nowhere but the request header.
 * The fake provider is on loopback, so this runtime allows private destinations
 * (KEYPLANE_OUTBOUND_ALLOW_PRIVATE=1); test/api/outbound-policy.test.ts covers the default.
 */
import { createServer, type IncomingHttpHeaders, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { callProvider, providerRequest } from "../../service/credentials/credential-verify.js";
import { findProvider } from "../../service/providers/catalog.js";
import { Outbound } from "../../service/outbound/outbound.js";
import { parseResponse } from "../../service/http/validation.js";
import { dumpAllTables, testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";
import { useFakeProvider } from "../support/fake-provider.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

const KEYS = {
  openai: "sk-proj-VerifyOpenAI0000000000000000000000b001",
  anthropic: "sk-ant-api03-VerifyAnthropic000000000000000000b002",
  gemini: "AIzaVerifyGemini00000000000000000000b003",
  azure: "azureVerifyKey0000000000000000000b004",
  rejected: "sk-proj-VerifyRejected00000000000000000000b005",
  broken: "sk-proj-VerifyBroken000000000000000000000b006",
  html: "sk-proj-VerifyHtml00000000000000000000000b007",
  slow: "sk-proj-VerifySlow00000000000000000000000b008",
  redirect: "sk-proj-VerifyRedirect0000000000000000000b009",
  portkey: "pk-VerifyPortkey000000000000000000000b010",
};

/** Answers by key: the fake provider behaves differently per credential. */
function fakeProvider(seen: Seen[]): RequestListener {
  return (req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const auth = String(
      req.headers.authorization ??
        req.headers["x-api-key"] ??
        req.headers["x-goog-api-key"] ??
        req.headers["api-key"] ??
        req.headers["x-portkey-api-key"] ??
        "",
    );
    const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (auth.includes(KEYS.rejected)) return json(401, { error: { message: `Incorrect API key provided: ${KEYS.rejected}` } });
    if (auth.includes(KEYS.broken)) return json(500, { error: `internal error for ${KEYS.broken}` });
    if (auth.includes(KEYS.html)) return res.writeHead(200, { "content-type": "text/html" }).end("<html>captive portal</html>");
    if (auth.includes(KEYS.slow)) return; // never answers
    if (auth.includes(KEYS.redirect)) return res.writeHead(302, { location: "http://evil.invalid/steal" }).end();
    if (req.url!.startsWith("/gemini/v1beta/models")) return json(200, { models: [{ name: "models/gemini-2.5-pro" }, { name: "models/gemini-2.5-flash" }] });
    return json(200, { object: "list", data: [{ id: "m1" }, { id: "m2" }, { id: "m3" }] });
  };
}

for (const kind of testDatabases()) {
  describe(`verify (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1" });
    const seen: Seen[] = [];
    const fake = useFakeProvider(fakeProvider(seen));
    const responses: string[] = [];

    async function verify(body: Record<string, unknown>) {
      const created = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send(body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const before = seen.length;
      const res = await t.api.post(`/v1/organizations/${t.orgId}/credentials/${created.body.id}/verify`).set(t.admin);
      responses.push(JSON.stringify(res.body));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      parseResponse("verifyCredential", 200, res.body);
      const stored = await t.api.get(`/v1/organizations/${t.orgId}/credentials/${created.body.id}`).set(t.admin);
      responses.push(JSON.stringify(stored.body));
      return { result: res.body, credential: stored.body, requests: seen.slice(before) };
    }

    it("OpenAI-compatible: GET {api_base}/models with a Bearer key (and organization/project headers)", async () => {
      const { result, credential, requests } = await verify({
        provider: "openai",
        name: "openai",
        api_key: KEYS.openai,
        api_base: `${fake.base}/v1/`,
        settings: { openai_organization: "org-verify", openai_project: "proj_verify" },
      });
      expect(result).toMatchObject({ status: "ok", http_status: 200, model_count: 3 });
      expect(result.detail).toBe("OpenAI accepted the key and listed 3 models.");
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ method: "GET", url: "/v1/models" });
      expect(requests[0].headers).toMatchObject({
        authorization: `Bearer ${KEYS.openai}`,
        "openai-organization": "org-verify",
        "openai-project": "proj_verify",
      });
      expect(credential.last_verify_status).toBe("ok");
      expect(Date.parse(credential.last_verified_at)).toBeGreaterThan(Date.now() - 60_000);
      expect(credential.version).toBe(1); // an observation, not an edit: the ETag stays
    });

    it("Anthropic: GET {api_base}/v1/models with x-api-key and anthropic-version", async () => {
      const { result, requests } = await verify({ provider: "anthropic", name: "anthropic", api_key: KEYS.anthropic, api_base: fake.base });
      expect(result).toMatchObject({ status: "ok", model_count: 3 });
      expect(requests[0].url).toBe("/v1/models");
      expect(requests[0].headers).toMatchObject({ "x-api-key": KEYS.anthropic, "anthropic-version": "2023-06-01" });
      expect(requests[0].headers.authorization).toBeUndefined();
    });

    it("Gemini: GET {api_base}/v1beta/models with x-goog-api-key", async () => {
      const { result, requests } = await verify({ provider: "gemini", name: "gemini", api_key: KEYS.gemini, api_base: `${fake.base}/gemini` });
      expect(result).toMatchObject({ status: "ok", model_count: 2 });
      expect(requests[0].url).toBe("/gemini/v1beta/models");
      expect(requests[0].headers["x-goog-api-key"]).toBe(KEYS.gemini);
    });

    it("Azure OpenAI: GET {endpoint}/openai/models?api-version=… with api-key", async () => {
      const { result, requests } = await verify({
        provider: "azure_openai",
        name: "azure",
        api_key: KEYS.azure,
        settings: { endpoint: `${fake.base}/azure`, api_version: "2024-06-01" },
      });
      expect(result).toMatchObject({ status: "ok", model_count: 3 });
      expect(requests[0].url).toBe("/azure/openai/models?api-version=2024-06-01");
      expect(requests[0].headers["api-key"]).toBe(KEYS.azure);
    });

    it("Portkey: GET {api_base}/models with x-portkey-api-key (and x-portkey-virtual-key), not a Bearer token", async () => {
      const { result, requests } = await verify({
        provider: "portkey",
        name: "portkey",
        api_key: KEYS.portkey,
        api_base: `${fake.base}/portkey/v1`,
        settings: { virtual_key: "openai-virtual-1" },
      });
      expect(result).toMatchObject({ status: "ok", model_count: 3 });
      expect(requests[0].url).toBe("/portkey/v1/models");
      expect(requests[0].headers["x-portkey-api-key"]).toBe(KEYS.portkey);
      expect(requests[0].headers["x-portkey-virtual-key"]).toBe("openai-virtual-1");
      expect(requests[0].headers.authorization).toBeUndefined();
    });

    it("classifies rejections, errors, non-lists and redirects without echoing the key", async () => {
      const rejected = await verify({ provider: "openai", name: "rejected", api_key: KEYS.rejected, api_base: fake.base });
      expect(rejected.result).toMatchObject({ status: "unauthorized", http_status: 401, model_count: null, detail: "OpenAI rejected the key (HTTP 401)." });
      expect(rejected.credential.last_verify_status).toBe("unauthorized");

      const broken = await verify({ provider: "openai", name: "broken", api_key: KEYS.broken, api_base: fake.base });
      expect(broken.result).toMatchObject({ status: "error", http_status: 500 });

      const html = await verify({ provider: "openai", name: "html", api_key: KEYS.html, api_base: fake.base });
      expect(html.result).toMatchObject({ status: "error", http_status: 200, model_count: null });
      expect(html.result.detail).toContain("not with a model list");

      const redirect = await verify({ provider: "openai", name: "redirect", api_key: KEYS.redirect, api_base: fake.base });
      expect(redirect.result).toMatchObject({ status: "error", http_status: 302 });
      expect(redirect.result.detail).toContain("redirect");
    });

    it("reports an unreachable provider", async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const { result, credential } = await verify({ provider: "openai", name: "down", api_key: KEYS.openai, api_base: `http://127.0.0.1:${port}` });
      expect(result).toMatchObject({ status: "unreachable", http_status: null, model_count: null });
      expect(result.detail).toBe(`Could not reach 127.0.0.1:${port} (ECONNREFUSED).`);
      expect(credential.last_verify_status).toBe("unreachable");
    });

    it("gives up after the time limit", async () => {
      const provider = findProvider("openai")!;
      const request = providerRequest(provider, { api_base: fake.base, settings: {} }, { api_key: KEYS.slow });
      if ("unsupported" in request) throw new Error("expected a request");
      const started = Date.now();
      const outcome = await callProvider(provider, request, new Outbound({ allowPrivate: true }), 300);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(outcome).toMatchObject({ status: "unreachable", http_status: null, detail: `No answer from ${request.url.host} within 0.3 s.` });
    });

    it("appends the provider path to the pathname only: an api_base stored with a query, fragment or user info is not called", () => {
      const provider = findProvider("openai")!;
      for (const api_base of [`${fake.base}/v1?`, `${fake.base}/v1?x=1`, `${fake.base}/v1#f`, fake.base.replace("http://", "http://u:p@")]) {
        const request = providerRequest(provider, { api_base, settings: {} }, { api_key: KEYS.openai });
        expect(request, api_base).toEqual({ unsupported: expect.stringContaining("without query, fragment and user info") });
      }
      const request = providerRequest(provider, { api_base: `${fake.base}/proxy/v1//`, settings: {} }, { api_key: KEYS.openai });
      expect("url" in request && request.url.href).toBe(`${fake.base}/proxy/v1/models`);
    });

    it("says when a provider cannot be verified, and leaves last_verified_at alone", async () => {
      const { result, credential, requests } = await verify({
        provider: "bedrock",
        name: "aws",
        fields: { access_key_id: "AKIAVERIFY0000000001", secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYVERIFYKEY" },
        settings: { region: "us-east-1" },
      });
      expect(result).toMatchObject({ status: "unsupported", http_status: null, model_count: null });
      expect(result.detail).toContain("Amazon Bedrock has no list-models endpoint");
      expect(requests).toHaveLength(0);
      expect(credential.last_verified_at).toBeNull();
      expect(credential.last_verify_status).toBeNull();

      const noBase = await verify({ provider: "litellm", name: "proxy", api_key: "litellm-key-000000000000000000" });
      expect(noBase.result.status).toBe("unsupported");
      expect(noBase.result.detail).toContain("api_base");
    });

    it("is for admins only, and audited without the key", async () => {
      const list = await t.api.get(`/v1/organizations/${t.orgId}/credentials`).query({ provider: "openai", limit: 1 }).set(t.admin);
      const id = list.body.data[0].id;
      const seeded = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "member", name: "m" });
      expect((await t.api.post(`/v1/organizations/${t.orgId}/credentials/${id}/verify`).set(bearer(seeded.body.token))).status).toBe(403);
      expect((await t.api.post(`/v1/organizations/${t.orgId}/credentials/cred_00000000000000000000000000/verify`).set(t.admin)).status).toBe(404);

      const audit = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "credential.verify", limit: 200 }).set(t.admin);
      expect(audit.body.data.length).toBeGreaterThanOrEqual(10);
      expect(audit.body.data[0].details).toMatchObject({ status: "ok", http_status: 200, model_count: 3, key_version: 1 });
      // Every verify that called out names where the key was sent.
      const called = audit.body.data.filter((e: { details: { status: string } }) => e.details.status !== "unsupported");
      expect(called.length).toBeGreaterThanOrEqual(8);
      for (const event of called) expect(event.details.destination_host).toMatch(/^127\.0\.0\.1:\d+$/);
      const everything = [await dumpAllTables(t.runtime.db), t.logs.join("\n"), responses.join("\n")].join("\n");
      for (const key of Object.values(KEYS)) expect(everything).not.toContain(key);
    });
  });
}
