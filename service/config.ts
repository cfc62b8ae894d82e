import { isIP } from "node:net";
import { existsSync } from "node:fs";
import { dirname, resolve, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { decodeBase64Key } from "./crypto/master-key.js";
import { Redacted } from "./crypto/redacted.js";
import type { DbOptions } from "./db/types.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  port: number;
  host: string;
  /** Absolute KEYPLANE_DATA_DIR: the embedded database (`data/`) and the development master key. */
  dataDir: string;
  nodeEnv: string;
  production: boolean;
  /** PostgreSQL when DATABASE_URL is set, else PGlite in `${dataDir}/data`. Pass to openDb(). */
  database: DbOptions;
  allowEmbedded: boolean;
  /** KEYPLANE_MASTER_KEY, already checked to be base64 of 32 bytes. */
  masterKey: Redacted<string> | undefined;
  /** KEYPLANE_MASTER_KEY_FILE (absolute). Read by loadMasterKeyring(config). */
  masterKeyFile: string | undefined;
  /** KEYPLANE_MASTER_KEY_PREVIOUS: keys that still unwrap rows not yet re-wrapped. */
  previousMasterKeys: Redacted<string>[];
  bootstrapToken: Redacted<string> | undefined;
  logLevel: LogLevel;
  /** KEYPLANE_BODY_LIMIT in bytes (default 64 KiB). */
  bodyLimit: number;
  /** provider id → platform key (KEYPLANE_PLATFORM_<PROVIDER>_API_KEY, plus catalog env vars when enabled). */
  platformKeys: ReadonlyMap<string, Redacted<string>>;
  platformKeysFromEnv: boolean;
  /**
   * KEYPLANE_OUTBOUND_ALLOW_PRIVATE: outbound calls (verify) may reach loopback and private
   * addresses — for a self-hosted gateway on the internal network, and for tests.
   */
  outboundAllowPrivate: boolean;
  /**
   * KEYPLANE_ALLOW_INSECURE_ISSUERS: identity bindings may name plain-http issuers and key sets,
   * for tests and local development only (anyone on the path could swap the keys).
   */
  allowInsecureIssuers: boolean;
  /**
   * KEYPLANE_TRUST_PROXY as Express's `trust proxy`: a hop count, or the proxies' addresses and
   * subnets; false (unset) takes the socket peer as the client and ignores X-Forwarded-For.
   */
  trustProxy: false | number | string[];
  /**
   * KEYPLANE_PROVIDER_DIR (absolute): the provider releases the registry protocol serves;
   * default `dist/provider` of the checkout the service runs from (what `npm run build:provider` writes).
   */
  providerDir: string;
  /** KEYPLANE_TLS_CERT_FILE and KEYPLANE_TLS_KEY_FILE (absolute): the service terminates TLS itself. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** KEYPLANE_USAGE_RETENTION_DAYS: credential usage rows (one per credential and UTC day) older than this are pruned. */
  usageRetentionDays: number;
  /** KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS: tokens issued by the identity exchange are deleted this long after they expired or were revoked. */
  exchangedTokenRetentionDays: number;
  /** Requests per minute per token; 0 disables the limit. */
  rateLimit: { resolvePerMinute: number; authFailuresPerMinute: number; tokenExchangesPerMinute: number; auditedExchangeRefusalsPerMinute: number };
}

export interface ConfigIssue {
  variable: string;
  message: string;
}

/** Invalid environment. The message names every offending variable and never echoes a secret. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(
      issues.length === 1
        ? `invalid configuration: ${issues[0].variable} ${issues[0].message}`
        : `invalid configuration:\n${issues.map((i) => `  - ${i.variable} ${i.message}`).join("\n")}`,
    );
    this.issues = issues;
  }
}

export interface LoadConfigOptions {
  /**
   * provider id → catalog env var (e.g. openai → OPENAI_API_KEY). With
   * KEYPLANE_PLATFORM_KEYS_FROM_ENV=1 those variables become platform keys.
   */
  providerEnvVars?: Readonly<Record<string, string>>;
}

const BOOL_TRUE = new Set(["1", "true", "yes", "on"]);
const BOOL_FALSE = new Set(["0", "false", "no", "off", ""]);

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

const flag = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const normalized = (v ?? "").trim().toLowerCase();
    if (BOOL_TRUE.has(normalized)) return true;
    if (BOOL_FALSE.has(normalized)) return false;
    ctx.addIssue({ code: "custom", message: "must be 1/true/yes/on or 0/false/no/off" });
    return z.NEVER;
  });

/** `why` explains the bounds in the error, when they are not obvious. */
function integer(defaultValue: number, min: number, max: number, why?: string) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return defaultValue;
      const n = Number(v);
      if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `must be an integer between ${min} and ${max}${why ? ` (${why})` : ""} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1024, mb: 1024 * 1024 };

const byteSize = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const match = /^\s*(\d+)\s*(b|kb|mb)?\s*$/i.exec(v ?? "64kb");
    const bytes = match ? Number(match[1]) * SIZE_UNITS[(match[2] ?? "").toLowerCase()] : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 1024 || bytes > 100 * 1024 * 1024) {
      ctx.addIssue({ code: "custom", message: `must be a size between 1kb and 100mb such as "64kb" (got "${v}")` });
      return z.NEVER;
    }
    return bytes;
  });

function isMasterKeyBase64(text: string): boolean {
  const bytes = decodeBase64Key(text);
  bytes?.fill(0);
  return bytes !== null;
}

const TRUST_PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** An IP address, optionally with a prefix length (a subnet), as Express's `trust proxy` takes them. */
function isAddressOrSubnet(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const trustProxy = optionalText.transform((v, ctx): false | number | string[] => {
  if (v === undefined) return false;
  if (/^\s*\d{1,2}\s*$/.test(v)) return Number(v);
  const entries = v.split(",").map((e) => e.trim());
  if (entries.every((e) => TRUST_PROXY_NAMES.has(e) || isAddressOrSubnet(e))) return entries;
  ctx.addIssue({
    code: "custom",
    message:
      "must be the number of proxy hops (e.g. 1), or a comma-separated list of the proxies' addresses, subnets " +
      "(e.g. 10.0.0.0/8) and loopback/linklocal/uniquelocal. `true` is refused: it would let any client choose its own address",
  });
  return z.NEVER;
});

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const schema = z
  .object({
    PORT: integer(8080, 0, 65535),
    HOST: optionalText.transform((v) => v ?? "127.0.0.1"),
    KEYPLANE_DATA_DIR: optionalText.transform((v) => resolve(v ?? "./.keyplane")),
    DATABASE_URL: optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\/.+/.test(v), {
      // The value may contain a password: do not echo it.
      message: "must be a postgres:// or postgresql:// URL",
    }),
    KEYPLANE_MASTER_KEY: optionalText.refine((v) => v === undefined || isMasterKeyBase64(v), {
      message: "must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)",
    }),
    KEYPLANE_MASTER_KEY_FILE: optionalText.transform((v) => (v === undefined ? undefined : resolve(v))),
    KEYPLANE_MASTER_KEY_PREVIOUS: optionalText.transform((v, ctx) => {
      const keys = (v ?? "")
        .split(",")
        .map((k) => k.trim())
        .filter((k) => k !== "");
      keys.forEach((key, i) => {
        if (!isMasterKeyBase64(key)) {
          ctx.addIssue({ code: "custom", message: `entry ${i + 1} must be base64 of exactly 32 bytes` });
        }
      });
      return keys;
    }),
    NODE_ENV: optionalText.transform((v) => v ?? "development"),
    KEYPLANE_ALLOW_EMBEDDED: flag,
    KEYPLANE_BOOTSTRAP_TOKEN: optionalText.superRefine((v, ctx) => {
      if (v !== undefined && v.length < 32) {
        ctx.addIssue({ code: "custom", message: `must be at least 32 characters (got ${v.length})` });
      }
    }),
    KEYPLANE_LOG_LEVEL: optionalText
      .transform((v) => (v ?? "info").toLowerCase())
      .refine((v): v is LogLevel => (LOG_LEVELS as readonly string[]).includes(v), {
        message: `must be one of ${LOG_LEVELS.join(", ")}`,
      }),
    KEYPLANE_BODY_LIMIT: byteSize,
    KEYPLANE_PLATFORM_KEYS_FROM_ENV: flag,
    KEYPLANE_OUTBOUND_ALLOW_PRIVATE: flag,
    KEYPLANE_ALLOW_INSECURE_ISSUERS: flag,
    KEYPLANE_TRUST_PROXY: trustProxy,
    KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: integer(600, 0, 1_000_000),
    KEYPLANE_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: integer(30, 0, 1_000_000),
    KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: integer(120, 0, 1_000_000),
    KEYPLANE_AUDITED_EXCHANGE_REFUSALS_PER_MINUTE: integer(30, 0, 1_000_000),
    KEYPLANE_PROVIDER_DIR: optionalText.transform((v) => resolve(v ?? join(packageRoot(), "dist/provider"))),
    KEYPLANE_TLS_CERT_FILE: optionalText.transform((v) => (v === undefined ? undefined : resolve(v))),
    KEYPLANE_TLS_KEY_FILE: optionalText.transform((v) => (v === undefined ? undefined : resolve(v))),
    KEYPLANE_USAGE_RETENTION_DAYS: integer(400, 31, 36_500, "credential usage counts resolves of the last 30 days"),
    KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS: integer(7, 1, 36_500),
    KEYPLANE_DB_POOL_MAX: integer(10, 1, 1000),
    KEYPLANE_DB_STATEMENT_TIMEOUT_MS: integer(15_000, 100, 3_600_000),
  })
  .superRefine((env, ctx) => {
    if (env.KEYPLANE_MASTER_KEY !== undefined && env.KEYPLANE_MASTER_KEY_FILE !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["KEYPLANE_MASTER_KEY_FILE"],
        message: "cannot be combined with KEYPLANE_MASTER_KEY; set only one",
      });
    }
    // One without the other would serve plain HTTP to clients that expect TLS, or not start at all.
    for (const [set, missing] of [
      ["KEYPLANE_TLS_CERT_FILE", "KEYPLANE_TLS_KEY_FILE"],
      ["KEYPLANE_TLS_KEY_FILE", "KEYPLANE_TLS_CERT_FILE"],
    ] as const) {
      if (env[set] !== undefined && env[missing] === undefined) {
        ctx.addIssue({ code: "custom", path: [missing], message: `is required when ${set} is set (the service terminates TLS only with both)` });
      }
    }
    if (env.NODE_ENV !== "production") return;
    if (env.KEYPLANE_MASTER_KEY === undefined && env.KEYPLANE_MASTER_KEY_FILE === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["KEYPLANE_MASTER_KEY"],
        message: "is required with NODE_ENV=production (or KEYPLANE_MASTER_KEY_FILE); refusing to start with a generated development key",
      });
    }
    if (env.DATABASE_URL === undefined && !env.KEYPLANE_ALLOW_EMBEDDED) {
      ctx.addIssue({
        code: "custom",
        path: ["DATABASE_URL"],
        message: "is required with NODE_ENV=production; refusing the embedded database unless KEYPLANE_ALLOW_EMBEDDED=1",
      });
    }
  });

/** The directory of this package's package.json, whether this file runs compiled (dist/) or from source (tests). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const PLATFORM_KEY_VAR = /^KEYPLANE_PLATFORM_([A-Z0-9_]+)_API_KEY$/;

/** Reads and validates the environment. Throws ConfigError naming each bad variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env, opts: LoadConfigOptions = {}): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? "environment"), message: issue.message })));
  }
  const v = parsed.data;

  const platformKeys = new Map<string, Redacted<string>>();
  if (v.KEYPLANE_PLATFORM_KEYS_FROM_ENV) {
    for (const [provider, envVar] of Object.entries(opts.providerEnvVars ?? {})) {
      const value = env[envVar];
      if (value !== undefined && value.trim() !== "") platformKeys.set(provider, new Redacted(value.trim()));
    }
  }
  // Explicit KEYPLANE_PLATFORM_* variables win over the catalog variables.
  for (const [name, value] of Object.entries(env)) {
    const match = PLATFORM_KEY_VAR.exec(name);
    if (match && value !== undefined && value.trim() !== "") {
      platformKeys.set(match[1].toLowerCase(), new Redacted(value.trim()));
    }
  }

  const database: DbOptions = v.DATABASE_URL
    ? {
        driver: "pg",
        url: new Redacted(v.DATABASE_URL),
        poolMax: v.KEYPLANE_DB_POOL_MAX,
        statementTimeoutMs: v.KEYPLANE_DB_STATEMENT_TIMEOUT_MS,
      }
    : { driver: "pglite", dataDir: join(v.KEYPLANE_DATA_DIR, "data") };

  return {
    port: v.PORT,
    host: v.HOST,
    dataDir: v.KEYPLANE_DATA_DIR,
    nodeEnv: v.NODE_ENV,
    production: v.NODE_ENV === "production",
    database,
    allowEmbedded: v.KEYPLANE_ALLOW_EMBEDDED,
    masterKey: v.KEYPLANE_MASTER_KEY === undefined ? undefined : new Redacted(v.KEYPLANE_MASTER_KEY.trim()),
    masterKeyFile: v.KEYPLANE_MASTER_KEY_FILE,
    previousMasterKeys: v.KEYPLANE_MASTER_KEY_PREVIOUS.map((k) => new Redacted(k)),
    bootstrapToken: v.KEYPLANE_BOOTSTRAP_TOKEN === undefined ? undefined : new Redacted(v.KEYPLANE_BOOTSTRAP_TOKEN),
    logLevel: v.KEYPLANE_LOG_LEVEL,
    bodyLimit: v.KEYPLANE_BODY_LIMIT,
    platformKeys,
    platformKeysFromEnv: v.KEYPLANE_PLATFORM_KEYS_FROM_ENV,
    outboundAllowPrivate: v.KEYPLANE_OUTBOUND_ALLOW_PRIVATE,
    allowInsecureIssuers: v.KEYPLANE_ALLOW_INSECURE_ISSUERS,
    trustProxy: v.KEYPLANE_TRUST_PROXY,
    providerDir: v.KEYPLANE_PROVIDER_DIR,
    tls: v.KEYPLANE_TLS_CERT_FILE && v.KEYPLANE_TLS_KEY_FILE ? { certFile: v.KEYPLANE_TLS_CERT_FILE, keyFile: v.KEYPLANE_TLS_KEY_FILE } : undefined,
    usageRetentionDays: v.KEYPLANE_USAGE_RETENTION_DAYS,
    exchangedTokenRetentionDays: v.KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS,
    rateLimit: {
      resolvePerMinute: v.KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE,
      authFailuresPerMinute: v.KEYPLANE_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
      tokenExchangesPerMinute: v.KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE,
      auditedExchangeRefusalsPerMinute: v.KEYPLANE_AUDITED_EXCHANGE_REFUSALS_PER_MINUTE,
    },
  };
}
