import express, { type NextFunction, type Request, type Response } from "express";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../db/index.js";
import { DatabaseUnavailableError, ForeignKeyViolationError } from "../db/index.js";
import type { Metrics } from "../observability/metrics.js";
import { Authenticator } from "../auth/authenticate.js";
import { UnauthenticatedDenials } from "../auth/unauthenticated-denials.js";
import { HttpProblem, problemBody, problemFromDomainError, problems } from "./problem.js";
import { DomainError } from "../errors.js";
import { docsRouter } from "./docs.js";
import { consoleRouter } from "./console.js";
import { OperationRouter, type GuardHooks } from "./operation-router.js";
import type { RequestContext } from "./context.js";
import type { MasterKeyring } from "../crypto/index.js";

export interface AppServices {
  config: Config;
  db: Db;
  keyring: MasterKeyring;
  log: Logger;
  metrics: Metrics;
  /** Aborted when the service begins to stop: requests held open (long-polls) answer at once. */
  stopping?: AbortSignal;
}

/** Each feature folder exports one of these; it binds its operationIds to handlers. */
export type FeatureRegistrar = (ops: OperationRouter, services: AppServices) => void;

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(services: AppServices, features: FeatureRegistrar[], hooks: GuardHooks = {}) {
  const app = express();
  app.disable("x-powered-by");
  // Which X-Forwarded-For hops to believe (KEYPLANE_TRUST_PROXY): req.ip is then the client behind
  // the proxies, for the failed-authentication limit and the audit log.
  app.set("trust proxy", services.config.trustProxy);
  app.set("query parser", "simple");
  // ETags are the contract's (credential versions, the environment digest), set by their handlers.
  // Express's automatic one would hash every body into a header, a resolved secret's included.
  app.set("etag", false);

  // The request line has a fixed shape of non-secret fields (ids, method, path, status), so it
  // skips the redaction pass, which costs about three times the rest of writing the line.
  const requestLog = services.log.child({}, { redact: { paths: [] } });
  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.get("x-request-id");
    const requestId = incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    req.kp = requestContext(services.log, requestId);
    res.setHeader("X-Request-Id", requestId);
    res.setHeader("Cache-Control", "no-store");
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.kp.operationId ?? "unmatched";
      services.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      services.metrics.httpDuration.observe({ method: req.method, route }, seconds);
      const actor = req.kp.actor;
      requestLog.info(
        {
          request_id: requestId,
          ...(actor ? { actor_token_id: actor.tokenId, role: actor.role } : {}),
          method: req.method,
          path: req.path,
          operation: route,
          status: res.statusCode,
          ms: Math.round(seconds * 1e4) / 10,
        },
        "request",
      );
    });
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    // Stored data wrapped by a master key this process lacks: it cannot serve those credentials.
    const missingMasterKeys = services.keyring.missing();
    if (missingMasterKeys.length > 0) {
      res.status(503).set("Retry-After", "15").json({ status: "unavailable", missing_master_key_ids: missingMasterKeys });
      return;
    }
    try {
      await services.db.ping();
      res.json({ status: "ready", database: services.db.driver });
    } catch {
      res.status(503).set("Retry-After", "2").json({ status: "unavailable", database: services.db.driver });
    }
  });
  app.get("/metrics", async (_req, res) => {
    res.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics());
  });
  app.use(docsRouter());
  app.use(consoleRouter());

  app.use(requireJsonBody);
  app.use(express.json({ limit: services.config.bodyLimit, strict: true, type: () => true }));

  const ops = new OperationRouter(services.db, new Authenticator(services.db), new UnauthenticatedDenials(services.db, services.log), hooks);
  for (const register of features) register(ops, services);
  app.use(ops.router);

  app.use((req: Request) => {
    throw new HttpProblem(404, "not_found", "Not found", `No route for ${req.method} ${req.path.slice(0, 200)}.`);
  });
  app.use(errorHandler);
  return Object.assign(app, { operations: ops });
}

/** The request's context; its child logger is made on first use, as most requests never log. */
function requestContext(log: Logger, requestId: string): RequestContext {
  let child: Logger | undefined;
  return {
    requestId,
    actor: null,
    operationId: null,
    get log() {
      child ??= log.child({
        request_id: requestId,
        ...(this.actor ? { actor_token_id: this.actor.tokenId, role: this.actor.role } : {}),
      });
      return child;
    },
  };
}

/** Bodies are JSON only; anything else is 415 rather than silently ignored. */
function requireJsonBody(req: Request, _res: Response, next: NextFunction) {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (!hasBody) return next();
  const type = req.get("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) throw problems.unsupportedMediaType();
  next();
}

function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction) {
  const problem = toProblem(err, req);
  if (problem.status >= 500 && problem.code !== "database_unavailable") {
    req.kp?.log.error({ err: describeError(err) }, "unhandled error");
  } else if (problem.code === "database_unavailable") {
    req.kp?.log.warn({ err: describeError(err) }, "database unavailable");
  }
  if (res.headersSent) return;
  res.status(problem.status).set(problem.headers).type("application/problem+json");
  res.send(JSON.stringify(problemBody(problem, req.kp?.requestId ?? "unknown")));
}

function toProblem(err: unknown, _req: Request): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (err instanceof DomainError) return problemFromDomainError(err);
  if (err instanceof DatabaseUnavailableError) return problems.unavailable();
  // The organization was deleted between the router's existence check and this request's write.
  if (err instanceof ForeignKeyViolationError && /_organization_id_fkey$/.test(err.constraint ?? "")) return problems.notFound("organization");
  const e = err as { type?: string; status?: number };
  // body-parser errors: never echo their message, which can quote the body.
  if (e?.type === "entity.parse.failed") return problems.malformedJson();
  if (e?.type === "entity.too.large") return problems.payloadTooLarge();
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return problems.unsupportedMediaType();
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
    return problems.badRequest("The request could not be read.");
  }
  return new HttpProblem(500, "internal_error", "Internal error", "An unexpected error occurred; it has been logged.");
}

/** Logs the error's class, code and stack frames, never its message's data fields. */
function describeError(err: unknown) {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, code: (err as { code?: string }).code, stack: err.stack };
  }
  return { value: typeof err };
}
