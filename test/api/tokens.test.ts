import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import request from "supertest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../../service/tokens/token-service.js";
import { createPgTestDatabase, testDatabases } from "../support/db.js";
import { CLI } from "../support/service-process.js";
import { loadConfig } from "../../service/config.js";
import { openDb } from "../../service/db/index.js";
import { createLogger } from "../../service/observability/logger.js";
import { createRuntime } from "../../service/server.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

for (const kind of testDatabases()) {
  describe(`tokens (${kind})`, () => {
    const t = useApiFixture(kind);

    it("shows a token once, stores only its hash, and lists it without the secret", async () => {
      const created = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "resolver", name: "worker" });
      expect(created.status).toBe(201);
      expect(created.body.token).toMatch(/^kp_[A-Za-z0-9_-]{43}$/);
      const list = await t.api.get(`/v1/organizations/${t.orgId}/tokens`).set(t.admin);
      expect(JSON.stringify(list.body)).not.toContain(created.body.token);
      const stored = await t.testDb.db.query<{ token_hash: Buffer }>("select token_hash from api_tokens where id = $1", [created.body.id]);
      expect(stored.rows[0].token_hash).toHaveLength(32);
    });

    it("refuses a revoked token on its very next request, even right after it was used", async () => {
      const created = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "member", name: "short-lived" });
      const member = bearer(created.body.token);
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(member)).status).toBe(200);
      expect((await t.api.delete(`/v1/organizations/${t.orgId}/tokens/${created.body.id}`).set(t.admin)).status).toBe(204);
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(member)).status).toBe(401);
    });

    it("lists platform-admin tokens page by page, never with their value or hash", async () => {
      const extra = await t.runtime.db.transaction((tx) =>
        createToken(tx, { organizationId: null, role: "platform_admin", name: "second admin" }, { tokenId: null, role: null }, "test"),
      );
      const platform = bearer(t.platformToken);
      const seen: Array<Record<string, unknown>> = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; body: { data: Array<Record<string, unknown>>; next_cursor: string | null } } = await t.api
          .get("/v1/tokens")
          .query({ limit: 1, ...(cursor ? { cursor } : {}) })
          .set(platform);
        expect(res.status).toBe(200);
        seen.push(...res.body.data);
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor);
      expect(pages).toBeGreaterThanOrEqual(2);
      expect(seen.map((tok) => tok.id)).toContain(extra.record.id);
      expect(seen.every((tok) => tok.role === "platform_admin" && tok.organization_id === null)).toBe(true);
      expect(Object.keys(seen[0]).sort()).toEqual([
        "created_at",
        "created_by",
        "expires_at",
        "id",
        "last_used_at",
        "name",
        "organization_id",
        "project_id",
        "role",
      ]);
      const text = JSON.stringify(seen);
      for (const secret of [t.platformToken, extra.token, extra.record.token_hash.toString("hex"), extra.record.token_hash.toString("base64")]) {
        expect(text).not.toContain(secret);
      }
      // Organization tokens are not listed here.
      const orgTokens = await t.testDb.db.query<{ id: string }>("select id from api_tokens where organization_id = $1", [t.orgId]);
      for (const { id } of orgTokens.rows) expect(seen.map((tok) => tok.id)).not.toContain(id);
    });

    it("revokes a platform-admin token at once, and only platform-admin tokens", async () => {
      const extra = await t.runtime.db.transaction((tx) =>
        createToken(tx, { organizationId: null, role: "platform_admin", name: "to revoke" }, { tokenId: null, role: null }, "test"),
      );
      const platform = bearer(t.platformToken);
      expect((await t.api.get("/v1/organizations").set(bearer(extra.token))).status).toBe(200);
      expect((await t.api.delete(`/v1/tokens/${extra.record.id}`).set(platform)).status).toBe(204);
      expect((await t.api.get("/v1/organizations").set(bearer(extra.token))).status).toBe(401);
      expect((await t.api.delete(`/v1/tokens/${extra.record.id}`).set(platform)).status).toBe(404);
      const listed = await t.api.get("/v1/tokens").query({ limit: 200 }).set(platform);
      expect(listed.body.data.map((tok: { id: string }) => tok.id)).not.toContain(extra.record.id);

      const member = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "member", name: "not platform" });
      const refused = await t.api.delete(`/v1/tokens/${member.body.id}`).set(platform);
      expect(refused.status).toBe(404);
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(member.body.token))).status).toBe(200);

      const audit = await t.testDb.db.query<{ actor_role: string }>(
        "select actor_role from audit_events where chain_key = 'platform' and action = 'token.revoke' and target_id = $1",
        [extra.record.id],
      );
      expect(audit.rows).toEqual([{ actor_role: "platform_admin" }]);
    });

    it("whoami describes the calling token, for every role", async () => {
      const soon = new Date(Date.now() + 3_600_000).toISOString();
      const created = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "resolver", name: "who", expires_at: soon });
      const res = await t.api.get("/v1/whoami").set(bearer(created.body.token));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: created.body.id, role: "resolver", organization_id: t.orgId, project_id: null, name: "who", expires_at: soon });
      expect(JSON.stringify(res.body)).not.toContain(created.body.token);

      const platform = await t.api.get("/v1/whoami").set(bearer(t.platformToken));
      expect(platform.body).toMatchObject({ role: "platform_admin", organization_id: null, project_id: null, name: "bootstrap", expires_at: null });
      for (const role of ["admin", "member"] as const) {
        const own = await t.api.get("/v1/whoami").set(bearer(t.tokens[role]));
        expect(own.body).toMatchObject({ role, organization_id: t.orgId });
      }
      expect((await t.api.get("/v1/whoami")).status).toBe(401);
    });

    it("refuses an expired token", async () => {
      const soon = new Date(Date.now() + 1500).toISOString();
      const created = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "member", name: "expiring", expires_at: soon });
      const member = bearer(created.body.token);
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(member)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1700));
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(member)).status).toBe(401);
    });
  });
}

/** The built CLI on the given database. */
// The audit chain is keyed under the master key: every start and CLI call on one database shares it.
const MASTER_KEY = randomBytes(32).toString("base64");

function cli(args: string[], env: { dataDir: string; databaseUrl?: string }) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, KEYPLANE_DATA_DIR: env.dataDir, KEYPLANE_MASTER_KEY: MASTER_KEY };
  delete childEnv.DATABASE_URL;
  delete childEnv.KEYPLANE_BOOTSTRAP_TOKEN;
  if (env.databaseUrl) childEnv.DATABASE_URL = env.databaseUrl;
  const result = spawnSync(process.execPath, [CLI, ...args], { env: childEnv, encoding: "utf8", timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

for (const kind of testDatabases()) {
  describe(`platform-admin tokens across restarts and the CLI (${kind})`, () => {
    let dataDir: string;
    let databaseUrl: string | undefined;
    let dropDatabase = async () => {};
    const open = () => (databaseUrl ? openDb({ driver: "pg", url: databaseUrl, poolMax: 3 }) : openDb({ driver: "pglite", dataDir: join(dataDir, "data") }));

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), "kp-bootstrap-"));
      if (kind === "pg") {
        const database = await createPgTestDatabase();
        databaseUrl = database.url;
        dropDatabase = database.drop;
      }
    });
    afterAll(async () => {
      rmSync(dataDir, { recursive: true, force: true });
      await dropDatabase();
    });

    it("a start whose KEYPLANE_BOOTSTRAP_TOKEN was revoked starts without it, warns, and never re-creates it", async () => {
      const bootstrapToken = `kp_${randomBytes(32).toString("base64url")}`;
      const config = loadConfig({ KEYPLANE_DATA_DIR: dataDir, KEYPLANE_MASTER_KEY: MASTER_KEY, KEYPLANE_BOOTSTRAP_TOKEN: bootstrapToken });
      const logs: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          logs.push(String(chunk));
          done();
        },
      });
      const log = createLogger("info", sink);

      const first = await createRuntime({ config, log, db: await open() });
      const me = await request(first.app).get("/v1/whoami").set(bearer(bootstrapToken));
      expect(me.body.role).toBe("platform_admin");
      expect((await request(first.app).delete(`/v1/tokens/${me.body.id}`).set(bearer(bootstrapToken))).status).toBe(204);
      expect((await request(first.app).get("/v1/whoami").set(bearer(bootstrapToken))).status).toBe(401);
      await first.close();

      // The same configuration again: before, re-inserting the token's hash failed and the start crashed.
      const second = await createRuntime({ config, log, db: await open() });
      try {
        expect((await request(second.app).get("/v1/whoami").set(bearer(bootstrapToken))).status).toBe(401);
        const revoked = await second.db.query<{ n: number }>("select count(*)::int as n from api_tokens where revoked_at is not null and id = $1", [
          me.body.id,
        ]);
        expect(Number(revoked.rows[0].n)).toBe(1);
      } finally {
        await second.close();
      }
      const text = logs.join("");
      expect(text).toMatch(/KEYPLANE_BOOTSTRAP_TOKEN names a revoked token; it will not be re-created/);
      expect(text).not.toContain(bootstrapToken);
    }, 120_000);

    it("keyplane token list and revoke manage platform-admin tokens without showing their values", () => {
      const env = { dataDir, databaseUrl };
      const created = cli(["token", "create", "--role", "platform_admin", "--name", "ops"], env);
      expect(created.status, created.stderr).toBe(0);
      const opsToken = created.stdout.trim();
      const listed = cli(["token", "list"], env);
      expect(listed.status, listed.stderr).toBe(0);
      const tokens = JSON.parse(listed.stdout) as Array<{ id: string; name: string; role: string }>;
      // The revoked bootstrap token of the previous test is not listed.
      expect(tokens.map((tok) => [tok.name, tok.role])).toEqual([["ops", "platform_admin"]]);
      expect(listed.stdout).not.toContain(opsToken);

      const revoked = cli(["token", "revoke", tokens[0].id], env);
      expect(revoked.status, revoked.stderr).toBe(0);
      expect(revoked.stderr).toContain(`revoked token ${tokens[0].id}`);
      expect(JSON.parse(cli(["token", "list"], env).stdout)).toEqual([]);
      const again = cli(["token", "revoke", tokens[0].id], env);
      expect(again.status).not.toBe(0);
      expect(again.stderr).toContain(`no active token ${tokens[0].id}`);
    }, 300_000);

    it("keyplane token create normalises an --expires-at offset the database refuses (+23:59) and refuses what is not a date-time", () => {
      const env = { dataDir, databaseUrl };
      const created = cli(["token", "create", "--role", "platform_admin", "--name", "expiring", "--expires-at", "2030-06-01T12:00:00+23:59"], env);
      expect(created.status, created.stderr).toBe(0);
      const listed = JSON.parse(cli(["token", "list"], env).stdout) as Array<{ name: string; expires_at: string | null }>;
      expect(listed.find((tok) => tok.name === "expiring")?.expires_at).toBe("2030-05-31T12:01:00.000Z");
      for (const bad of ["tomorrow", "2030-13-01T00:00:00Z", "1999-01-01T00:00:00Z"]) {
        const refused = cli(["token", "create", "--role", "platform_admin", "--expires-at", bad], env);
        expect(refused.status, bad).toBe(2);
        expect(refused.stderr).toMatch(/--expires-at must be/);
        // A date-time in the past is the service's refusal (body.expires_at), printed as the option it came from.
        if (bad.startsWith("1999")) expect(refused.stderr).toBe("keyplane: --expires-at must be in the future\n");
      }
    }, 300_000);
  });
}
