import { describe, expect, it } from "vitest";
import request from "supertest";
import { openDb } from "../../service/db/index.js";
import { createApp } from "../../service/http/app.js";
import { FEATURES } from "../../service/server.js";
import { loadConfig } from "../../service/config.js";
import { createLogger } from "../../service/observability/logger.js";
import { createMetrics } from "../../service/observability/metrics.js";
import { MasterKey, MasterKeyring } from "../../service/crypto/index.js";
import { bearer, seedOrganization, startTestRuntime } from "../support/runtime.js";
import { freePort } from "../support/service-process.js";

describe("database unreachable", () => {
  it("answers 503 with Retry-After (PostgreSQL down), never 500", async () => {
    // A port nothing listens on once the probe server is closed.
    const port = await freePort();
    const config = loadConfig({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`, KEYPLANE_MASTER_KEY: MasterKey.generate().toBase64() });
    const db = await openDb({ driver: "pg", url: `postgres://postgres@127.0.0.1:${port}/none`, connectionTimeoutMs: 1000 });
    const app = createApp({ config, db, keyring: new MasterKeyring(MasterKey.generate()), log: createLogger("silent"), metrics: createMetrics() }, FEATURES);
    const token = `kp_${"a".repeat(43)}`;
    const res = await request(app).get("/v1/organizations/org_00000000000000000000000000/credentials").set(bearer(token));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBeDefined();
    expect(res.body.code).toBe("database_unavailable");
    const ready = await request(app).get("/readyz");
    expect(ready.status).toBe(503);
    expect((await request(app).get("/healthz")).status).toBe(200);
    await db.close();
  });

  it("answers 503 when the embedded database has gone away", async () => {
    const t = await startTestRuntime("pglite");
    const { org, tokens } = await seedOrganization(t);
    await t.testDb.db.close();
    const res = await t.api
      .post(`/v1/organizations/${org.id}/credentials`)
      .set(bearer(tokens.admin))
      .send({ provider: "openai", name: "x", api_key: "sk-unavailable0000000000000000000000" });
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("2");
    await t.close();
  }, 60_000);
});
