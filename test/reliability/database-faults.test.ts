/**
 * Database faults under a steady create/rotate/resolve load, against a throwaway PostgreSQL cluster
 * this test starts itself: backends terminated, then the server stopped and started again. Requests
 * answer 503 with Retry-After (never 500, never a half-written credential); once the database is
 * back the service recovers without a restart, and every acknowledged write is present and decrypts.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialService } from "../../service/credentials/credential-service.js";
import { clusterSupported, createDatabase, startPgCluster, type PgCluster } from "../support/pg-cluster.js";
import { startService, type E2eService } from "../support/service.js";

const LOAD_SECONDS = 14;

describe.skipIf(!clusterSupported())("database faults under load (throwaway PostgreSQL cluster)", () => {
  let cluster: PgCluster;
  let service: E2eService;
  let base: string;
  let platformToken: string;

  beforeAll(async () => {
    cluster = await startPgCluster();
    const url = await createDatabase(cluster, "keyplane");
    service = await startService("pg", { DATABASE_URL: url, KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: "0", KEYPLANE_DB_POOL_MAX: "6" });
    base = service.url;
    platformToken = service.runtime.platformToken;
  }, 120_000);

  afterAll(async () => {
    await service?.close().catch(() => {});
    cluster?.destroy();
  });

  async function call(method: string, path: string, token: string, body?: unknown) {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, retryAfter: res.headers.get("retry-after"), body: text ? JSON.parse(text) : undefined };
  }

  it("answers 503 during faults, never 500, and keeps every acknowledged write", async () => {
    const org = (await call("POST", "/v1/organizations", platformToken, { name: "faults", slug: "faults" })).body;
    const admin = (await call("POST", `/v1/organizations/${org.id}/tokens`, platformToken, { role: "admin", name: "a" })).body.token;
    const resolver = (await call("POST", `/v1/organizations/${org.id}/tokens`, platformToken, { role: "resolver", name: "r" })).body.token;

    /** credential id → the last secret whose write was acknowledged, and its key_version */
    const acknowledged = new Map<string, { secret: string; keyVersion: number }>();
    const statuses = new Map<number, number>();
    const faults: string[] = [];
    let stopLoad = false;
    let requests = 0;

    const worker = async (n: number) => {
      let i = 0;
      while (!stopLoad) {
        i += 1;
        const secret = `sk-fault${n}x${i}${randomBytes(12).toString("hex")}`;
        let res;
        const ids = [...acknowledged.keys()];
        if (ids.length === 0 || i % 3 === 0) {
          res = await call("POST", `/v1/organizations/${org.id}/credentials`, admin, { provider: "openai", name: `w${n}-${i}`, api_key: secret });
          if (res.status === 201) acknowledged.set(res.body.id, { secret, keyVersion: 1 });
        } else if (i % 3 === 1) {
          const id = ids[(n + i) % ids.length];
          res = await call("POST", `/v1/organizations/${org.id}/credentials/${id}/rotate`, admin, { api_key: secret });
          if (res.status === 200) {
            const prior = acknowledged.get(id)!;
            if (res.body.key_version > prior.keyVersion) acknowledged.set(id, { secret, keyVersion: res.body.key_version });
          }
        } else {
          res = await call("POST", `/v1/organizations/${org.id}/resolve`, resolver, { provider: "openai" });
        }
        requests += 1;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status < 500 || res.status === 503, `${res.status} ${JSON.stringify(res.body)}`).toBe(true);
        if (res.status === 503) {
          expect(res.retryAfter).toBeTruthy();
          await delay(50);
        }
      }
    };

    const load = Promise.all([0, 1, 2, 3].map(worker));
    const started = Date.now();
    await delay(2000);
    for (let k = 0; k < 3; k++) {
      faults.push(`terminated ${await cluster.terminateBackends("keyplane")} backends`);
      await delay(700);
    }
    cluster.stop("fast");
    faults.push("server stopped");
    await delay(2500);
    cluster.start();
    faults.push("server started");
    await delay(2000);
    cluster.stop("immediate");
    faults.push("server crashed (immediate stop)");
    await delay(1500);
    cluster.start();
    faults.push("server started after crash recovery");
    await delay(Math.max(0, LOAD_SECONDS * 1000 - (Date.now() - started)));
    stopLoad = true;
    await load;

    // Recovered without a restart of the service.
    let ready = 0;
    for (let i = 0; i < 50 && ready !== 200; i++) {
      ready = (await fetch(`${base}/readyz`)).status;
      if (ready !== 200) await delay(200);
    }
    expect(ready).toBe(200);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].every((s) => s < 500 || s === 503)).toBe(true);

    // Every acknowledged write is there and decrypts to what was acknowledged (or a later rotation).
    const { db, keyring } = service.runtime.runtime;
    const credentials = new CredentialService(db, keyring);
    for (const [id, ack] of acknowledged) {
      const { rows } = await db.query<{ key_version: number; organization_id: string }>("select key_version, organization_id from credentials where id = $1", [
        id,
      ]);
      expect(rows, `acknowledged credential ${id} is missing`).toHaveLength(1);
      expect(rows[0].key_version).toBeGreaterThanOrEqual(ack.keyVersion);
      const secret = await credentials.readSecret({ id, organization_id: rows[0].organization_id }, rows[0].key_version);
      expect(secret).not.toBeNull();
      if (rows[0].key_version === ack.keyVersion) expect(secret).toEqual({ api_key: ack.secret });
    }
    // No half-written credential: every credential has its current version with key material.
    const orphans = await db.query(
      `select c.id from credentials c left join credential_versions v
         on v.credential_id = c.id and v.key_version = c.key_version and v.ciphertext is not null
       where v.credential_id is null`,
    );
    expect(orphans.rows).toEqual([]);
    const chain = await call("POST", `/v1/organizations/${org.id}/audit-events/verify`, admin);
    expect(chain.body.valid).toBe(true);
    console.log(
      `database faults: ${requests} requests from 4 workers over ${LOAD_SECONDS} s; faults: ${faults.join(", ")}; ` +
        `statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${acknowledged.size} acknowledged credentials verified`,
    );
  }, 120_000);
});
