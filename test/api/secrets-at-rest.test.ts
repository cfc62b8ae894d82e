import { beforeAll, describe, expect, it } from "vitest";
import { testDatabases, dumpAllTables } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";
import { CredentialService } from "../../service/credentials/credential-service.js";
import { DecryptionError, MasterKey, MasterKeyring } from "../../service/crypto/index.js";
import { rewrapAllDataKeys } from "../../service/cli/master-key-rotation.js";

const SECRETS = {
  openai: "sk-proj-LeakCanary0000000000000000000000000000000000Qq11",
  anthropic: "sk-ant-api03-LeakCanary111111111111111111111111111111Ww22",
  awsSecret: "LeakCanaryAwsSecret/2222222222222222222222",
  rotated: "sk-proj-LeakCanaryRotated33333333333333333333333333Ee33",
};

for (const kind of testDatabases()) {
  describe(`secrets at rest and in transit (${kind})`, () => {
    const t = useApiFixture(kind);
    const ids: Record<string, string> = {};
    const bodies: string[] = [];
    const keep = <T extends { text: string }>(res: T) => {
      bodies.push(res.text);
      return res;
    };

    beforeAll(async () => {
      const base = `/v1/organizations/${t.orgId}/credentials`;
      ids.openai = keep(await t.api.post(base).set(t.admin).send({ provider: "openai", name: "a", api_key: SECRETS.openai })).body.id;
      ids.anthropic = keep(await t.api.post(base).set(t.admin).send({ provider: "anthropic", name: "b", api_key: SECRETS.anthropic })).body.id;
      ids.aws = keep(
        await t.api
          .post(base)
          .set(t.admin)
          .send({
            provider: "bedrock",
            name: "c",
            fields: { access_key_id: "AKIALEAKCANARY000000", secret_access_key: SECRETS.awsSecret },
          }),
      ).body.id;
      keep(await t.api.post(`${base}/${ids.openai}/rotate`).set(t.admin).send({ api_key: SECRETS.rotated, grace_seconds: 600 }));
      // Rejected requests carry secrets too: they must not echo them.
      keep(await t.api.post(base).set(t.admin).send({ provider: "anthropic", name: "x", api_key: SECRETS.openai }));
      keep(await t.api.post(base).set(t.admin).send({ provider: "openai", name: 42, api_key: SECRETS.openai }));
      keep(await t.api.post(base).set(t.admin).set("Content-Type", "application/json").send(`{"api_key": "${SECRETS.openai}",`));
      keep(await t.api.patch(`${base}/${ids.openai}`).set(t.admin).send({ api_key: SECRETS.openai }));
      for (const id of Object.values(ids)) {
        keep(await t.api.get(`${base}/${id}`).set(t.admin));
        keep(await t.api.get(`${base}/${id}/versions`).set(t.admin));
      }
      keep(await t.api.get(base).set(t.admin));
      keep(await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ limit: 200 }).set(t.admin));
    }, 60_000);

    it("never returns, logs, audits or stores a secret in clear", async () => {
      const haystacks = {
        responses: bodies.join("\n"),
        logs: t.logs.join(""),
        tables: await dumpAllTables(t.testDb.db),
      };
      expect(haystacks.logs.length).toBeGreaterThan(0);
      expect(haystacks.tables).toContain("audit_events");
      for (const [where, text] of Object.entries(haystacks)) {
        for (const [name, secret] of Object.entries(SECRETS)) {
          expect(text.includes(secret), `${name} found in ${where}`).toBe(false);
          // Also the part after the public prefix, in case something stripped the prefix.
          expect(text.includes(secret.slice(12, 40)), `${name} (middle) found in ${where}`).toBe(false);
        }
      }
    });

    it("decrypts what it stored, under the right AAD", async () => {
      const service = new CredentialService(t.testDb.db, t.runtime.keyring);
      expect(await service.readSecret({ id: ids.openai, organization_id: t.orgId }, 2)).toEqual({ api_key: SECRETS.rotated });
      expect(await service.readSecret({ id: ids.openai, organization_id: t.orgId }, 1)).toEqual({ api_key: SECRETS.openai });
      expect(await service.readSecret({ id: ids.aws, organization_id: t.orgId }, 1)).toMatchObject({ secret_access_key: SECRETS.awsSecret });
    });

    it("re-wraps every data key under a new master key; everything still decrypts and hints stay", async () => {
      const next = MasterKey.generate();
      const before = await t.testDb.db.query<{ master_key_id: string }>("select distinct master_key_id from credential_versions where wrapped_dek is not null");
      expect(before.rows.map((r) => r.master_key_id)).toEqual([t.runtime.keyring.current.id]);
      const progress = await rewrapAllDataKeys(t.testDb.db, t.runtime.keyring, next, () => {}, 2);
      expect(progress.done).toBe(progress.total);
      expect(progress.total).toBeGreaterThanOrEqual(4);
      const after = await t.testDb.db.query<{ master_key_id: string }>("select distinct master_key_id from credential_versions where wrapped_dek is not null");
      expect(after.rows.map((r) => r.master_key_id)).toEqual([next.id]);
      const rotatedOnly = new CredentialService(t.testDb.db, new MasterKeyring(next));
      expect(await rotatedOnly.readSecret({ id: ids.openai, organization_id: t.orgId }, 2)).toEqual({ api_key: SECRETS.rotated });
      expect(await rotatedOnly.readSecret({ id: ids.anthropic, organization_id: t.orgId }, 1)).toEqual({ api_key: SECRETS.anthropic });
      const oldOnly = new CredentialService(t.testDb.db, t.runtime.keyring);
      await expect(oldOnly.readSecret({ id: ids.anthropic, organization_id: t.orgId }, 1)).rejects.toBeInstanceOf(DecryptionError);
      const again = await rewrapAllDataKeys(t.testDb.db, t.runtime.keyring, next);
      expect(again.total).toBe(0);
      const hint = await t.api.get(`/v1/organizations/${t.orgId}/credentials/${ids.anthropic}`).set(t.admin);
      expect(hint.body.key_hint).toBe("sk-ant-api03-…Ww22");
    });

    it("refuses a ciphertext copied onto another credential's row with a clear error", async () => {
      await t.testDb.db.query(
        `update credential_versions dst set ciphertext = src.ciphertext, nonce = src.nonce, wrapped_dek = src.wrapped_dek, master_key_id = src.master_key_id
         from credential_versions src where src.credential_id = $1 and src.key_version = 1 and dst.credential_id = $2 and dst.key_version = 1`,
        [ids.anthropic, ids.aws],
      );
      const service = new CredentialService(t.testDb.db, t.runtime.keyring);
      const attempt = service.readSecret({ id: ids.aws, organization_id: t.orgId }, 1);
      await expect(attempt).rejects.toBeInstanceOf(DecryptionError);
      await expect(service.readSecret({ id: ids.aws, organization_id: t.orgId }, 1)).rejects.toThrow(new RegExp(ids.aws));
      const message = await service.readSecret({ id: ids.aws, organization_id: t.orgId }, 1).catch((e: Error) => e.message);
      expect(message).not.toContain(SECRETS.anthropic);
    });
  });
}
