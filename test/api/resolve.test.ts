import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../service/config.js";
import { createLogger } from "../../service/observability/logger.js";
import { createRuntime, runMaintenance } from "../../service/server.js";
import { platformKeyEnvVars } from "../../service/resolve/platform-keys.js";
import { parseResponse } from "../../service/http/validation.js";
import { openTestDb, testDatabases } from "../support/db.js";
import { bearer, seedOrganization } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEYS = {
  older: "sk-proj-ResolveOlder000000000000000000000001",
  newer: "sk-proj-ResolveNewer000000000000000000000002",
  rotated: "sk-proj-ResolveRotated0000000000000000000003",
  staging: "sk-proj-ResolveStaging0000000000000000000004",
  graceV1: "sk-ant-api03-GraceOne000000000000000000000000005",
  graceV2: "sk-ant-api03-GraceTwo000000000000000000000000006",
  graceV3: "sk-ant-api03-GraceThree0000000000000000000000007",
  awsSecret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYRESOLVEKEY",
  awsToken: "FwoGZXIvYXdzEResolveSessionToken0000000000",
};
const ALL_SECRETS = Object.values(KEYS);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of testDatabases()) {
  describe(`resolve (${kind})`, () => {
    const t = useApiFixture(kind);
    const resolve = (body: Record<string, unknown>, auth = t.resolver, org = t.orgId) => t.api.post(`/v1/organizations/${org}/resolve`).set(auth).send(body);
    const create = async (body: Record<string, unknown>) => {
      const res = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; version: number };
    };

    let olderId: string;
    let newerId: string;

    it("prefers the default, else the most recently rotated (or created) credential", async () => {
      olderId = (await create({ provider: "openai", name: "older", api_key: KEYS.older, settings: { openai_organization: "org-abc" } })).id;
      newerId = (await create({ provider: "openai", name: "newer", api_key: KEYS.newer })).id;
      const first = await resolve({ provider: "openai" });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ secret: KEYS.newer, credential_id: newerId, source: "organization" });

      const rotated = await t.api.post(`/v1/organizations/${t.orgId}/credentials/${olderId}/rotate`).set(t.admin).send({ api_key: KEYS.rotated });
      expect(rotated.status).toBe(200);
      const second = await resolve({ provider: "openai" });
      expect(second.body).toMatchObject({
        secret: KEYS.rotated,
        credential_id: olderId,
        key_version: 2,
        key_hint: "sk-proj-…0003",
        api_base: "https://api.openai.com/v1",
        env_var: "OPENAI_API_KEY",
        settings: { openai_organization: "org-abc" },
      });

      const makeDefault = await t.api.patch(`/v1/organizations/${t.orgId}/credentials/${newerId}`).set(t.admin).send({ is_default: true });
      expect(makeDefault.status).toBe(200);
      expect((await resolve({ provider: "openai" })).body.credential_id).toBe(newerId);
    });

    it("narrows by environment", async () => {
      const staging = await create({ provider: "openai", name: "staging", environment: "staging", api_key: KEYS.staging });
      const res = await resolve({ provider: "openai", environment: "staging" });
      expect(res.body).toMatchObject({ secret: KEYS.staging, credential_id: staging.id });
      const none = await resolve({ provider: "openai", environment: "development" });
      expect(none.status).toBe(404);
      expect(none.body.code).toBe("no_credential");
      expect(none.body.detail).toContain("development");
      expect(none.body.checked).toEqual([{ source: "organization", environment: "development" }, { source: "platform" }]);
    });

    it("returns fields for multi-field credentials", async () => {
      const aws = await create({
        provider: "bedrock",
        name: "aws",
        fields: { access_key_id: "AKIARESOLVE000000001", secret_access_key: KEYS.awsSecret, session_token: KEYS.awsToken },
        settings: { region: "eu-west-1" },
      });
      const res = await resolve({ provider: "bedrock" });
      expect(res.status).toBe(200);
      parseResponse("resolveCredential", 200, res.body);
      expect(res.body.secret).toBeUndefined();
      expect(res.body).toMatchObject({
        fields: { access_key_id: "AKIARESOLVE000000001", secret_access_key: KEYS.awsSecret, session_token: KEYS.awsToken },
        credential_id: aws.id,
        env_var: "AWS_ACCESS_KEY_ID",
        settings: { region: "eu-west-1" },
      });
    });

    it("rejects an unknown provider (422) and an unknown project (404)", async () => {
      const unknown = await resolve({ provider: "nosuchprovider" });
      expect(unknown.status).toBe(422);
      expect(unknown.body.errors[0].path).toBe("body.provider");
      const project = await resolve({ provider: "openai", project_id: "prj_00000000000000000000000000" });
      expect(project.status).toBe(404);
      expect(project.body.code).toBe("not_found");
      expect(project.body.detail).toBe("The project does not exist.");
      const bad = await resolve({ provider: "openai", version: "older" });
      expect(bad.status).toBe(422);
    });

    it("serves the previous version during its grace period, and refuses it afterwards", async () => {
      const cred = await create({ provider: "anthropic", name: "grace", api_key: KEYS.graceV1 });
      const noPrevious = await resolve({ provider: "anthropic", version: "previous" });
      expect(noPrevious.status).toBe(404);
      expect(noPrevious.body.code).toBe("no_previous_version");

      const rotate = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials/${cred.id}/rotate`)
        .set(t.admin)
        .send({ api_key: KEYS.graceV2, grace_seconds: 2 });
      expect(rotate.status).toBe(200);
      const current = await resolve({ provider: "anthropic" });
      expect(current.body).toMatchObject({ secret: KEYS.graceV2, key_version: 2 });
      const previous = await resolve({ provider: "anthropic", version: "previous" });
      expect(previous.status).toBe(200);
      expect(previous.body).toMatchObject({ secret: KEYS.graceV1, key_version: 1, key_hint: "sk-ant-api03-…0005", credential_id: cred.id });

      await sleep(2_200);
      // The read path refuses an expired version even before maintenance destroys it …
      const material = () =>
        t.runtime.db.query<{ ciphertext: Buffer | null; destroyed_at: Date | null }>(
          "select ciphertext, destroyed_at from credential_versions where credential_id = $1 and key_version = 1",
          [cred.id],
        );
      expect((await material()).rows[0].ciphertext).not.toBeNull();
      const expired = await resolve({ provider: "anthropic", version: "previous" });
      expect(expired.status).toBe(404);
      expect(expired.body.code).toBe("no_previous_version");
      // … and maintenance then destroys its ciphertext.
      await runMaintenance(t.runtime.db, t.runtime.log);
      const after = (await material()).rows[0];
      expect(after.ciphertext).toBeNull();
      expect(after.destroyed_at).not.toBeNull();
      expect((await resolve({ provider: "anthropic" })).body.secret).toBe(KEYS.graceV2);

      // Without grace the previous version is gone at once.
      await t.api.post(`/v1/organizations/${t.orgId}/credentials/${cred.id}/rotate`).set(t.admin).send({ api_key: KEYS.graceV3 });
      expect((await resolve({ provider: "anthropic", version: "previous" })).body.code).toBe("no_previous_version");
      const v2 = await t.runtime.db.query<{ ciphertext: Buffer | null }>(
        "select ciphertext from credential_versions where credential_id = $1 and key_version = 2",
        [cred.id],
      );
      expect(v2.rows[0].ciphertext).toBeNull();
    });

    it("only resolvers of the organization get secrets", async () => {
      for (const role of ["admin", "member"] as const) {
        const res = await resolve({ provider: "openai" }, bearer(t.tokens[role]));
        expect(res.status, role).toBe(403);
        expect(JSON.stringify(res.body)).not.toContain("sk-proj-Resolve");
      }
      const platform = await resolve({ provider: "openai" }, bearer(t.platformToken));
      expect(platform.status).toBe(403);
      for (const role of ["admin", "member"] as const) {
        const env = await t.api.get(`/v1/organizations/${t.orgId}/environment`).set(bearer(t.tokens[role]));
        expect(env.status, role).toBe(403);
      }
      expect((await t.api.get(`/v1/organizations/${t.orgId}/environment`).set(bearer(t.platformToken))).status).toBe(403);

      const other = await seedOrganization(t);
      const foreign = await resolve({ provider: "openai" }, bearer(other.tokens.resolver));
      expect(foreign.status).toBe(404);
      expect(foreign.body.detail).toBe("The organization does not exist.");
      const foreignEnv = await t.api.get(`/v1/organizations/${t.orgId}/environment`).set(bearer(other.tokens.resolver));
      expect(foreignEnv.status).toBe(404);
      expect((await resolve({ provider: "openai" }, bearer(other.tokens.resolver), other.org.id)).status).toBe(404);
      expect((await resolve({ provider: "openai" }, {})).status).toBe(401);
    });

    it("audits every resolve with who, which credential, source, key_version and hint, never the secret", async () => {
      const ok = await resolve({ provider: "openai" });
      const res = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "credential.resolve", limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      const event = res.body.data.find((e: { request_id: string }) => e.request_id === ok.headers["x-request-id"]);
      expect(event).toMatchObject({
        actor_role: "resolver",
        target_type: "credential",
        target_id: newerId,
        outcome: "success",
        details: { provider: "openai", source: "organization", key_version: 1, key_hint: "sk-proj-…0002", version: "current" },
      });
      expect(event.actor_token_id).toMatch(/^tok_/);
      const failures = res.body.data.filter((e: { outcome: string }) => e.outcome === "failure");
      expect(failures.map((e: { details: { reason: string } }) => e.details.reason)).toEqual(
        expect.arrayContaining(["no_credential", "no_previous_version", "not_found"]),
      );
      const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
      expect(verify.body.valid).toBe(true);

      const audit = await t.runtime.db.query<{ row: string }>("select t::text as row from audit_events t");
      const text = audit.rows.map((r) => r.row).join("\n");
      const logs = t.logs.join("\n");
      for (const secret of ALL_SECRETS) {
        expect(text).not.toContain(secret);
        expect(logs).not.toContain(secret);
      }
    });

    it("keeps the audit chain intact under concurrent resolves (group commit)", async () => {
      const before = await t.runtime.db.query<{ n: number }>("select count(*)::int as n from audit_events where action = 'credential.resolve'");
      const results = await Promise.all(Array.from({ length: 40 }, () => resolve({ provider: "openai" })));
      expect(results.every((r) => r.status === 200)).toBe(true);
      const after = await t.runtime.db.query<{ n: number }>("select count(*)::int as n from audit_events where action = 'credential.resolve'");
      expect(Number(after.rows[0].n) - Number(before.rows[0].n)).toBe(40);
      const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
      expect(verify.body).toMatchObject({ valid: true });
    });
  });

  describe(`platform keys from the catalog's variables (${kind})`, () => {
    it("KEYPLANE_PLATFORM_KEYS_FROM_ENV=1 serves e.g. ANTHROPIC_API_KEY; explicit KEYPLANE_PLATFORM_* wins", async () => {
      const testDb = await openTestDb(kind);
      const dataDir = mkdtempSync(join(tmpdir(), "kp-test-"));
      const platformToken = `kp_${randomBytes(32).toString("base64url")}`;
      const config = loadConfig(
        {
          KEYPLANE_DATA_DIR: dataDir,
          KEYPLANE_MASTER_KEY: randomBytes(32).toString("base64"),
          KEYPLANE_BOOTSTRAP_TOKEN: platformToken,
          KEYPLANE_PLATFORM_KEYS_FROM_ENV: "1",
          ANTHROPIC_API_KEY: "sk-ant-api03-FromCatalogVariable00000000000000xyz1",
          OPENAI_API_KEY: "sk-proj-FromCatalogVariable000000000000000000xyz2",
          KEYPLANE_PLATFORM_OPENAI_API_KEY: "sk-proj-ExplicitPlatformKey00000000000000000xyz3",
        },
        { providerEnvVars: platformKeyEnvVars() },
      );
      const runtime = await createRuntime({ config, db: testDb.db, log: createLogger("silent") });
      try {
        const api = request(runtime.app);
        const org = await api
          .post("/v1/organizations")
          .set(bearer(platformToken))
          .send({ name: "Env", slug: `env-${randomBytes(3).toString("hex")}` });
        const tok = await api.post(`/v1/organizations/${org.body.id}/tokens`).set(bearer(platformToken)).send({ role: "resolver", name: "r" });
        const anthropic = await api.post(`/v1/organizations/${org.body.id}/resolve`).set(bearer(tok.body.token)).send({ provider: "anthropic" });
        expect(anthropic.body).toMatchObject({
          source: "platform",
          secret: "sk-ant-api03-FromCatalogVariable00000000000000xyz1",
          env_var: "ANTHROPIC_API_KEY",
        });
        const openai = await api.post(`/v1/organizations/${org.body.id}/resolve`).set(bearer(tok.body.token)).send({ provider: "openai" });
        expect(openai.body.secret).toBe("sk-proj-ExplicitPlatformKey00000000000000000xyz3");
        const previous = await api
          .post(`/v1/organizations/${org.body.id}/resolve`)
          .set(bearer(tok.body.token))
          .send({ provider: "openai", version: "previous" });
        expect(previous.status).toBe(404);
        expect(previous.body.code).toBe("no_previous_version");
      } finally {
        await runtime.close();
        await testDb.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 60_000);
  });
}
