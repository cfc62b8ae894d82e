/**
 * Tampering with what is stored: every modified byte of a ciphertext, nonce or wrapped data key,
 * every ciphertext moved to another version (AAD), and an unknown master key id are refused with a
 * clear error; an edited audit row breaks the chain and verification says where, and so do events
 * cut from its end, and so does a chain rewritten by someone who recomputes every hash and the
 * chain's head (the chain is keyed: they lack the audit key).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";
import { CredentialService } from "../../service/credentials/credential-service.js";
import { DecryptionError } from "../../service/crypto/index.js";
import { canonicalJson, GENESIS_HASH } from "../../service/audit/audit-chain.js";
import { listEvents } from "../../service/audit/audit-dal.js";

const KEY_V1 = "sk-tamper1111111111111111111111111111";
const KEY_V2 = "sk-tamper2222222222222222222222222222";

for (const kind of testDatabases()) {
  describe(`tamper evidence (${kind})`, () => {
    let t: TestRuntime;
    let orgId: string;
    let credentialId: string;
    let service: CredentialService;
    let admin: Record<string, string>;

    beforeAll(async () => {
      t = await startTestRuntime(kind);
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      admin = bearer(seeded.tokens.admin);
      const base = `/v1/organizations/${orgId}/credentials`;
      credentialId = (await t.api.post(base).set(admin).send({ provider: "openai", name: "t", api_key: KEY_V1 })).body.id;
      await t.api.post(`${base}/${credentialId}/rotate`).set(admin).send({ api_key: KEY_V2, grace_seconds: 3600 });
      service = new CredentialService(t.testDb.db, t.runtime.keyring);
    }, 60_000);
    afterAll(() => t?.close());

    const read = (version: number) => service.readSecret({ id: credentialId, organization_id: orgId }, version);

    async function expectRefused(version: number, reason: string) {
      const error = await read(version).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DecryptionError);
      const decryption = error as DecryptionError;
      expect(decryption.reason).toBe(reason);
      expect(decryption.message).toContain(credentialId);
      expect(decryption.message).toContain(`version ${version}`);
      expect(decryption.message).not.toContain(KEY_V1);
      expect(decryption.message).not.toContain(KEY_V2);
    }

    async function withTampered(sql: string, check: () => Promise<void>) {
      await t.testDb.db.query("create temporary table if not exists saved as select * from credential_versions with no data");
      await t.testDb.db.query("delete from saved");
      await t.testDb.db.query("insert into saved select * from credential_versions where credential_id = $1", [credentialId]);
      await t.testDb.db.query(sql, [credentialId]);
      try {
        await check();
      } finally {
        await t.testDb.db.query(
          `update credential_versions v set ciphertext = s.ciphertext, nonce = s.nonce, wrapped_dek = s.wrapped_dek, master_key_id = s.master_key_id
           from saved s where v.credential_id = s.credential_id and v.key_version = s.key_version`,
        );
      }
      expect(await read(2)).toEqual({ api_key: KEY_V2 });
    }

    it("reads both versions untampered", async () => {
      expect(await read(1)).toEqual({ api_key: KEY_V1 });
      expect(await read(2)).toEqual({ api_key: KEY_V2 });
    });

    for (const column of ["ciphertext", "nonce", "wrapped_dek"]) {
      for (const position of ["0", `length(${column}) - 1`, `length(${column}) / 2`]) {
        it(`refuses a flipped bit in ${column} at byte ${position}`, async () => {
          await withTampered(
            `update credential_versions set ${column} = set_byte(${column}, ${position}, get_byte(${column}, ${position}) # 1)
             where credential_id = $1 and key_version = 2`,
            () => expectRefused(2, "authentication_failed"),
          );
        });
      }
    }

    it("refuses a version's ciphertext moved onto another version (AAD binds key_version)", async () => {
      await withTampered(
        `update credential_versions v set ciphertext = o.ciphertext, nonce = o.nonce, wrapped_dek = o.wrapped_dek
         from credential_versions o where v.credential_id = $1 and o.credential_id = $1 and v.key_version = 2 and o.key_version = 1`,
        () => expectRefused(2, "authentication_failed"),
      );
    });

    it("refuses a row that names a master key the service does not hold", async () => {
      await withTampered("update credential_versions set master_key_id = 'ffffffffffffffff' where credential_id = $1 and key_version = 2", () =>
        expectRefused(2, "unknown_master_key"),
      );
    });

    it("detects an edited audit row and says where the chain breaks", async () => {
      const verify = () => t.api.post(`/v1/organizations/${orgId}/audit-events/verify`).set(admin);
      expect((await verify()).body.valid).toBe(true);
      const { rows } = await t.testDb.db.query<{ seq: number }>(
        "select seq::int as seq from audit_events where chain_key = $1 and action = 'credential.rotate'",
        [`org:${orgId}`],
      );
      const seq = rows[0].seq;
      // The table refuses UPDATE through its trigger, and the service's role may not alter it; an
      // attacker with the owner's rights can do both. (ids and seq are ours: safe to inline.)
      await t.testDb.db.exec(
        `reset role; alter table audit_events disable trigger user;
         update audit_events set details = jsonb_set(details, '{grace_seconds}', '0') where chain_key = 'org:${orgId}' and seq = ${Number(seq)};
         alter table audit_events enable trigger user; set role keyplane_platform;`,
      );
      const result = (await verify()).body;
      expect(result).toMatchObject({ valid: false, broken_at_seq: seq });
      expect(result.reason).toContain("modified");

      if (t.testDb.url) {
        const cli = spawnSync(process.execPath, [join(process.cwd(), "dist/service/cli/main.js"), "audit", "verify", "--org", orgId], {
          env: { ...process.env, DATABASE_URL: t.testDb.url, KEYPLANE_MASTER_KEY: t.masterKey },
          encoding: "utf8",
        });
        expect(cli.status).toBe(1);
        expect(JSON.parse(cli.stdout)).toMatchObject({ valid: false, broken_at_seq: seq });
      }
    });

    /**
     * What someone with write access to the database (and no master key) can do: change events
     * from `fromSeq` on, recompute every hash from there as plain sha256(prev_hash || canonical
     * event), and move the chain's recorded head to the new last hash.
     */
    async function rewriteWithPlainHashes(organizationId: string, fromSeq: number, edit: (details: Record<string, unknown>) => void) {
      const chainKey = `org:${organizationId}`;
      const events = await listEvents(t.testDb.db, { chainKey, limit: 10_000 });
      let prev = fromSeq === 1 ? GENESIS_HASH : events[fromSeq - 2].hash;
      const statements: string[] = [];
      for (const event of events.slice(fromSeq - 1)) {
        const { prev_hash: _prev, hash: _hash, hash_alg: _alg, ...fields } = event;
        if (fields.seq === fromSeq) edit(fields.details);
        const hash = createHash("sha256").update(prev).update(canonicalJson(fields)).digest("hex");
        // Hex, integers and our own JSON (quotes doubled): safe to inline.
        statements.push(
          `update audit_events set details = '${JSON.stringify(fields.details).replace(/'/g, "''")}'::jsonb, prev_hash = '${prev}', hash = '${hash}',
             hash_alg = 'sha256' where chain_key = '${chainKey}' and seq = ${Number(fields.seq)};`,
        );
        prev = hash;
      }
      statements.push(`update audit_chain_heads set hash = '${prev}' where chain_key = '${chainKey}';`);
      await t.testDb.db.exec(
        `reset role; alter table audit_events disable trigger user;
         ${statements.join("\n")}
         alter table audit_events enable trigger user; set role keyplane_platform;`,
      );
    }

    it("verify refuses events rewritten with recomputed plain sha256 hashes and a chain head updated to match", async () => {
      const seeded = await seedOrganization(t, "tamper-rehash");
      const other = seeded.org.id;
      const otherAdmin = bearer(seeded.tokens.admin);
      const verify = () => t.api.post(`/v1/organizations/${other}/audit-events/verify`).set(otherAdmin);
      for (const name of ["one", "two", "three"]) await t.api.post(`/v1/organizations/${other}/projects`).set(otherAdmin).send({ name });
      const before = (await verify()).body;
      expect(before).toMatchObject({ valid: true, legacy_events: 0 });
      const target = before.checked - 1;

      await rewriteWithPlainHashes(other, target, (details) => {
        details.name = "renamed";
      });
      const result = (await verify()).body;
      expect(result).toMatchObject({ valid: false, broken_at_seq: target });
      expect(result.reason).toContain("not keyed");
    });

    it("verify refuses a chain rewritten from its first event as unkeyed sha256 events (a downgrade to legacy)", async () => {
      const seeded = await seedOrganization(t, "tamper-downgrade");
      const other = seeded.org.id;
      const otherAdmin = bearer(seeded.tokens.admin);
      await t.api.post(`/v1/organizations/${other}/projects`).set(otherAdmin).send({ name: "one" });
      await rewriteWithPlainHashes(other, 1, () => {});
      const result = (await t.api.post(`/v1/organizations/${other}/audit-events/verify`).set(otherAdmin)).body;
      expect(result).toMatchObject({ valid: false, broken_at_seq: 1 });
      expect(result.reason).toContain("no events from before keying");
    });

    it("detects events removed from the end of a chain, which leave a chain valid in itself", async () => {
      const seeded = await seedOrganization(t, "tamper-tail");
      const other = seeded.org.id;
      const otherAdmin = bearer(seeded.tokens.admin);
      const verify = () => t.api.post(`/v1/organizations/${other}/audit-events/verify`).set(otherAdmin);
      await t.api.post(`/v1/organizations/${other}/projects`).set(otherAdmin).send({ name: "one" });
      await t.api.post(`/v1/organizations/${other}/projects`).set(otherAdmin).send({ name: "two" });
      const before = (await verify()).body;
      expect(before.valid).toBe(true);
      await t.testDb.db.exec(
        `reset role; alter table audit_events disable trigger user;
         delete from audit_events where chain_key = 'org:${other}' and seq > ${Number(before.checked) - 2};
         alter table audit_events enable trigger user; set role keyplane_platform;`,
      );
      const result = (await verify()).body;
      expect(result).toMatchObject({ valid: false, broken_at_seq: before.checked - 1 });
      expect(result.reason).toContain("removed from the end");
    });
  });
}
