/**
 * The resolve path keeps the chosen candidate row between changes (service/resolve/candidate-cache.ts).
 * A change through the same instance is seen by the very next resolve; a change through another
 * instance of the service is seen once its PostgreSQL notification arrived; while the
 * notification feed is down nothing stays cached, and what changed meanwhile is seen after it is back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../service/config.js";
import { openDb, type Db } from "../../service/db/index.js";
import { createLogger } from "../../service/observability/logger.js";
import { createRuntime, type Runtime } from "../../service/server.js";
import { testDatabases } from "../support/db.js";
import { bearer, type TestRuntime } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEYS = Array.from({ length: 6 }, (_, i) => `sk-cache${String(i).repeat(32)}`);

for (const kind of testDatabases()) {
  describe(`resolve cache (${kind})`, () => {
    const t = useApiFixture(kind);
    let credential: string;

    beforeAll(async () => {
      credential = (
        await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send({ provider: "openai", name: "c", api_key: KEYS[0], is_default: true })
      ).body.id;
    }, 60_000);

    const resolveOn = (api: TestRuntime["api"]) => api.post(`/v1/organizations/${t.orgId}/resolve`).set(t.resolver).send({ provider: "openai" });

    it("sees a change made through the same instance on the very next resolve", async () => {
      const base = `/v1/organizations/${t.orgId}/credentials/${credential}`;
      for (let i = 0; i < 3; i++) expect((await resolveOn(t.api)).body.secret).toBe(KEYS[0]);
      // No digest of a body that carries a secret goes into a header (Express's automatic ETag).
      expect((await resolveOn(t.api)).headers.etag).toBeUndefined();

      expect((await t.api.post(`${base}/rotate`).set(t.admin).send({ api_key: KEYS[1] })).status).toBe(200);
      expect((await resolveOn(t.api)).body.secret).toBe(KEYS[1]);

      // Just resolved, so in use: only a forced deactivation goes through.
      expect((await t.api.post(`${base}/deactivate`).query({ force: true }).set(t.admin).send()).status).toBe(200);
      expect((await resolveOn(t.api)).body.code).toBe("no_credential");

      expect((await t.api.post(`${base}/activate`).set(t.admin).send()).status).toBe(200);
      expect((await resolveOn(t.api)).body.secret).toBe(KEYS[1]);
    });

    it("announces no change for denied requests, so a flood of them does not empty the caches", async () => {
      const announced: string[] = [];
      const unsubscribe = t.runtime.db.changes.subscribe((organizationId) => announced.push(organizationId));
      try {
        for (const token of ["kp_" + "x".repeat(43), t.resolver.Authorization.slice("Bearer ".length)]) {
          const denied = await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(token));
          expect([401, 403]).toContain(denied.status);
        }
      } finally {
        unsubscribe();
      }
      expect(announced).toEqual([]);
    });

    it.runIf(kind === "pg")("sees a change made through another instance once its notification arrived", async () => {
      const other = await startSecondInstance(t);
      try {
        expect((await resolveOn(t.api)).body.secret).toBe(KEYS[1]);
        const announced = nextAnnouncement(t.runtime.db, t.orgId);
        const rotated = await other.api.post(`/v1/organizations/${t.orgId}/credentials/${credential}/rotate`).set(t.admin).send({ api_key: KEYS[2] });
        expect(rotated.status).toBe(200);
        await announced;
        expect((await resolveOn(t.api)).body.secret).toBe(KEYS[2]);
      } finally {
        await other.close();
      }
    });

    it.runIf(kind === "pg")("refuses a token revoked through another instance once its notification arrived", async () => {
      const other = await startSecondInstance(t);
      try {
        const issued = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "resolver", name: "revoked elsewhere" });
        expect(issued.status).toBe(201);
        const doomed = bearer(issued.body.token);
        const resolveWith = () => t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(doomed).send({ provider: "openai" });
        // Twice: the second is answered from this instance's token cache.
        expect((await resolveWith()).status).toBe(200);
        expect((await resolveWith()).status).toBe(200);

        const announced = nextAnnouncement(t.runtime.db, t.orgId);
        expect((await other.api.delete(`/v1/organizations/${t.orgId}/tokens/${issued.body.id}`).set(t.admin)).status).toBe(204);
        await announced;
        // Well inside the cache's 5 s lifetime: the notification, not expiry, dropped the token.
        const refused = await resolveWith();
        expect(refused.status).toBe(401);
        expect(refused.body.code).toBe("unauthenticated");
      } finally {
        await other.close();
      }
    });

    it.runIf(kind === "pg")("keeps nothing while the notification feed is down and forgets everything when it is back", async () => {
      const other = await startSecondInstance(t);
      try {
        expect((await resolveOn(t.api)).body.secret).toBe(KEYS[2]);
        expect(t.runtime.db.changes.live).toBe(true);
        // Cut this instance's LISTEN connection, then change the credential while it reconnects.
        const superuser = new pg.Client({ connectionString: t.testDb.url });
        await superuser.connect();
        await superuser.query(
          "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'keyplane-changes'",
        );
        await superuser.end();
        await waitFor(() => !t.runtime.db.changes.live);
        // Resolved while the feed is down: were it kept, the next resolve would still return it.
        expect((await resolveOn(t.api)).body.secret).toBe(KEYS[2]);
        const rotated = await other.api.post(`/v1/organizations/${t.orgId}/credentials/${credential}/rotate`).set(t.admin).send({ api_key: KEYS[3] });
        expect(rotated.status).toBe(200);
        expect((await resolveOn(t.api)).body.secret).toBe(KEYS[3]);
        await waitFor(() => t.runtime.db.changes.live);
        expect((await resolveOn(t.api)).body.secret).toBe(KEYS[3]);
      } finally {
        await other.close();
      }
    });
  });
}

/** Resolves when `db` announces a change of `organizationId` (or of every organization). */
function nextAnnouncement(db: Db, organizationId: string): Promise<void> {
  return new Promise((resolve) => {
    const unsubscribe = db.changes.subscribe((changed) => {
      if (changed !== organizationId && changed !== "*") return;
      unsubscribe();
      resolve();
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A second instance of the service on the same PostgreSQL database, master key and tokens. */
async function startSecondInstance(t: TestRuntime): Promise<{ api: ReturnType<typeof request>; runtime: Runtime; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "kp-test-"));
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_MASTER_KEY: t.masterKey,
    KEYPLANE_BOOTSTRAP_TOKEN: t.platformToken,
    KEYPLANE_LOG_LEVEL: "debug",
  });
  const sink = new Writable({
    write(chunk, _enc, done) {
      t.logs.push(String(chunk));
      done();
    },
  });
  const db = await openDb({ driver: "pg", url: t.testDb.url!, poolMax: 3 });
  const runtime = await createRuntime({ config, log: createLogger("debug", sink), db });
  return {
    api: request(runtime.app),
    runtime,
    async close() {
      await runtime.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
