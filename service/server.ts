import type { Server } from "node:http";
import type { Logger } from "pino";
import { loadConfig, type Config } from "./config.js";
import { openDb, migrate, type Db } from "./db/index.js";
import { assertKeyringCoversStoredKeys, loadMasterKeyring, refreshKeyringHealth, type MasterKeyring } from "./crypto/index.js";
import { openAuditChain } from "./audit/audit-service.js";
import { createLogger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";
import { createApp, type FeatureRegistrar } from "./http/app.js";
import { ensureBootstrapToken } from "./tokens/token-service.js";
import { destroyExpiredVersions } from "./credentials/credential-dal.js";
import { purgeIdempotencyKeys } from "./http/idempotency.js";
import { providerRoutes } from "./providers/provider-routes.js";
import { organizationRoutes } from "./organizations/organization-routes.js";
import { tokenRoutes } from "./tokens/token-routes.js";
import { credentialRoutes } from "./credentials/credential-routes.js";
import { auditRoutes } from "./audit/audit-routes.js";
import { projectRoutes } from "./projects/project-routes.js";
import { resolveRoutes } from "./resolve/resolve-routes.js";
import { platformKeyEnvVars } from "./resolve/platform-keys.js";
import { createRateLimits } from "./ratelimit/rate-limit-hooks.js";

// Express tries routes in registration order: the resolve path, which every AI call takes, first.
export const FEATURES: FeatureRegistrar[] = [
  resolveRoutes,
  providerRoutes,
  organizationRoutes,
  tokenRoutes,
  projectRoutes,
  credentialRoutes,
  auditRoutes,
];

export interface Runtime {
  config: Config;
  db: Db;
  keyring: MasterKeyring;
  log: Logger;
  app: ReturnType<typeof createApp>;
  /** Stops timers and closes the database (the HTTP server, if any, is closed by its owner). */
  close(): Promise<void>;
}

const MAINTENANCE_INTERVAL_MS = 15_000;

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
    log.info({ sealed_chains: audit.created.chains, sealed_legacy_events: audit.created.legacyEvents }, "created the audit key (events written before it stay sha256 links, sealed)");
  }
  const metrics = createMetrics();
  const app = createApp({ config, db, keyring, log, metrics }, FEATURES, createRateLimits(config.rateLimit).hooks);

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

  return {
    config,
    db,
    keyring,
    log,
    app,
    async close() {
      clearInterval(maintenance);
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

/** Stored master key ids this keyring lacks make it reload, and fail /readyz while still lacking. */
async function checkKeyring(db: Db, keyring: MasterKeyring, log: Logger): Promise<void> {
  const missing = await refreshKeyringHealth(db, keyring).catch(() => keyring.missing());
  if (missing.length > 0) log.error({ missing_master_key_ids: missing }, "stored data is wrapped by master keys this process does not hold; not ready");
}

/** Starts the HTTP server and stops gracefully on SIGTERM/SIGINT: no new connections, in-flight requests finish. */
export async function serve(runtime: Runtime): Promise<Server> {
  const { config, log, app } = runtime;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once("error", reject);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  log.info({ host: config.host, port, database: runtime.db.driver }, `Keyplane listening on http://${config.host}:${port}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: finishing in-flight requests");
    server.close(async () => {
      await runtime.close();
      log.info("stopped");
      log.flush?.();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      log.warn("in-flight requests did not finish in 10 s; exiting");
      process.exit(1);
    }, 10_000).unref();
  };
  // After the master key file changed (a rotation): adopt its key as the current one.
  process.on("SIGHUP", () => {
    void runtime.keyring.reload().then(
      (added) => log.info({ current: runtime.keyring.current.id, added }, "master keyring reloaded"),
      (error: Error) => log.error({ err: { name: error.name, message: error.message } }, "master keyring reload failed"),
    );
  });
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  return server;
}
