/**
 * Input that PostgreSQL or JavaScript cannot take as it is — NUL characters, lone UTF-16
 * surrogates, cursors with the wrong types inside, time-zone offsets PostgreSQL refuses, encoded
 * bytes in path ids — gets a problem with the field path (404 for a path id that cannot exist),
 * never a 500, and writes nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");

for (const kind of testDatabases()) {
  describe(`bad input (${kind})`, () => {
    const t = useApiFixture(kind);
    let credentialId: string;
    let projectId: string;
    let tokenId: string;

    async function rowCounts() {
      const counts: Record<string, number> = {};
      for (const table of ["organizations", "api_tokens", "projects", "credentials", "credential_versions"]) {
        const { rows } = await t.testDb.db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
        counts[table] = rows[0].n;
      }
      return counts;
    }

    /** Sends a raw JSON text, so escapes such as \u0000 and \ud800 reach the server as written. */
    function sendRaw(method: "post" | "patch", path: string, auth: Record<string, string>, json: string) {
      return t.api[method](path).set(auth).set("Content-Type", "application/json").send(json);
    }

    function expectProblem(res: { status: number; headers: Record<string, string>; body: { errors?: { path: string }[] } }, status: number, path?: string) {
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      if (path) expect(res.body.errors?.map((e) => e.path)).toContain(path);
    }

    beforeAll(async () => {
      const credential = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name: "base", api_key: "sk-badinput000000000000000000000000" });
      credentialId = credential.body.id;
      projectId = (await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "base" })).body.id;
      tokenId = (await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "member", name: "spare" })).body.id;
    }, 60_000);

    it("refuses NUL characters in description, owner, settings values and names with 422 naming the field, writing nothing", async () => {
      const before = await rowCounts();
      const credentials = `/v1/organizations/${t.orgId}/credentials`;
      const base = '"provider":"openai","api_key":"sk-badinput111111111111111111111111"';
      expectProblem(await sendRaw("post", credentials, t.admin, `{${base},"name":"a","description":"x\\u0000y"}`), 422, "body.description");
      expectProblem(await sendRaw("post", credentials, t.admin, `{${base},"name":"b","owner":"\\u0000"}`), 422, "body.owner");
      expectProblem(
        await sendRaw("post", credentials, t.admin, `{${base},"name":"c","settings":{"openai_organization":"org\\u0000"}}`),
        422,
        "body.settings.openai_organization",
      );
      expectProblem(await sendRaw("post", credentials, t.admin, `{${base},"name":"d\\u0000"}`), 422, "body.name");
      expectProblem(await sendRaw("patch", `${credentials}/${credentialId}`, t.admin, '{"description":"\\u0000"}'), 422, "body.description");
      expectProblem(await sendRaw("post", `/v1/organizations/${t.orgId}/projects`, t.admin, '{"name":"p\\u0000"}'), 422, "body.name");
      expectProblem(await sendRaw("post", "/v1/organizations", t.platform, '{"name":"o\\u0000","slug":"nul-org"}'), 422, "body.name");
      expect(await rowCounts()).toEqual(before);
      const current = await t.api.get(`${credentials}/${credentialId}`).set(t.admin);
      expect(current.body.version).toBe(1);
    });

    it("refuses lone surrogates in token and organization names with 422, writing nothing and auditing nothing broken", async () => {
      const before = await rowCounts();
      expectProblem(await sendRaw("post", `/v1/organizations/${t.orgId}/tokens`, t.admin, '{"role":"member","name":"t\\ud800"}'), 422, "body.name");
      expectProblem(await sendRaw("post", `/v1/organizations/${t.orgId}/tokens`, t.admin, '{"role":"member","name":"\\udc00x"}'), 422, "body.name");
      expectProblem(await sendRaw("post", "/v1/organizations", t.platform, '{"name":"o\\ud800","slug":"lone-org"}'), 422, "body.name");
      expectProblem(await sendRaw("patch", `/v1/organizations/${t.orgId}`, t.platform, '{"name":"\\udfff"}'), 422, "body.name");
      expect(await rowCounts()).toEqual(before);
      // A well-formed pair is an ordinary character.
      const emoji = await sendRaw("post", `/v1/organizations/${t.orgId}/tokens`, t.admin, '{"role":"member","name":"bot \\ud83d\\ude00"}');
      expect(emoji.status).toBe(201);
      expect(emoji.body.name).toBe("bot \u{1F600}");
    });

    it("refuses NUL characters in query values with 422 naming the parameter", async () => {
      expectProblem(await t.api.get(`/v1/organizations/${t.orgId}/credentials?environment=prod%00`).set(t.admin), 422, "query.environment");
      expectProblem(await t.api.get(`/v1/organizations/${t.orgId}/audit-events?action=x%00`).set(t.admin), 422, "query.action");
      expectProblem(await t.api.get(`/v1/organizations/${t.orgId}/audit-events?target_id=%00`).set(t.admin), 422, "query.target_id");
    });

    it("answers a well-formed cursor with the wrong types or values inside with 422 query.cursor", async () => {
      const lists: [string, unknown[]][] = [
        [`/v1/organizations/${t.orgId}/audit-events`, [{ seq: "abc" }, { seq: 1.5 }, { seq: 1e300 }, { seq: -1 }, { seq: [1] }, { seq: 1, extra: true }]],
        [`/v1/organizations/${t.orgId}/credentials`, [{ before: 5 }, { before: "cred_\u0000" }, { before: { a: 1 } }, { before: "x".repeat(300) }]],
        [`/v1/organizations/${t.orgId}/tokens`, [{ before: 5 }, { before: "tok_\ud800" }]],
        [`/v1/organizations/${t.orgId}/projects`, [{ name: 5 }, { name: "\u0000" }, { name: "\udc00" }]],
        ["/v1/organizations", [{ id: 7 }, { id: "org_\u0000" }]],
      ];
      for (const [path, cursors] of lists) {
        for (const cursor of [...cursors, "[]", "null"]) {
          const encoded = typeof cursor === "string" ? Buffer.from(cursor).toString("base64url") : cursorOf(cursor);
          const res = await t.api.get(path).query({ cursor: encoded }).set(t.platform);
          expectProblem(res, 422, "query.cursor");
        }
      }
    });

    it("normalises a date-time with an offset PostgreSQL refuses (+23:59) to UTC instead of failing", async () => {
      const created = await t.api
        .post(`/v1/organizations/${t.orgId}/tokens`)
        .set(t.admin)
        .send({ role: "member", name: "offset", expires_at: "2090-01-01T00:00:00+23:59" });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.expires_at).toBe("2089-12-31T00:01:00.000Z");
      const since = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ since: "2020-01-01T00:00:00-23:59" }).set(t.admin);
      expect(since.status, JSON.stringify(since.body)).toBe(200);
      expect(since.body.data.length).toBeGreaterThan(0);
      const future = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ since: "2999-01-01T00:00:00+16:00" }).set(t.admin);
      expect(future.status).toBe(200);
      expect(future.body.data).toEqual([]);
    });

    it("refuses a date-time whose UTC value falls outside years 0001–9999 with 422 naming the field", async () => {
      const before = await rowCounts();
      for (const expires_at of ["9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00-01:00"]) {
        const res = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.admin).send({ role: "member", name: "far", expires_at });
        expectProblem(res, 422, "body.expires_at");
      }
      for (const since of ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+23:59"]) {
        expectProblem(await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ since }).set(t.admin), 422, "query.since");
      }
      expect(await rowCounts()).toEqual(before);
    });

    it("answers %00 and other impossible path ids with 404, with or without a token, never 500", async () => {
      const before = await rowCounts();
      const paths: [string, string][] = [
        ["get", "/v1/organizations/%00"],
        ["get", "/v1/organizations/%00/credentials"],
        ["get", `/v1/organizations/${t.orgId}/credentials/%00`],
        ["get", `/v1/organizations/${t.orgId}/credentials/cred_%00`],
        ["patch", `/v1/organizations/${t.orgId}/credentials/${credentialId}%00`],
        ["delete", `/v1/organizations/${t.orgId}/tokens/tok_%00`],
        ["get", `/v1/organizations/${t.orgId}/projects/%00`],
        ["post", `/v1/organizations/${t.orgId}%00/resolve`],
        ["delete", `/v1/organizations/${t.orgId}/credentials/%ED%A0%80`],
        ["get", `/v1/organizations/${t.orgId}/projects/${projectId.toLowerCase()}`],
      ];
      for (const [method, path] of paths) {
        for (const auth of [t.admin, t.platform]) {
          const res = await (t.api as unknown as Record<string, (p: string) => ReturnType<typeof t.api.get>>)[method](path).set(auth).send({});
          expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(500);
          expect(res.headers["content-type"]).toContain("application/problem+json");
          if (!path.includes("%ED")) expect(res.status, `${method} ${path}`).toBe(404);
        }
        const anonymous = await (t.api as unknown as Record<string, (p: string) => ReturnType<typeof t.api.get>>)[method](path);
        expect([400, 401, 404], `${method} ${path} without a token`).toContain(anonymous.status);
      }
      expect(await rowCounts()).toEqual(before);
      expect((await t.api.delete(`/v1/organizations/${t.orgId}/tokens/${tokenId}`).set(t.admin)).status).toBe(204);
    });
  });
}
