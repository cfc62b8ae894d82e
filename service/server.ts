import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { openDb, migrate, type Db } from "./db/index.js";
import { assertKeyringCoversStoredKeys, loadMasterKeyring, refreshKeyringHealth, type MasterKeyring } from "./crypto/index.js";
import { openAuditChain } from "./audit/audit-service.js";
import { createLogger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";
import { createApp, type FeatureRegistrar } from "./http/app.js";
import { HttpProblem, problemBody } from "./http/problem.js";
import { ensureBootstrapToken, pruneEndedExchangedTokens } from "./tokens/token-service.js";
import { destroyExpiredVersions, pruneUsage } from "./credentials/credential-dal.js";
import { purgeIdempotencyKeys } from "./http/idempotency.js";
import { providerRoutes } from "./providers/provider-routes.js";
import { organizationRoutes } from "./organizations/organization-routes.js";
import { tokenRoutes } from "./tokens/token-routes.js";
import { credentialRoutes } from "./credentials/credential-routes.js";
import { auditRoutes } from "./audit/audit-routes.js";
import { identityRoutes } from "./identity/identity-routes.js";
import { projectRoutes } from "./projects/project-routes.js";
import { modelAliasRoutes } from "./model-aliases/model-alias-routes.js";
import { resolveRoutes } from "./resolve/resolve-routes.js";
import { providerRegistryRoutes } from "./provider-registry/registry-routes.js";
import { platformKeyEnvVars } from "./resolve/platform-keys.js";
import { createRateLimits } from "./http/rate-limit-hooks.js";

// Express tries routes in registration order: the resolve path, which every AI call takes, first.
export const FEATURES: FeatureRegistrar[] = [
  resolveRoutes,
  providerRoutes,
  organizationRoutes,
  tokenRoutes,
  projectRoutes,
  credentialRoutes,
  modelAliasRoutes,
  identityRoutes,
  auditRoutes,
  providerRegistryRoutes,
];

export interface Runtime {
  config: Config;
  db: Db;
  keyring: MasterKeyring;
  log: Logger;
  app: ReturnType<typeof createApp>;
  /** Answers requests held open (long-polls) at once, so that closing the HTTP server does not wait for them. */
  beginShutdown(): void;
  /** Stops timers and closes the database (the HTTP server, if any, is closed by its owner). */
  close(): Promise<void>;
}

const MAINTENANCE_INTERVAL_MS = 15_000;
/** Usage rows are per UTC day and retentions are whole days: pruning more often would only scan the tables again. */
const RETENTION_INTERVAL_MS = 24 * 3600 * 1000;

/** Everything but the listening socket: used by `serve` and by the API tests (supertest). */
export async function createRuntime(options: { config?: Config; log?: Logger; db?: Db } = {}): Promise<Runtime> {
  const config = options.config ?? loadConfig(process.env, { providerEnvVars: platformKeyEnvVars() });
  const log = options.log ?? createLogger(config.logLevel);
  const loaded = await loadMasterKeyring(config);
  if (loaded.source === "data-dir") {
    const what = loaded.generated ? "GENERATED a development master key" : "Using the development master key";
    log.warn({ path: loaded.path, generated: loaded.generated }, `${what}; set KEYPLANE_MASTER_KEY or KEYPLANE_MASTER_KEY_FILE for real deployments`);
    // Also a plain banner: this is the one warning a person starting the service must not miss.
    process.stderr.write(
      `\n  !!! ${what} at ${loaded.path}\n` +
        "  !!! Anyone who can read that file can decrypt every stored credential.\n" +
        "  !!! For anything but local development set KEYPLANE_MASTER_KEY or KEYPLANE_MASTER_KEY_FILE.\n\n",
    );
  }
  for (const warning of loaded.warnings) log.warn(warning);

  const db = options.db ?? (await openDb(config.database));
  await migrate(db);
  // From here on, queries run in each request's organization scope (as keyplane_app or keyplane_platform).
  db.enforceOrganizationScope();
  const keyring = loaded.keyring;
  await assertKeyringCoversStoredKeys(db, keyring);
  keyring.setLoader(async () => (await loadMasterKeyring({ ...config, existingOnly: true })).keyring);
  const audit = await openAuditChain(db, keyring);
  if (audit.created) {
    log.info(
      { sealed_chains: audit.created.chains, sealed_legacy_events: audit.created.legacyEvents },
      "created the audit key (events written before it stay sha256 links, sealed)",
    );
  }
  const metrics = createMetrics();
  const stopping = new AbortController();
  const app = createApp({ config, db, keyring, log, metrics, stopping: stopping.signal }, FEATURES, createRateLimits(config.rateLimit).hooks);

  const bootstrap = await ensureBootstrapToken(db, config.bootstrapToken?.reveal());
  if (bootstrap.refused) {
    log.warn(
      { reason: bootstrap.refused },
      bootstrap.refused === "revoked"
        ? "KEYPLANE_BOOTSTRAP_TOKEN names a revoked token; it will not be re-created. Starting without it: remove the variable, or create a platform-admin token with `keyplane token create --role platform_admin`"
        : "KEYPLANE_BOOTSTRAP_TOKEN names an organization's token; it will not become a platform admin. Starting without it: choose another value",
    );
  }
  if (bootstrap.token) {
    // Printed once, to stdout and not through the logger, because it is the only copy.
    process.stdout.write(
      `\nKeyplane created a platform-admin token. It is shown only this once:\n\n  ${bootstrap.token}\n\n` +
        "Store it now (e.g. export KEYPLANE_TOKEN=...). Set KEYPLANE_BOOTSTRAP_TOKEN to choose it yourself.\n\n",
    );
  }

  const maintenance = setInterval(() => {
    void runMaintenance(db, log);
    void checkKeyring(db, keyring, log);
  }, MAINTENANCE_INTERVAL_MS);
  maintenance.unref();
  const applyRetention = async () => {
    await pruneCredentialUsage(db, log, config.usageRetentionDays);
    await pruneExchangedTokens(db, log, config.exchangedTokenRetentionDays);
  };
  let pruning = applyRetention();
  const retention = setInterval(() => {
    pruning = applyRetention();
  }, RETENTION_INTERVAL_MS);
  retention.unref();

  return {
    config,
    db,
    keyring,
    log,
    app,
    beginShutdown() {
      stopping.abort();
    },
    async close() {
      stopping.abort();
      clearInterval(maintenance);
      clearInterval(retention);
      await pruning;
      await app.operations.unauthenticated.close().catch((error: Error) => {
        log.warn({ err: { name: error.name, code: (error as { code?: string }).code } }, "could not write the last unauthenticated-request counts");
      });
      await db.close();
    },
  };
}

export async function runMaintenance(db: Db, log: Logger): Promise<void> {
  try {
    const destroyed = await destroyExpiredVersions(db);
    if (destroyed > 0) log.info({ destroyed }, "destroyed ciphertext of versions whose grace period ended");
    await purgeIdempotencyKeys(db);
  } catch (error) {
    log.warn({ err: { name: (error as Error).name, code: (error as { code?: string }).code } }, "maintenance skipped");
  }
}

/** Runs one retention, logging how many rows it deleted or that it was skipped; never rejects. */
async function runRetention(log: Logger, retentionDays: number, prune: () => Promise<number>, deleted: string, skipped: string): Promise<void> {
  try {
    const pruned = await prune();
    if (pruned > 0) log.info({ pruned, retention_days: retentionDays }, deleted);
  } catch (error) {
    log.warn({ err: { name: (error as Error).name, code: (error as { code?: string }).code } }, skipped);
  }
}

/** Applies KEYPLANE_USAGE_RETENTION_DAYS to credential usage rows (never to audit events); never rejects. */
export function pruneCredentialUsage(db: Db, log: Logger, retentionDays: number): Promise<void> {
  return runRetention(
    log,
    retentionDays,
    () => pruneUsage(db, retentionDays),
    "pruned credential usage rows older than the retention",
    "credential usage retention skipped",
  );
}

/** Applies KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS to the tokens the identity exchange issued; never rejects. */
export function pruneExchangedTokens(db: Db, log: Logger, retentionDays: number): Promise<void> {
  return runRetention(
    log,
    retentionDays,
    () => pruneEndedExchangedTokens(db, retentionDays),
    "deleted exchanged tokens expired or revoked longer than the retention",
    "exchanged token retention skipped",
  );
}

/** Stored master key ids this keyring lacks make it reload, and fail /readyz while still lacking. */
async function checkKeyring(db: Db, keyring: MasterKeyring, log: Logger): Promise<void> {
  const missing = await refreshKeyringHealth(db, keyring).catch(() => keyring.missing());
  if (missing.length > 0) log.error({ missing_master_key_ids: missing }, "stored data is wrapped by master keys this process does not hold; not ready");
}

/** The port cannot be bound; the message names it and the reason, for the operator. */
class ListenError extends Error {
  override readonly name = "ListenError";
}

/**
 * Starts the service: binds the port, then builds the runtime, then serves it; stops gracefully
 * on SIGTERM/SIGINT (no new connections, in-flight requests finish).
 *
 * The port comes first so that a taken one fails at once with a clear message, before the
 * database is opened (an open pool would keep the process alive) and before a one-time bootstrap
 * token is created and printed by a process that would never serve it. Until the runtime is
 * ready, requests get 503 with Retry-After.
 */
export async function serve(options: { config?: Config } = {}): Promise<Server> {
  const config = options.config ?? loadConfig(process.env, { providerEnvVars: platformKeyEnvVars() });
  let handler: RequestListener = answerStarting;
  const tls = config.tls && readTlsFiles(config.tls);
  const server: Server | HttpsServer = tls ? createHttpsServer(tls, (req, res) => handler(req, res)) : createServer((req, res) => handler(req, res));
  await listen(server, config.port, config.host);
  let runtime: Runtime;
  try {
    runtime = await createRuntime({ config });
  } catch (error) {
    server.close();
    throw error;
  }
  const { log, app } = runtime;
  handler = app;
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const scheme = tls ? "https" : "http";
  log.info({ host: config.host, port, database: runtime.db.driver, tls: Boolean(tls) }, `Keyplane listening on ${scheme}://${config.host}:${port}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: finishing in-flight requests");
    runtime.beginShutdown();
    server.close(() => {
      // Both outcomes end the process: a failed close is logged and exits non-zero instead of
      // surfacing as an unhandled rejection.
      void runtime.close().then(
        () => {
          log.info("stopped");
          log.flush?.();
          process.exit(0);
        },
        (error: Error) => {
          log.error({ err: { name: error.name, message: error.message } }, "shutdown: closing the runtime failed");
          log.flush?.();
          process.exit(1);
        },
      );
    });
    server.closeIdleConnections();
    setTimeout(() => {
      log.warn("in-flight requests did not finish in 10 s; exiting");
      process.exit(1);
    }, 10_000).unref();
  };
  // After the master key file changed (a rotation): adopt its key as the current one. A renewed
  // TLS certificate is picked up the same way, for new connections.
  process.on("SIGHUP", () => {
    if (config.tls && "setSecureContext" in server) {
      try {
        server.setSecureContext(readTlsFiles(config.tls));
        log.info("TLS certificate reloaded");
      } catch (error) {
        log.error({ err: { name: (error as Error).name, message: (error as Error).message } }, "TLS certificate reload failed; keeping the previous one");
      }
    }
    void runtime.keyring.reload().then(
      (added) => log.info({ current: runtime.keyring.current.id, added }, "master keyring reloaded"),
      (error: Error) => log.error({ err: { name: error.name, message: error.message } }, "master keyring reload failed"),
    );
  });
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  return server;
}

/** The certificate chain and key, checked to be PEM that belong together; a ConfigError naming the variable otherwise. */
function readTlsFiles(files: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (variable: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError([{ variable, message: `cannot be read: ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})` }]);
    }
  };
  const pair = { cert: read("KEYPLANE_TLS_CERT_FILE", files.certFile), key: read("KEYPLANE_TLS_KEY_FILE", files.keyFile) };
  try {
    createSecureContext(pair);
  } catch (error) {
    // OpenSSL's reason (e.g. "key values mismatch", "no start line"); never the key's bytes.
    const reason = (error as Error).message.split("\n")[0];
    throw new ConfigError([
      {
        variable: "KEYPLANE_TLS_KEY_FILE",
        message: `and KEYPLANE_TLS_CERT_FILE must be a PEM private key and the PEM certificate (chain) it belongs to (${reason})`,
      },
    ]);
  }
  return pair;
}

function listen(server: Server | HttpsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      server.off("listening", listening);
      reject(new ListenError(listenFailure(error, port, host)));
    };
    const listening = () => {
      server.off("error", failed);
      resolve();
    };
    server.once("error", failed);
    server.once("listening", listening);
    server.listen(port, host);
  });
}

function listenFailure(error: NodeJS.ErrnoException, port: number, host: string): string {
  switch (error.code) {
    case "EADDRINUSE":
      return `port ${port} on ${host} is already in use; stop what holds it or set PORT to another port`;
    case "EACCES":
      return `no permission to listen on port ${port} on ${host} (ports below 1024 need privileges); set PORT to another port`;
    case "EADDRNOTAVAIL":
      return `${host} is not an address of this machine; set HOST to one of its addresses (or 0.0.0.0)`;
    default:
      return `cannot listen on ${host}:${port} (${error.code ?? error.message})`;
  }
}

const STARTING = new HttpProblem(503, "starting", "Service unavailable", "Keyplane is starting; retry shortly.", undefined, { "Retry-After": "1" });

function answerStarting(_req: Parameters<RequestListener>[0], res: Parameters<RequestListener>[1]): void {
  res.writeHead(503, { ...STARTING.headers, "Content-Type": "application/problem+json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(problemBody(STARTING, randomUUID())));
}
