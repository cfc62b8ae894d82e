/**
 * Crash safety: the service killed with SIGKILL in the middle of rotations, and the master-key
 * rotation killed half-way. After a restart no credential is unreadable, no version is lost or
 * duplicated, and the audit chain verifies.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { openDb, type Db } from "../../service/db/index.js";
import { MasterKey, MasterKeyring } from "../../service/crypto/index.js";
import { CredentialService } from "../../service/credentials/credential-service.js";
import { openAuditChain, verifyOrganizationChain } from "../../service/audit/audit-service.js";
import { createPgTestDatabase, testDatabases } from "../support/db.js";
import { callApi, CLI, serviceEnv, startServiceProcess } from "../support/service-process.js";

for (const kind of testDatabases()) {
  describe(`crash safety (${kind})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kp-crash-"));
    let dropDatabase: (() => Promise<void>) | undefined;
    afterAll(async () => {
      await dropDatabase?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    async function openStore(env: { databaseUrl?: string }): Promise<Db> {
      return env.databaseUrl ? openDb({ driver: "pg", url: env.databaseUrl }) : openDb({ driver: "pglite", dataDir: join(dataDir, "data") });
    }

    it("survives SIGKILL during rotations and during master-key rotation", async () => {
      let databaseUrl: string | undefined;
      if (kind === "pg") {
        const database = await createPgTestDatabase();
        databaseUrl = database.url;
        dropDatabase = database.drop;
      }
      const env = serviceEnv(dataDir, databaseUrl);
      let service = await startServiceProcess(env);
      const org = (await callApi(service.url, "POST", "/v1/organizations", env.bootstrapToken, { name: "crash", slug: "crash" })).body;
      const admin = (await callApi(service.url, "POST", `/v1/organizations/${org.id}/tokens`, env.bootstrapToken, { role: "admin", name: "a" })).body.token;
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const created = await callApi(service.url, "POST", `/v1/organizations/${org.id}/credentials`, admin, {
          provider: "openai",
          name: `c${i}`,
          api_key: `sk-crash${i}${randomBytes(16).toString("hex")}`,
        });
        ids.push(created.body.id);
      }

      // 1. SIGKILL while four workers rotate.
      const acknowledged = new Map<string, { version: number; secret: string }>();
      let running = true;
      let kills = 0;
      const worker = async (w: number) => {
        for (let i = 0; running; i++) {
          const id = ids[(w + i) % ids.length];
          const secret = `sk-crash${w}r${i}${randomBytes(16).toString("hex")}`;
          try {
            const res = await callApi(service.url, "POST", `/v1/organizations/${org.id}/credentials/${id}/rotate`, admin, {
              api_key: secret,
              grace_seconds: 600,
            });
            if (res.status === 200 && (acknowledged.get(id)?.version ?? 0) < res.body.key_version)
              acknowledged.set(id, { version: res.body.key_version, secret });
          } catch {
            // the process was killed under this request: its outcome is unknown, which is allowed
          }
        }
      };
      for (let round = 0; round < 3; round++) {
        running = true;
        const load = Promise.all([0, 1, 2, 3].map(worker));
        await delay(400 + round * 300);
        service.child.kill("SIGKILL");
        kills += 1;
        await service.exited;
        running = false;
        await load;
        service = await startServiceProcess(env);
      }
      // Enough live data keys that the master-key rotation below is killed part-way.
      for (let batch = 0; batch < 40; batch++) {
        await Promise.all(
          [0, 1, 2, 3].map((k) =>
            callApi(service.url, "POST", `/v1/organizations/${org.id}/credentials`, admin, {
              provider: "openai",
              name: `bulk${batch}-${k}`,
              api_key: `sk-bulk${randomBytes(16).toString("hex")}`,
            }),
          ),
        );
      }
      service.child.kill("SIGTERM");
      await service.exited;

      const db = await openStore(env);
      const keyring = new MasterKeyring(MasterKey.fromBase64(env.masterKey));
      await openAuditChain(db, keyring);
      const credentials = new CredentialService(db, keyring);
      let rotations = 0;
      for (const id of ids) {
        const { rows } = await db.query<{ key_version: number }>("select key_version from credentials where id = $1", [id]);
        const current = rows[0].key_version;
        const versions = await db.query<{ key_version: number }>("select key_version from credential_versions where credential_id = $1 order by key_version", [
          id,
        ]);
        expect(
          versions.rows.map((v) => v.key_version),
          `versions of ${id}`,
        ).toEqual(Array.from({ length: current }, (_, i) => i + 1));
        const ack = acknowledged.get(id);
        if (ack) {
          expect(current).toBeGreaterThanOrEqual(ack.version);
          if (current === ack.version) expect(await credentials.readSecret({ id, organization_id: org.id }, current)).toEqual({ api_key: ack.secret });
        }
        expect(await credentials.readSecret({ id, organization_id: org.id }, current)).not.toBeNull();
        rotations += current - 1;
      }
      expect((await verifyOrganizationChain(db, org.id)).valid).toBe(true);

      // 2. Master-key rotation killed half-way, then resumed.
      const live = await db.query<{ n: number }>("select count(*)::int as n from credential_versions where wrapped_dek is not null");
      await db.close();
      const next = MasterKey.generate();
      const newKeyFile = join(dataDir, "next.key");
      writeFileSync(newKeyFile, next.toBase64(), { mode: 0o600 });
      const cliEnv = { ...process.env, KEYPLANE_DATA_DIR: dataDir, KEYPLANE_MASTER_KEY: env.masterKey, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
      if (!databaseUrl) delete cliEnv.DATABASE_URL;
      const first = spawn(process.execPath, [CLI, "rotate-master-key", "--new-key-file", newKeyFile, "--batch-size", "1"], {
        env: cliEnv,
        stdio: ["ignore", "ignore", "pipe"],
      });
      const firstExit = new Promise((r) => first.once("exit", r));
      // Killed as soon as it reports real progress, so the rows are split between the two keys.
      await new Promise<void>((resolve) => {
        first.stderr.on("data", (chunk: Buffer) => {
          const match = /re-wrapping data keys: (\d+)\//.exec(String(chunk));
          if (match && Number(match[1]) > 0) resolve();
        });
        first.once("exit", () => resolve());
      });
      first.kill("SIGKILL");
      await firstExit;

      const mid = await openStore(env);
      const split = await mid.query<{ key: string; n: number }>(
        "select case when master_key_id = $1 then 'new' else 'old' end as key, count(*)::int as n from credential_versions where wrapped_dek is not null group by 1 order by 1",
        [next.id],
      );
      expect(split.rows.map((r) => r.key)).toEqual(["new", "old"]);
      const both = new CredentialService(mid, new MasterKeyring(next, [keyring.current]));
      for (const id of ids) {
        const { rows } = await mid.query<{ key_version: number }>("select key_version from credentials where id = $1", [id]);
        expect(await both.readSecret({ id, organization_id: org.id }, rows[0].key_version)).not.toBeNull();
      }
      await mid.close();

      const resumed = await new Promise<number | null>((resolve) => {
        spawn(process.execPath, [CLI, "rotate-master-key", "--new-key-file", newKeyFile], { env: cliEnv, stdio: "ignore" }).once("exit", resolve);
      });
      expect(resumed).toBe(0);
      const after = await openStore(env);
      const onlyNew = new CredentialService(after, new MasterKeyring(next));
      const remaining = await after.query<{ n: number }>(
        "select count(*)::int as n from credential_versions where wrapped_dek is not null and master_key_id <> $1",
        [next.id],
      );
      expect(remaining.rows[0].n).toBe(0);
      for (const id of ids) {
        const { rows } = await after.query<{ key_version: number }>("select key_version from credentials where id = $1", [id]);
        expect(await onlyNew.readSecret({ id, organization_id: org.id }, rows[0].key_version)).not.toBeNull();
      }
      // The audit key was re-wrapped too: the new key alone opens it.
      await openAuditChain(after, new MasterKeyring(next));
      expect((await verifyOrganizationChain(after, org.id)).valid).toBe(true);
      await after.close();
      console.log(
        `crash safety (${kind}): ${kills} SIGKILLs during rotation load, ${rotations} rotations committed, ` +
          `${acknowledged.size} credentials with acknowledged rotations checked; master-key rotation killed with ` +
          `${JSON.stringify(split.rows)} of ${live.rows[0].n} live data keys, resumed to completion`,
      );
    }, 180_000);
  });
}
