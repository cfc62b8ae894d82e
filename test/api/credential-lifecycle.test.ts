import { describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

const OPENAI_KEY = "sk-proj-Lifecycle0000000000000000000000000000000000A1b2";
const OPENAI_KEY_2 = "sk-proj-Lifecycle1111111111111111111111111111111111Z9y8";
const ANTHROPIC_KEY = "sk-ant-api03-Lifecycle22222222222222222222222222222x9Qz";

for (const kind of testDatabases()) {
  describe(`credential lifecycle over HTTP (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}/credentials`;

    it("serves health, readiness, metrics and the contract", async () => {
      expect((await t.api.get("/healthz")).status).toBe(200);
      const ready = await t.api.get("/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.database).toBe(kind === "pg" ? "pg" : "pglite");
      expect((await t.api.get("/metrics")).text).toContain("keyplane_http_requests_total");
      const spec = await t.api.get("/openapi.yaml");
      expect(spec.status).toBe(200);
      expect(spec.text).toContain("openapi: 3.1");
      const docs = await t.api.get("/docs/");
      expect(docs.status).toBe(200);
      expect(docs.text.toLowerCase()).toContain("swagger");
    });

    it("lists the provider catalog", async () => {
      const res = await t.api.get("/v1/providers").set(t.member);
      expect(res.status).toBe(200);
      const ids = res.body.data.map((p: { id: string }) => p.id);
      for (const id of [
        "openai",
        "anthropic",
        "gemini",
        "fireworks",
        "deepseek",
        "openrouter",
        "mistral",
        "xai",
        "perplexity",
        "groq",
        "azure_openai",
        "bedrock",
        "vertex",
        "gcp",
        "portkey",
        "litellm",
        "custom",
      ]) {
        expect(ids).toContain(id);
      }
      const anthropic = res.body.data.find((p: { id: string }) => p.id === "anthropic");
      expect(anthropic).toMatchObject({ key_prefix: "sk-ant-", default_env_var: "ANTHROPIC_API_KEY" });
    });

    let credentialId: string;
    let etag: string;

    it("creates a credential with defaults from the catalog and a hint", async () => {
      const res = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "openai", name: "primary", api_key: OPENAI_KEY, settings: { openai_organization: "org-123" }, is_default: true });
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe(`${base()}/${res.body.id}`);
      expect(res.headers.etag).toBe('"v1"');
      expect(res.body).toMatchObject({
        provider: "openai",
        name: "primary",
        type: "api_token",
        category: "llm_provider",
        key_hint: "sk-proj-…A1b2",
        key_version: 1,
        env_var: "OPENAI_API_KEY",
        api_base: "https://api.openai.com/v1",
        environment: "production",
        active: true,
        is_default: true,
        secret_fields: ["api_key"],
        project_id: null,
      });
      expect(res.body.id).toMatch(/^cred_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(JSON.stringify(res.body)).not.toContain(OPENAI_KEY);
      credentialId = res.body.id;
      etag = res.headers.etag;
    });

    it("rejects a key that does not match the provider's prefix, naming the prefix", async () => {
      const res = await t.api.post(base()).set(t.admin).send({ provider: "anthropic", name: "bad", api_key: "sk-proj-notanthropic000000000000" });
      expect(res.status).toBe(422);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      expect(res.body.errors[0].path).toBe("body.api_key");
      expect(res.body.errors[0].message).toContain('"sk-ant-"');
      expect(JSON.stringify(res.body)).not.toContain("notanthropic");
    });

    it("validates multi-field types per type", async () => {
      const missing = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "bedrock", name: "aws", fields: { access_key_id: "AKIAABCDEFGHIJKLMNOP" }, settings: { region: "us-east-1" } });
      expect(missing.status).toBe(422);
      expect(missing.body.errors.map((e: { path: string }) => e.path)).toContain("body.fields.secret_access_key");

      const ok = await t.api
        .post(base())
        .set(t.admin)
        .send({
          provider: "bedrock",
          name: "aws",
          fields: { access_key_id: "AKIAABCDEFGHIJKLMNOP", secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
          settings: { region: "us-east-1" },
        });
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ type: "aws", key_hint: "AKIA…MNOP", secret_fields: ["access_key_id", "secret_access_key"] });

      const badJson = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "vertex", name: "sa", fields: { service_account_json: "{not json" } });
      expect(badJson.status).toBe(422);
      expect(badJson.body.errors[0].path).toBe("body.fields.service_account_json");

      const noKey = await t.api
        .post(base())
        .set(t.admin)
        // The address's local part is the refused secret's most distinctive run, for the leak scan: a
        // bare "gserviceaccount" would match every vertex credential's public hint.
        .send({
          provider: "vertex",
          name: "sa",
          fields: { service_account_json: JSON.stringify({ client_email: "nokey7Qx9Lm2Pw4Rt8Zv@b.iam.gserviceaccount.com" }) },
        });
      expect(noKey.status).toBe(422);
      expect(noKey.body.errors[0].message).toContain("private_key");

      const badSetting = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "gemini", name: "g", api_key: "AIzaSyA0000000000000000000000000000000", settings: { region: "x" } });
      expect(badSetting.status).toBe(422);
      expect(badSetting.body.errors[0].path).toBe("body.settings.region");
    });

    it("enforces unique names; a default per provider and environment (moving it: idempotent-writes.test.ts)", async () => {
      const dupName = await t.api.post(base()).set(t.admin).send({ provider: "openai", name: "primary", api_key: OPENAI_KEY_2 });
      expect(dupName.status).toBe(409);
      expect(dupName.body.code).toBe("name_conflict");
      const otherEnv = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "openai", name: "dev", api_key: OPENAI_KEY_2, is_default: true, environment: "development" });
      expect(otherEnv.status).toBe(201);
    });

    it("honours Idempotency-Key: same body replays, different body is refused", async () => {
      const body = { provider: "anthropic", name: "claude", api_key: ANTHROPIC_KEY };
      const first = await t.api.post(base()).set(t.admin).set("Idempotency-Key", "create-claude-1").send(body);
      expect(first.status).toBe(201);
      const again = await t.api.post(base()).set(t.admin).set("Idempotency-Key", "create-claude-1").send(body);
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(first.body.id);
      const different = await t.api
        .post(base())
        .set(t.admin)
        .set("Idempotency-Key", "create-claude-1")
        .send({ ...body, name: "other" });
      expect(different.status).toBe(422);
      const list = await t.api.get(base()).query({ provider: "anthropic" }).set(t.member);
      expect(list.body.data).toHaveLength(1);
      expect(list.body.data[0].key_hint).toBe("sk-ant-api03-…x9Qz");
    });

    it("gets, lists with filters and paginates with a cursor", async () => {
      const one = await t.api.get(`${base()}/${credentialId}`).set(t.member);
      expect(one.status).toBe(200);
      expect(one.headers.etag).toBe(etag);
      const all: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: { data: { id: string }[]; next_cursor: string | null } } = await t.api
          .get(base())
          .query(cursor ? { limit: 2, cursor } : { limit: 2 })
          .set(t.member);
        expect(res.status).toBe(200);
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        all.push(...res.body.data.map((c: { id: string }) => c.id));
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(new Set(all).size).toBe(all.length);
      expect(all.length).toBe(4);
      const dev = await t.api.get(base()).query({ environment: "development" }).set(t.member);
      expect(dev.body.data.map((c: { name: string }) => c.name)).toEqual(["dev"]);
      const bad = await t.api.get(base()).query({ limit: "lots" }).set(t.member);
      expect(bad.status).toBe(422);
      expect(bad.body.errors[0].path).toBe("query.limit");
      const badCursor = await t.api.get(base()).query({ cursor: "!!!" }).set(t.member);
      expect(badCursor.status).toBe(422);
    });

    it("patches with If-Match and answers 412 on a stale ETag", async () => {
      const ok = await t.api
        .patch(`${base()}/${credentialId}`)
        .set(t.admin)
        .set("If-Match", etag)
        .send({ description: "main OpenAI key", owner: "ml-platform" });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ description: "main OpenAI key", owner: "ml-platform", version: 2 });
      expect(ok.headers.etag).toBe('"v2"');
      const stale = await t.api.patch(`${base()}/${credentialId}`).set(t.admin).set("If-Match", etag).send({ description: "lost" });
      expect(stale.status).toBe(412);
      expect(stale.headers.etag).toBe('"v2"');
      const secretInPatch = await t.api.patch(`${base()}/${credentialId}`).set(t.admin).send({ api_key: OPENAI_KEY_2 });
      expect(secretInPatch.status).toBe(422);
      etag = ok.headers.etag;
    });

    it("rotates with a grace period and lists versions without secrets", async () => {
      const res = await t.api.post(`${base()}/${credentialId}/rotate`).set(t.admin).send({ api_key: OPENAI_KEY_2, grace_seconds: 3600 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ key_version: 2, key_hint: "sk-proj-…Z9y8" });
      expect(res.body.rotated_at).not.toBeNull();
      const versions = await t.api.get(`${base()}/${credentialId}/versions`).set(t.member);
      expect(versions.status).toBe(200);
      expect(versions.body.data.map((v: { key_version: number; state: string }) => [v.key_version, v.state])).toEqual([
        [2, "current"],
        [1, "grace"],
      ]);
      expect(versions.body.data[1].key_hint).toBe("sk-proj-…A1b2");
      const third = await t.api.post(`${base()}/${credentialId}/rotate`).set(t.admin).send({ api_key: OPENAI_KEY });
      expect(third.body.key_version).toBe(3);
      const after = await t.api.get(`${base()}/${credentialId}/versions`).set(t.member);
      expect(after.body.data.map((v: { state: string }) => v.state)).toEqual(["current", "destroyed", "destroyed"]);
      const rows = await t.testDb.db.query<{ n: number }>(
        "select count(*)::int as n from credential_versions where credential_id = $1 and ciphertext is not null",
        [credentialId],
      );
      expect(rows.rows[0].n).toBe(1);
      const wrong = await t.api
        .post(`${base()}/${credentialId}/rotate`)
        .set(t.admin)
        .send({ api_key: ANTHROPIC_KEY.replace("sk-ant-", "xx-") });
      expect(wrong.status).toBe(422);
    });

    it("computes rotation_due_at and filters by rotation_due", async () => {
      const res = await t.api.patch(`${base()}/${credentialId}`).set(t.admin).send({ rotation_period_days: 30 });
      expect(res.body.rotation_due_at).not.toBeNull();
      const due = new Date(res.body.rotation_due_at).getTime() - new Date(res.body.rotated_at).getTime();
      expect(Math.round(due / 86_400_000)).toBe(30);
      await t.testDb.db.query("update credentials set rotated_at = now() - interval '31 days' where id = $1", [credentialId]);
      const dueList = await t.api.get(base()).query({ rotation_due: "true" }).set(t.member);
      expect(dueList.body.data.map((c: { id: string }) => c.id)).toEqual([credentialId]);
    });

    it("deactivates, refuses to delete an active credential without force, deletes and destroys ciphertext", async () => {
      const created = await t.api.post(base()).set(t.admin).send({ provider: "groq", name: "groq", api_key: "gsk_deleteme000000000000000000000" });
      const id = created.body.id;
      const refused = await t.api.delete(`${base()}/${id}`).set(t.admin);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe("credential_active");
      const off = await t.api.post(`${base()}/${id}/deactivate`).set(t.admin);
      expect(off.status).toBe(200);
      expect(off.body.active).toBe(false);
      const on = await t.api.post(`${base()}/${id}/activate`).set(t.admin);
      expect(on.body.active).toBe(true);
      const forced = await t.api.delete(`${base()}/${id}`).query({ force: "true" }).set(t.admin);
      expect(forced.status).toBe(204);
      expect((await t.api.get(`${base()}/${id}`).set(t.member)).status).toBe(404);
      const left = await t.testDb.db.query<{ n: number }>("select count(*)::int as n from credential_versions where credential_id = $1", [id]);
      expect(left.rows[0].n).toBe(0);
    });

    it("answers problem JSON for malformed JSON, wrong content type and oversized bodies", async () => {
      const malformed = await t.api.post(base()).set(t.admin).set("Content-Type", "application/json").send('{"provider": "openai",');
      expect(malformed.status).toBe(400);
      expect(malformed.body.code).toBe("malformed_json");
      const text = await t.api.post(base()).set(t.admin).set("Content-Type", "text/plain").send("provider=openai");
      expect(text.status).toBe(415);
      const huge = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "openai", name: "x", api_key: `sk-${"a".repeat(200_000)}` });
      expect(huge.status).toBe(413);
      const unknownField = await t.api.post(base()).set(t.admin).send({ provider: "openai", name: "x", api_key: OPENAI_KEY, colour: "blue" });
      expect(unknownField.status).toBe(422);
      const noAuth = await t.api.get(base());
      expect(noAuth.status).toBe(401);
      expect(noAuth.headers["www-authenticate"]).toContain("Bearer");
    });

    it("records every mutation in a verifiable audit chain", async () => {
      const res = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      const actions = res.body.data.map((e: { action: string }) => e.action);
      for (const action of [
        "organization.create",
        "token.create",
        "credential.create",
        "credential.update",
        "credential.rotate",
        "credential.deactivate",
        "credential.delete",
      ]) {
        expect(actions).toContain(action);
      }
      const event = res.body.data.find((e: { action: string }) => e.action === "credential.rotate");
      expect(event).toMatchObject({ outcome: "success", target_type: "credential", actor_role: "admin" });
      expect(event.request_id).toBeTruthy();
      const filtered = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "credential.rotate" }).set(t.admin);
      expect(filtered.body.data.every((e: { action: string }) => e.action === "credential.rotate")).toBe(true);
      const verify = await t.api.post(`/v1/organizations/${t.orgId}/audit-events/verify`).set(t.admin);
      expect(verify.body).toMatchObject({ valid: true });
      expect(verify.body.checked).toBeGreaterThan(5);
    });
  });
}
