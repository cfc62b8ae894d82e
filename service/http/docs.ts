// Serves the contract (GET /openapi.yaml) and an interactive Swagger UI (GET /docs). The UI's
// assets come from the swagger-ui-dist package installed with swagger-ui-express: deployments
// may have no internet access, and a CDN would also be a third party able to run script on a
// page where people paste bearer tokens.

import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Router, type Response } from "express";
import { parseDocument } from "yaml";
import { openapiText } from "../contract/contract-document.js";

const ASSETS: Readonly<Record<string, string>> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

// Everything the page loads is same-origin; Swagger UI sets inline style attributes, nothing more.
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Keyplane API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// A separate file rather than an inline script, so the CSP needs no 'unsafe-inline' for scripts.
const INIT = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
`;

/** Directory of swagger-ui-dist, resolved from swagger-ui-express so a nested install works too. */
function swaggerUiDistDir(): string {
  const require = createRequire(import.meta.url);
  const fromExpress = createRequire(require.resolve("swagger-ui-express"));
  const absolutePath = fromExpress("swagger-ui-dist/absolute-path") as () => string;
  return absolutePath();
}

/**
 * The contract as this service serves it: the same document with one server, `/`. A relative
 * server URL is resolved against the URL the document was fetched from, so Swagger UI's "Try it
 * out" and generated clients reach this service on whatever host and port it runs, without the
 * service trusting a Host header it cannot verify to write an absolute one.
 */
export function servedContract(text: string): string {
  const document = parseDocument(text);
  document.set("servers", [{ url: "/", description: "This Keyplane service (the origin this document is served from)" }]);
  return document.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** Routes for `GET /openapi.yaml`, `GET /docs` and the Swagger UI assets under `/docs/`. Mount at the root. */
export function docsRouter(): Router {
  // The app turns Express's per-response ETags off; these bodies are fixed, so theirs are computed
  // once and browsers still revalidate them (no-cache) with a 304.
  const etagOf = (body: string) => `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
  const [pageEtag, initEtag] = [PAGE, INIT].map(etagOf);
  // Rewriting the YAML costs as much as parsing it, which start-up should not wait for: done at
  // the first request for it.
  let contract: { body: string; etag: string } | undefined;
  const assetDir = swaggerUiDistDir();
  const router = Router();

  router.get("/openapi.yaml", (_req, res) => {
    if (!contract) {
      const body = servedContract(openapiText);
      contract = { body, etag: etagOf(body) };
    }
    res.type("text/yaml; charset=utf-8").set("Cache-Control", "no-cache").set("ETag", contract.etag).send(contract.body);
  });

  const page = (_req: unknown, res: Response) => {
    res.type("text/html; charset=utf-8").set("Content-Security-Policy", DOCS_CSP).set("Cache-Control", "no-cache").set("ETag", pageEtag).send(PAGE);
  };
  router.get("/docs", page);
  router.get("/docs/", page);

  router.get("/docs/init.js", (_req, res) => {
    res.type("text/javascript; charset=utf-8").set("Cache-Control", "no-cache").set("ETag", initEtag).send(INIT);
  });

  router.get("/docs/assets/:file", (req, res, next) => {
    const file = req.params.file;
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    // Only the listed files: the package directory is never browsable.
    if (type === undefined) return next();
    res.set("Cache-Control", "public, max-age=86400");
    res.type(type).sendFile(join(assetDir, file), (err) => {
      if (err) next(err);
    });
  });

  return router;
}
