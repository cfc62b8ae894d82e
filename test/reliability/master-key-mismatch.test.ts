/**
 * The right master key or none: a service started with a key that did not wrap the stored data
 * refuses to start (naming the ids it expected) instead of answering every resolve with an error
 * and sealing new credentials under a stray key; and /readyz fails while stored data is wrapped
 * by a key the running service lacks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MasterKey, MasterKeyring, refreshKeyringHealth } from "../../service/crypto/index.js";
import { rewrapAllDataKeys } from "../../service/cli/master-key-rotation.js";
import { createPgTestDatabase, testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";
import { callApi, serviceEnv, startServiceProcess } from "../support/service-process.js";

const SECRET = "sk-mismatch000000000000000000000000001";

for (const kind of testDatabases()) {
  describe(`master key mismatch (${kind})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kp-mismatch-"));
    let drop: (() => Promise<void>) | undefined;
    afterAll(async () => {
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("the service refuses to start with a master key that does not wrap the stored data, names the expected key id, and exits non-zero", async () => {
      let url: string | undefined;
      if (kind === "pg") {
        const database = await createPgTestDatabase();
        url = database.url;
        drop = database.drop;
      }
      const env = serviceEnv(dataDir, url);
      const service = await startServiceProcess(env);
      const org = (await callApi(service.url, "POST", "/v1/organizations", env.bootstrapToken, { name: "mismatch", slug: "mismatch" })).body;
      const created = await callApi(service.url, "POST", `/v1/organizations/${org.id}/credentials`, env.bootstrapToken, {
        provider: "openai",
        name: "c",
        api_key: SECRET,
      });
      expect(created.status, service.output()).toBe(201);
      service.child.kill("SIGTERM");
      await service.exited;

      const expectedId = MasterKey.fromBase64(env.masterKey).id;
      const stray = MasterKey.generate();
      const failure = await startServiceProcess({ ...env, masterKey: stray.toBase64() }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(failure).not.toBeNull();
      expect(failure).toMatch(/service exited with [1-9]/);
      expect(failure).toContain(`master key id(s) ${expectedId}`);
      expect(failure).toContain(stray.id);
      expect(failure).not.toContain("listening");
      expect(failure).not.toContain(stray.toBase64());
      expect(failure).not.toContain(SECRET);

      // With the right key it starts again and serves the credential.
      const again = await startServiceProcess(env);
      const listed = await callApi(again.url, "GET", `/v1/organizations/${org.id}/credentials`, env.bootstrapToken);
      expect(listed.status).toBe(200);
      again.child.kill("SIGTERM");
      await again.exited;
    }, 120_000);
  });

  describe(`readiness with a master key missing (${kind})`, () => {
    let t: TestRuntime;
    let orgId: string;
    let resolver: Record<string, string>;

    beforeAll(async () => {
      t = await startTestRuntime(kind);
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      resolver = bearer(seeded.tokens.resolver);
      const created = await t.api
        .post(`/v1/organizations/${orgId}/credentials`)
        .set(bearer(seeded.tokens.admin))
        .send({ provider: "openai", name: "r", api_key: SECRET });
      expect(created.status).toBe(201);
    }, 60_000);
    afterAll(() => t?.close());

    it("/readyz answers 503 naming the master key id while stored data is wrapped by a key the service lacks, and recovers when it is back", async () => {
      expect((await t.api.get("/readyz")).status).toBe(200);
      const own = t.runtime.keyring.current;
      // Another process re-wraps everything under a key this service was never given.
      const stray = MasterKey.generate();
      await rewrapAllDataKeys(t.testDb.db, new MasterKeyring(stray, [own]), stray);

      const resolved = await t.api.post(`/v1/organizations/${orgId}/resolve`).set(resolver).send({ provider: "openai" });
      expect(resolved.status).toBeGreaterThanOrEqual(500);
      const ready = await t.api.get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: "unavailable", missing_master_key_ids: [stray.id] });

      await rewrapAllDataKeys(t.testDb.db, new MasterKeyring(own, [stray]), own);
      expect(await refreshKeyringHealth(t.testDb.db, t.runtime.keyring)).toEqual([]);
      expect((await t.api.get("/readyz")).status).toBe(200);
      expect((await t.api.post(`/v1/organizations/${orgId}/resolve`).set(resolver).send({ provider: "openai" })).body.secret).toBe(SECRET);
    });
  });
}
