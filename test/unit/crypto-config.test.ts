// loadConfig: most of what it validates is key material (master keys, bootstrap token, platform keys).
import { inspect } from "node:util";
import { resolve, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../service/config.js";
import { MasterKey, reveal } from "../../service/crypto/index.js";

const KEY = MasterKey.generate().toBase64();
const TOKEN = "kp_bootstrap_0123456789abcdefghijklmnopqrstuv";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("has development defaults: embedded database under ./.keyplane", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      dataDir: resolve(".keyplane"),
      nodeEnv: "development",
      production: false,
      database: { driver: "pglite", dataDir: join(resolve(".keyplane"), "data") },
      masterKey: undefined,
      masterKeyFile: undefined,
      previousMasterKeys: [],
      bootstrapToken: undefined,
      logLevel: "info",
      bodyLimit: 64 * 1024,
      platformKeysFromEnv: false,
      outboundAllowPrivate: false,
      rateLimit: { resolvePerMinute: 600, authFailuresPerMinute: 30 },
    });
    expect(config.platformKeys.size).toBe(0);
  });

  it("serves provider releases from the checkout's dist/provider unless KEYPLANE_PROVIDER_DIR says otherwise", () => {
    expect(loadConfig({}).providerDir).toBe(resolve("dist/provider"));
    expect(loadConfig({ KEYPLANE_PROVIDER_DIR: "/srv/releases" }).providerDir).toBe("/srv/releases");
  });

  it("terminates TLS only with both KEYPLANE_TLS_CERT_FILE and KEYPLANE_TLS_KEY_FILE", () => {
    expect(loadConfig({}).tls).toBeUndefined();
    expect(loadConfig({ KEYPLANE_TLS_CERT_FILE: "/tls/cert.pem", KEYPLANE_TLS_KEY_FILE: "/tls/key.pem" }).tls).toEqual({
      certFile: "/tls/cert.pem",
      keyFile: "/tls/key.pem",
    });
    expect(configError({ KEYPLANE_TLS_CERT_FILE: "/tls/cert.pem" }).issues).toEqual([
      { variable: "KEYPLANE_TLS_KEY_FILE", message: expect.stringContaining("is required when KEYPLANE_TLS_CERT_FILE is set") },
    ]);
    expect(configError({ KEYPLANE_TLS_KEY_FILE: "/tls/key.pem" }).issues[0].variable).toBe("KEYPLANE_TLS_CERT_FILE");
  });

  it("reads every variable", () => {
    const config = loadConfig({
      PORT: "9090",
      HOST: "0.0.0.0",
      KEYPLANE_DATA_DIR: "/var/lib/keyplane",
      DATABASE_URL: "postgres://kp:pw@db:5432/kp",
      KEYPLANE_MASTER_KEY: KEY,
      KEYPLANE_MASTER_KEY_PREVIOUS: `${MasterKey.generate().toBase64()}, ${MasterKey.generate().toBase64()}`,
      KEYPLANE_BOOTSTRAP_TOKEN: TOKEN,
      KEYPLANE_LOG_LEVEL: "DEBUG",
      KEYPLANE_BODY_LIMIT: "1mb",
      KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: "0",
      KEYPLANE_DB_POOL_MAX: "4",
      KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
    });
    expect(config).toMatchObject({
      port: 9090,
      outboundAllowPrivate: true,
      host: "0.0.0.0",
      dataDir: "/var/lib/keyplane",
      logLevel: "debug",
      bodyLimit: 1024 * 1024,
      rateLimit: { resolvePerMinute: 0, authFailuresPerMinute: 30 },
      database: { driver: "pg", poolMax: 4, statementTimeoutMs: 15_000 },
    });
    expect(config.database.driver === "pg" && String(config.database.url)).toBe("[REDACTED]");
    expect(config.database.driver === "pg" && reveal(config.database.url)).toBe("postgres://kp:pw@db:5432/kp");
    expect(config.masterKey?.reveal()).toBe(KEY);
    expect(config.previousMasterKeys).toHaveLength(2);
    expect(config.bootstrapToken?.reveal()).toBe(TOKEN);
  });

  it("names the variable in every error", () => {
    const error = configError({
      PORT: "80a",
      KEYPLANE_LOG_LEVEL: "loud",
      KEYPLANE_BODY_LIMIT: "lots",
      KEYPLANE_ALLOW_EMBEDDED: "maybe",
      DATABASE_URL: "mysql://x",
    });
    expect(error.issues.map((i) => i.variable).sort()).toEqual([
      "DATABASE_URL",
      "KEYPLANE_ALLOW_EMBEDDED",
      "KEYPLANE_BODY_LIMIT",
      "KEYPLANE_LOG_LEVEL",
      "PORT",
    ]);
    expect(error.message).toContain('PORT must be an integer between 0 and 65535 (got "80a")');
  });

  it("keeps credential usage 400 days unless KEYPLANE_USAGE_RETENTION_DAYS says otherwise, never under 31", () => {
    expect(loadConfig({}).usageRetentionDays).toBe(400);
    expect(loadConfig({ KEYPLANE_USAGE_RETENTION_DAYS: "31" }).usageRetentionDays).toBe(31);
    for (const value of ["0", "30", "-1", "forever", "90.5"]) {
      const error = configError({ KEYPLANE_USAGE_RETENTION_DAYS: value });
      expect(error.issues.map((i) => i.variable)).toEqual(["KEYPLANE_USAGE_RETENTION_DAYS"]);
      expect(error.message).toContain(`KEYPLANE_USAGE_RETENTION_DAYS must be an integer between 31 and 36500`);
      expect(error.message).toContain(`(got "${value}")`);
    }
  });

  it("keeps exchanged tokens 7 days after they end unless KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS says otherwise, at least 1", () => {
    expect(loadConfig({}).exchangedTokenRetentionDays).toBe(7);
    expect(loadConfig({ KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS: "1" }).exchangedTokenRetentionDays).toBe(1);
    expect(loadConfig({ KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS: " 36500 " }).exchangedTokenRetentionDays).toBe(36_500);
    for (const value of ["0", "36501", "-1", "week", "7.5", "7d"]) {
      const error = configError({ KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS: value });
      expect(error.issues.map((i) => i.variable)).toEqual(["KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS"]);
      expect(error.message).toBe(`invalid configuration: KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS must be an integer between 1 and 36500 (got "${value}")`);
    }
  });

  it("rejects a short bootstrap token without echoing it", () => {
    const error = configError({ KEYPLANE_BOOTSTRAP_TOKEN: "short-secret-token" });
    expect(error.message).toBe("invalid configuration: KEYPLANE_BOOTSTRAP_TOKEN must be at least 32 characters (got 18)");
  });

  it("rejects a master key that is not base64 of 32 bytes without echoing it", () => {
    const bad = Buffer.alloc(16, 1).toString("base64");
    const error = configError({ KEYPLANE_MASTER_KEY: bad });
    expect(error.issues[0].variable).toBe("KEYPLANE_MASTER_KEY");
    expect(error.message).not.toContain(bad);
    expect(configError({ KEYPLANE_MASTER_KEY_PREVIOUS: `${KEY},${bad}` }).message).toContain("entry 2");
    expect(configError({ KEYPLANE_MASTER_KEY: KEY, KEYPLANE_MASTER_KEY_FILE: "/k" }).issues[0].variable).toBe("KEYPLANE_MASTER_KEY_FILE");
  });

  describe("production", () => {
    it("refuses to start without a master key", () => {
      const error = configError({ NODE_ENV: "production", DATABASE_URL: "postgres://db/kp" });
      expect(error.issues).toEqual([expect.objectContaining({ variable: "KEYPLANE_MASTER_KEY", message: expect.stringContaining("production") })]);
    });

    it("refuses the embedded database unless KEYPLANE_ALLOW_EMBEDDED=1", () => {
      const error = configError({ NODE_ENV: "production", KEYPLANE_MASTER_KEY: KEY });
      expect(error.issues).toEqual([expect.objectContaining({ variable: "DATABASE_URL", message: expect.stringContaining("KEYPLANE_ALLOW_EMBEDDED=1") })]);
      const config = loadConfig({ NODE_ENV: "production", KEYPLANE_MASTER_KEY: KEY, KEYPLANE_ALLOW_EMBEDDED: "1" });
      expect(config).toMatchObject({ production: true, allowEmbedded: true, database: { driver: "pglite" } });
    });

    it("starts with a key file and PostgreSQL", () => {
      const config = loadConfig({
        NODE_ENV: "production",
        KEYPLANE_MASTER_KEY_FILE: "/run/secrets/kp.key",
        DATABASE_URL: "postgresql://db/kp",
      });
      expect(config).toMatchObject({ production: true, masterKeyFile: "/run/secrets/kp.key" });
    });
  });

  describe("platform keys", () => {
    it("collects KEYPLANE_PLATFORM_<PROVIDER>_API_KEY into provider → key", () => {
      const config = loadConfig({
        KEYPLANE_PLATFORM_OPENAI_API_KEY: "sk-platform-openai",
        KEYPLANE_PLATFORM_AZURE_OPENAI_API_KEY: "az-platform",
        KEYPLANE_PLATFORM_GROQ_API_KEY: "",
      });
      expect([...config.platformKeys.keys()].sort()).toEqual(["azure_openai", "openai"]);
      expect(config.platformKeys.get("openai")?.reveal()).toBe("sk-platform-openai");
    });

    it("uses catalog env vars only with KEYPLANE_PLATFORM_KEYS_FROM_ENV=1; explicit variables win", () => {
      const env = {
        OPENAI_API_KEY: "sk-from-env",
        ANTHROPIC_API_KEY: "sk-ant-from-env",
        KEYPLANE_PLATFORM_ANTHROPIC_API_KEY: "sk-ant-explicit",
      };
      const providerEnvVars = { openai: "OPENAI_API_KEY", anthropic: "ANTHROPIC_API_KEY", gemini: "GEMINI_API_KEY" };
      expect(loadConfig(env, { providerEnvVars }).platformKeys.has("openai")).toBe(false);
      const config = loadConfig({ ...env, KEYPLANE_PLATFORM_KEYS_FROM_ENV: "1" }, { providerEnvVars });
      expect(config.platformKeysFromEnv).toBe(true);
      expect(config.platformKeys.get("openai")?.reveal()).toBe("sk-from-env");
      expect(config.platformKeys.get("anthropic")?.reveal()).toBe("sk-ant-explicit");
      expect(config.platformKeys.has("gemini")).toBe(false);
    });
  });

  it("never prints secrets when the whole config is logged", () => {
    const config = loadConfig({
      DATABASE_URL: "postgres://kp:db-password-123@db/kp",
      KEYPLANE_MASTER_KEY: KEY,
      KEYPLANE_BOOTSTRAP_TOKEN: TOKEN,
      KEYPLANE_PLATFORM_OPENAI_API_KEY: "sk-platform-openai-secret",
    });
    for (const text of [inspect(config, { depth: 10 }), JSON.stringify({ ...config, platformKeys: [...config.platformKeys] })]) {
      for (const secret of ["db-password-123", KEY, TOKEN, "sk-platform-openai-secret"]) {
        expect(text).not.toContain(secret);
      }
    }
  });
});
