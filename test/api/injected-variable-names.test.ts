/**
 * Variable names that would let an admin take over every process `keyplane run` starts
 * (NODE_OPTIONS, LD_PRELOAD, PATH, HTTPS_PROXY…) are refused on every write that sets a name —
 * `env_var` and the names derived from multi-field secrets — and left out of GET …/environment
 * when an older row still holds one.
 */
import { describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const PAYLOAD = "--require /tmp/keyplane-takeover-payload.js";
const SECRET = "custom-secret-value-0000000000000000e01";
const OPENAI = "sk-proj-NamesOpenAI0000000000000000000000000e02";

for (const kind of testDatabases()) {
  describe(`injected variable names (${kind})`, () => {
    const t = useApiFixture(kind);
    const credentials = () => `/v1/organizations/${t.orgId}/credentials`;
    const count = async () => (await t.api.get(credentials()).query({ limit: 200 }).set(t.admin)).body.data.length as number;
    const expectRefused = (res: { status: number; body: { errors?: { path: string; message: string }[] }; text: string }, path: string, name: string) => {
      expect(res.status, res.text).toBe(422);
      expect(res.body.errors).toEqual([expect.objectContaining({ path, message: expect.stringContaining(`${name} is refused (`) })]);
      expect(res.text).not.toContain(PAYLOAD);
      expect(res.text).not.toContain(SECRET);
    };

    it("create refuses an env_var that takes over the child process with 422 at body.env_var, and stores nothing", async () => {
      const before = await count();
      for (const name of [
        "NODE_OPTIONS",
        "LD_PRELOAD",
        "BASH_ENV",
        "PATH",
        "HOME",
        "HTTPS_PROXY",
        "PYTHONSTARTUP",
        "GIT_SSH_COMMAND",
        "SSL_CERT_FILE",
        "KEYPLANE_TOKEN",
        "OPENAI_BASE_URL",
      ]) {
        const res = await t.api
          .post(credentials())
          .set(t.admin)
          .send({ provider: "custom", name: `bad-${name}`, api_key: PAYLOAD, env_var: name });
        expectRefused(res, "body.env_var", name);
      }
      expect(await count()).toBe(before);
    });

    it("create refuses a variable Keyplane exports from settings (AZURE_OPENAI_ENDPOINT) as a secret's name", async () => {
      const res = await t.api
        .post(credentials())
        .set(t.admin)
        .send({ provider: "custom", name: "endpoint", api_key: SECRET, env_var: "AZURE_OPENAI_ENDPOINT" });
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([
        { path: "body.env_var", message: "AZURE_OPENAI_ENDPOINT is exported from settings.endpoint of azure_openai and cannot hold a secret" },
      ]);
    });

    it("create refuses multi-field names whose variable is refused (NODE + options = NODE_OPTIONS) at body.fields.<name>", async () => {
      const before = await count();
      const res = await t.api
        .post(credentials())
        .set(t.admin)
        .send({ provider: "custom", type: "custom", name: "fields", env_var: "NODE", fields: { api_key: SECRET, options: PAYLOAD } });
      expectRefused(res, "body.fields.options", "NODE_OPTIONS");
      expect(res.body.errors[0].message).toContain("field options is exported as NODE_OPTIONS");

      const proxy = await t.api
        .post(credentials())
        .set(t.admin)
        .send({ provider: "custom", type: "custom", name: "fields", env_var: "HTTPS", fields: { proxy: "http://attacker.invalid:3128" } });
      expectRefused(proxy, "body.fields.proxy", "HTTPS_PROXY");
      expect(await count()).toBe(before);
    });

    it("PATCH refuses a refused env_var, also one that only becomes refused with the stored field names, and changes nothing", async () => {
      const created = await t.api
        .post(credentials())
        .set(t.admin)
        .send({ provider: "custom", type: "custom", name: "patched", env_var: "SAFE", fields: { api_key: SECRET, token: SECRET } });
      expect(created.status, created.text).toBe(201);
      const id = created.body.id as string;

      expectRefused(await t.api.patch(`${credentials()}/${id}`).set(t.admin).send({ env_var: "LD_PRELOAD" }), "body.env_var", "LD_PRELOAD");
      const derived = await t.api.patch(`${credentials()}/${id}`).set(t.admin).send({ env_var: "NODE" });
      expectRefused(derived, "body.env_var", "NODE_TOKEN");
      expect(derived.body.errors[0].message).toContain("field token is exported as NODE_TOKEN");

      const after = await t.api.get(`${credentials()}/${id}`).set(t.admin);
      expect(after.body).toMatchObject({ env_var: "SAFE", version: created.body.version });
      const fine = await t.api.patch(`${credentials()}/${id}`).set(t.admin).send({ env_var: "PAYMENTS", description: "ok" });
      expect(fine.status, fine.text).toBe(200);
      expect(fine.body.env_var).toBe("PAYMENTS");
    });

    it("rotate refuses new fields whose variable is refused at body.fields.<name>, and keeps the current version", async () => {
      const created = await t.api
        .post(credentials())
        .set(t.admin)
        .send({ provider: "custom", type: "custom", name: "rotated", env_var: "HTTPS", fields: { token: SECRET } });
      expect(created.status, created.text).toBe(201);
      const id = created.body.id as string;
      const res = await t.api
        .post(`${credentials()}/${id}/rotate`)
        .set(t.admin)
        .send({ fields: { token: SECRET, proxy: "http://attacker.invalid:3128" } });
      expectRefused(res, "body.fields.proxy", "HTTPS_PROXY");
      expect((await t.api.get(`${credentials()}/${id}`).set(t.admin)).body.key_version).toBe(1);
    });

    it("a credential stored before its name was refused is left out of GET /environment (the rest still served), audited, and can be renamed", async () => {
      const other = await seedOrganization(t);
      const otherAdmin = bearer(other.tokens.admin);
      const otherResolver = bearer(other.tokens.resolver);
      const base = `/v1/organizations/${other.org.id}`;
      expect((await t.api.post(`${base}/credentials`).set(otherAdmin).send({ provider: "openai", name: "ok", api_key: OPENAI })).status).toBe(201);
      const legacy = await t.api
        .post(`${base}/credentials`)
        .set(otherAdmin)
        .send({ provider: "custom", name: "legacy", api_key: PAYLOAD, env_var: "LEGACY_NAME" });
      expect(legacy.status, legacy.text).toBe(201);
      // What an older Keyplane let through: written below the API, as the row would already be.
      await t.testDb.db.query("update credentials set env_var = 'NODE_OPTIONS' where id = $1", [legacy.body.id]);

      const res = await t.api.get(`${base}/environment`).set(otherResolver);
      expect(res.status).toBe(200);
      expect(res.body.variables).toEqual({ OPENAI_API_KEY: OPENAI });
      expect(res.text).not.toContain(PAYLOAD);

      const audit = await t.api.get(`${base}/audit-events`).query({ action: "environment.resolve" }).set(otherAdmin);
      expect(audit.body.data[0].details.refused_variables).toEqual(["NODE_OPTIONS"]);

      // Rotating the old key is not blocked by its old name; renaming it brings it back.
      const rotated = await t.api.post(`${base}/credentials/${legacy.body.id}/rotate`).set(otherAdmin).send({ api_key: SECRET });
      expect(rotated.status, rotated.text).toBe(200);
      const renamed = await t.api.patch(`${base}/credentials/${legacy.body.id}`).set(otherAdmin).send({ env_var: "LEGACY_NAME" });
      expect(renamed.status, renamed.text).toBe(200);
      expect((await t.api.get(`${base}/environment`).set(otherResolver)).body.variables).toEqual({ OPENAI_API_KEY: OPENAI, LEGACY_NAME: SECRET });
    });

    it("still injects names that merely look alike (DATABASE_URL, SMTP_HOST from fields, GITHUB_TOKEN)", async () => {
      for (const [name, body] of [
        ["db", { provider: "custom", name: "db", api_key: SECRET, env_var: "DATABASE_URL" }],
        ["gh", { provider: "custom", name: "gh", api_key: SECRET, env_var: "GITHUB_TOKEN" }],
        ["smtp", { provider: "custom", type: "smtp", name: "smtp", env_var: "SMTP", fields: { username: "u", password: SECRET, host: "smtp.example.com" } }],
      ] as const) {
        const res = await t.api.post(credentials()).set(t.admin).send(body);
        expect(res.status, `${name}: ${res.text}`).toBe(201);
      }
    });
  });
}
