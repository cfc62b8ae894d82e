// GET /openapi.yaml and GET /docs: the contract is served as written but for its server, which
// is the service itself wherever it runs, and Swagger UI works offline, from the locally
// installed swagger-ui-dist assets.

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { docsRouter } from "../../service/http/docs.js";
import { openapiPath } from "../../service/contract/contract-document.js";

// As in the service: Express's own per-response ETags are off.
const app = express().set("etag", false).use(docsRouter());

describe("docs router", () => {
  it("serves openapi.yaml as written, but for one relative server `/`", async () => {
    const res = await request(app).get("/openapi.yaml").expect(200);
    expect(res.headers["content-type"]).toMatch(/^text\/yaml/);
    const written = readFileSync(openapiPath, "utf8");
    const served = parseYaml(res.text);
    expect(served.servers).toEqual([{ url: "/", description: expect.any(String) }]);
    expect({ ...served, servers: null }).toEqual({ ...parseYaml(written), servers: null });
  });

  it("lets Try it out reach the service on the port it runs on, whatever Host header the request carried", async () => {
    const server = createServer(
      express()
        .get("/healthz", (_req, res) => res.json({ status: "ok" }))
        .use(app),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const documentUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.yaml`;
      for (const host of [undefined, "attacker.example", "127.0.0.1:8080"]) {
        const res = await fetch(documentUrl, { headers: host ? { Host: host } : {} });
        const text = await res.text();
        expect(text).not.toContain("attacker.example");
        const document = parseYaml(text) as { servers: { url: string }[] };
        // What Swagger UI does: the server URL resolved against the document's own URL.
        const base = new URL(document.servers[0].url, documentUrl);
        expect(base.origin).toBe(new URL(documentUrl).origin);
        expect((await fetch(new URL("/healthz", base))).status).toBe(200);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("lets browsers revalidate the contract, the page and its script with a 304", async () => {
    for (const path of ["/openapi.yaml", "/docs", "/docs/init.js"]) {
      const first = await request(app).get(path).expect(200);
      expect(first.headers.etag).toMatch(/^"[\w-]{27}"$/);
      await request(app).get(path).set("If-None-Match", first.headers.etag).expect(304);
    }
  });

  it("serves a Swagger UI page that loads only same-origin assets", async () => {
    for (const path of ["/docs", "/docs/"]) {
      const res = await request(app).get(path).expect(200);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      expect(res.headers["content-security-policy"]).toMatch(/script-src 'self'/);
      expect(res.text).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
      const assets = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      expect(assets).toContain("/docs/assets/swagger-ui-bundle.js");
      for (const asset of assets) await request(app).get(asset).expect(200);
    }
  });

  it("points Swagger UI at the local document", async () => {
    const res = await request(app).get("/docs/init.js").expect(200);
    expect(res.headers["content-type"]).toMatch(/javascript/);
    expect(res.text).toContain('url: "/openapi.yaml"');
    expect(res.text).toContain("validatorUrl: null");
  });

  it("serves the Swagger UI files with their types, and nothing else from the package", async () => {
    const bundle = await request(app).get("/docs/assets/swagger-ui-bundle.js").expect(200);
    expect(bundle.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(bundle.text).toContain("SwaggerUIBundle");
    const css = await request(app).get("/docs/assets/swagger-ui.css").expect(200);
    expect(css.headers["content-type"]).toMatch(/^text\/css/);
    for (const path of ["/docs/assets/package.json", "/docs/assets/..%2Fpackage.json", "/docs/assets/index.html", "/docs/assets/"]) {
      await request(app).get(path).expect(404);
    }
  });
});
