/**
 * The keyed audit chain on a database upgraded from the sha256 chain: events written before the
 * upgrade still verify (counted as legacy events), and are sealed when the audit key is created,
 * so they cannot be rewritten either; new events are keyed; a master-key rotation re-wraps the
 * audit key, so the whole chain verifies under the new master key alone; `keyplane audit verify`
 * works; a missing audit key is refused rather than replaced.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../service/config.js";
import { createLogger } from "../../service/observability/logger.js";
import { createRuntime, type Runtime } from "../../service/server.js";
import { migrate, openDb, type Db } from "../../service/db/index.js";
import { MasterKey, MasterKeyring } from "../../service/crypto/index.js";
import { canonicalJson } from "../../service/audit/audit-chain.js";
import { listEvents } from "../../service/audit/audit-dal.js";
import { appendAuditEvents, openAuditChain, verifyOrganizationChain, type AuditEventInput } from "../../service/audit/audit-service.js";
import { rewrapAllDataKeys } from "../../service/cli/master-key-rotation.js";
import { createPgTestDatabase, testDatabases } from "../support/db.js";
import { CLI } from "../support/service-process.js";

const MIGRATIONS = join(process.cwd(), "service/db/migrations");
const ORG = "org_01JXEGACY0000000000000000A";
const LEGACY_EVENTS = 3;

/** The sha256-chain append of migrations 0002/0005: canonical JSON split around seq. */
function legacyPayload(event: Record<string, unknown>) {
  const text = canonicalJson({ ...event, seq: 0 });
  const at = text.lastIndexOf(',"seq":0,"target_id":');
  return { ...event, canonical_prefix: text.slice(0, at + ',"seq":'.length), canonical_suffix: text.slice(at + ',"seq":0'.length) };
}

for (const kind of testDatabases()) {
  describe(`keyed audit chain on an upgraded database (${kind})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kp-keyed-"));
    const oldKey = MasterKey.generate();
    const newKey = MasterKey.generate();
    const platformToken = `kp_${randomBytes(32).toString("base64url")}`;
    let url: string | undefined;
    let drop: (() => Promise<void>) | undefined;
    let runtime: Runtime | undefined;

    const openStore = (): Promise<Db> => (url ? openDb({ driver: "pg", url, poolMax: 3 }) : openDb({ driver: "pglite", dataDir: join(dataDir, "data") }));

    async function start(masterKey: MasterKey): Promise<Runtime> {
      const config = loadConfig({
        KEYPLANE_DATA_DIR: dataDir,
        KEYPLANE_MASTER_KEY: masterKey.toBase64(),
        KEYPLANE_BOOTSTRAP_TOKEN: platformToken,
        ...(url ? { DATABASE_URL: url } : {}),
      });
      runtime = await createRuntime({ config, log: createLogger("silent") });
      return runtime;
    }

    async function stop() {
      await runtime?.close();
      runtime = undefined;
    }

    /** As the owner, past the append-only trigger: what someone with the database's rights can do. */
    async function asOwner(db: Db, sql: string) {
      await db.exec(`reset role; alter table audit_events disable trigger user; ${sql}; alter table audit_events enable trigger user;`);
    }

    beforeAll(async () => {
      if (kind === "pg") {
        const database = await createPgTestDatabase();
        url = database.url;
        drop = database.drop;
      }
      // The database as the sha256 chain left it: migrations up to 0006 and a few events.
      const before = join(dataDir, "migrations-0006");
      mkdirSync(before);
      for (const file of readdirSync(MIGRATIONS).filter((f) => f < "0007")) copyFileSync(join(MIGRATIONS, file), join(before, file));
      const db = await openStore();
      await migrate(db, { dir: before });
      await db.query("insert into organizations (id, name, slug) values ($1, 'Legacy', 'legacy')", [ORG]);
      for (let i = 1; i <= LEGACY_EVENTS; i++) {
        const event = {
          id: `evt_01JLEGACY00000000000000000${i}`,
          chain_key: `org:${ORG}`,
          organization_id: ORG,
          actor_token_id: null,
          actor_role: null,
          action: "project.create",
          target_type: "project",
          target_id: `prj_legacy${i}`,
          outcome: "success",
          request_id: `legacy-${i}`,
          details: { name: `legacy ${i}` },
          created_at: new Date(Date.UTC(2024, 0, i)).toISOString(),
        };
        await db.query("select keyplane_append_audit($1, $2::jsonb)", [`org:${ORG}`, JSON.stringify([legacyPayload(event)])]);
      }
      await db.close();
    }, 60_000);

    afterAll(async () => {
      await stop();
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("events written before the upgrade verify as legacy events, and new events are keyed", async () => {
      const t = await start(oldKey);
      expect(await verifyOrganizationChain(t.db, ORG)).toEqual({
        valid: true,
        checked: LEGACY_EVENTS,
        legacy_events: LEGACY_EVENTS,
        broken_at_seq: null,
        broken_event_id: null,
        reason: null,
      });
      const created = await request(t.app)
        .post(`/v1/organizations/${ORG}/projects`)
        .set({ Authorization: `Bearer ${platformToken}` })
        .send({ name: "after the upgrade" });
      expect(created.status).toBe(201);
      const events = await listEvents(t.db, { chainKey: `org:${ORG}`, limit: 100 });
      expect(events.map((e) => e.hash_alg.split(":")[0])).toEqual([...Array(LEGACY_EVENTS).fill("sha256"), "hmac-sha256"]);
      expect(await verifyOrganizationChain(t.db, ORG)).toMatchObject({ valid: true, checked: LEGACY_EVENTS + 1, legacy_events: LEGACY_EVENTS });
    });

    it("after rotate-master-key, the new master key alone verifies the whole chain (the audit key was re-wrapped)", async () => {
      const t = runtime!;
      const rewrapped = await rewrapAllDataKeys(t.db, t.keyring.withCurrent(newKey), newKey);
      expect(rewrapped.done).toBe(0);
      await stop();
      const restarted = await start(newKey);
      expect(restarted.keyring.ids()).toEqual([newKey.id]);
      // The rotation's own audit event (platform chain) is keyed too.
      expect(await verifyOrganizationChain(restarted.db, null)).toMatchObject({ valid: true, legacy_events: 0 });
      expect(await verifyOrganizationChain(restarted.db, ORG)).toMatchObject({ valid: true, checked: LEGACY_EVENTS + 1, legacy_events: LEGACY_EVENTS });
      await stop();
    });

    it("keyplane audit verify checks the keyed chain with the master key of its environment", () => {
      const run = (masterKey: MasterKey) =>
        spawnSync(process.execPath, [CLI, "audit", "verify", "--org", ORG], {
          env: { ...process.env, KEYPLANE_DATA_DIR: dataDir, KEYPLANE_MASTER_KEY: masterKey.toBase64(), DATABASE_URL: url ?? "" },
          encoding: "utf8",
        });
      const ok = run(newKey);
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, checked: LEGACY_EVENTS + 1, legacy_events: LEGACY_EVENTS });
      // Without the master key that wraps the audit key there is nothing to verify with.
      const wrong = run(oldKey);
      expect(wrong.status).not.toBe(0);
      expect(wrong.stderr).toContain(newKey.id);
    });

    it("legacy events are sealed: rewriting them with recomputed sha256 hashes is refused", async () => {
      const db = await openStore();
      try {
        const events = await listEvents(db, { chainKey: `org:${ORG}`, limit: 100 });
        let prev = events[0].hash;
        const updates: string[] = [];
        for (const event of events.slice(1, LEGACY_EVENTS)) {
          const { prev_hash: _p, hash: _h, hash_alg: _a, ...fields } = event;
          fields.details = { name: "rewritten" };
          const hash = createHash("sha256").update(prev).update(canonicalJson(fields)).digest("hex");
          updates.push(`update audit_events set details = '{"name":"rewritten"}', prev_hash = '${prev}', hash = '${hash}' where id = '${event.id}'`);
          prev = hash;
        }
        // The keyed event after them would name the new last hash too; it cannot be re-keyed, but
        // even with its link moved the sealed end of the legacy events gives the rewrite away.
        updates.push(`update audit_events set prev_hash = '${prev}' where id = '${events[LEGACY_EVENTS].id}'`);
        await asOwner(db, updates.join(";\n"));
      } finally {
        await db.close();
      }
      const t = await start(newKey);
      const result = await verifyOrganizationChain(t.db, ORG);
      expect(result).toMatchObject({ valid: false, broken_at_seq: LEGACY_EVENTS });
      expect(result.reason).toContain("sealed hash");
      await stop();
    });

    it("a sealed legacy record moved to cover more events is refused", async () => {
      const db = await openStore();
      try {
        await asOwner(db, `update audit_legacy_heads set seq = seq + 1 where chain_key = 'org:${ORG}'`);
      } finally {
        await db.close();
      }
      const t = await start(newKey);
      const result = await verifyOrganizationChain(t.db, ORG);
      expect(result).toMatchObject({ valid: false });
      expect(result.reason).toContain("sealed record");
      await stop();
    });

    it("the service refuses to start when keyed events exist but the audit key was deleted (it never re-seals)", async () => {
      const db = await openStore();
      try {
        await asOwner(db, "delete from audit_legacy_heads; delete from audit_keys");
      } finally {
        await db.close();
      }
      await expect(start(newKey)).rejects.toThrow(/keyed events but the audit key is missing/);
    });
  });
}

describe.skipIf(!process.env.TEST_DATABASE_URL)("keyed audit chain with two writers (pg)", () => {
  it("two processes appending to one chain at once keep it valid: each relinks from the end the other wrote", async () => {
    const database = await createPgTestDatabase();
    const keyring = new MasterKeyring(MasterKey.generate());
    const first = await openDb({ driver: "pg", url: database.url, poolMax: 4 });
    const second = await openDb({ driver: "pg", url: database.url, poolMax: 4 });
    try {
      await migrate(first);
      // Each Db stands for one process: its own pool, audit chain and remembered heads.
      await openAuditChain(first, keyring);
      await openAuditChain(second, keyring);
      const event = (i: number): AuditEventInput => ({
        organizationId: null,
        actor: { tokenId: null, role: null },
        action: "test.append",
        targetType: "test",
        targetId: String(i),
        outcome: "success",
        requestId: `r${i}`,
      });
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 60; i++) {
        const db = i % 2 === 0 ? first : second;
        // Alone, in transactions and in batches: every way the service appends.
        if (i % 3 === 0) writes.push(appendAuditEvents(db, [event(i)]));
        else if (i % 3 === 1) writes.push(db.transaction((tx) => appendAuditEvents(tx, [event(i)])));
        else writes.push(appendAuditEvents(db, [event(i), event(i + 1000)]));
      }
      await Promise.all(writes);
      expect(await verifyOrganizationChain(first, null)).toMatchObject({ valid: true, checked: 80, legacy_events: 0 });
    } finally {
      await first.close();
      await second.close();
      await database.drop();
    }
  }, 60_000);
});
