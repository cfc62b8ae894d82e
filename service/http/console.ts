// Serves the admin console (a static single-page app built by `npm run build` into
// dist/service/console) at /console/, and sends / there. The page is same-origin only and runs
// under a Content-Security-Policy without 'unsafe-inline': a bearer token is typed into it.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServerResponse } from "node:http";
import express, { Router } from "express";

const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

/** dist/service/console of this package, whether this file runs compiled (dist/) or from source (tests). */
function consoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, "dist/service/console");
}

function securityHeaders(res: ServerResponse) {
  res.setHeader("Content-Security-Policy", CONSOLE_CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
}

/** Routes for `/` (a redirect) and everything under `/console/`. Mount at the root. */
export function consoleRouter(): Router {
  const root = consoleDir();
  const index = join(root, "index.html");
  const router = Router();

  router.get("/", (_req, res) => res.redirect(302, "/console/"));
  // Routes match with or without a trailing slash: only the bare path is sent on.
  router.get("/console", (req, res, next) => (req.path === "/console" ? res.redirect(301, "/console/") : next()));

  // Vite names every asset by its content hash, so a browser may keep them for good.
  router.use(
    "/console/assets",
    express.static(join(root, "assets"), {
      index: false,
      // The app's default no-store was set first, and the static server never overrides a header.
      setHeaders: (res) => {
        securityHeaders(res);
        res.setHeader("Cache-Control", "public, max-age=31536000, immutable");
      },
    }),
  );

  // Every other path is a page of the app: the same index.html, always revalidated so a new
  // build's asset names are picked up at once. A missing asset stays a 404.
  router.get(/^\/console\/(?!assets\/)/, (_req, res, next) => {
    if (!existsSync(index)) {
      res.status(503).type("text/plain; charset=utf-8").send("The console is not built: run `npm run build`.\n");
      return;
    }
    securityHeaders(res);
    res.set("Cache-Control", "no-cache");
    res.type("text/html; charset=utf-8").sendFile(index, (err) => {
      if (err) next(err);
    });
  });
  return router;
}
