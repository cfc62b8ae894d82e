/**
 * Defence in depth: PostgreSQL row-level security keyed on the organization scope of each request.
 * A deliberately unscoped query, run in one organization's scope, returns none of another
 * organization's rows and cannot write them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrganizationScope } from "../../service/db/index.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

const TABLES: [table: string, column: string][] = [
  ["organizations", "id"],
  ["api_tokens", "organization_id"],
  ["projects", "organization_id"],
  ["credentials", "organization_id"],
  ["credential_versions", "organization_id"],
  ["audit_events", "organization_id"],
  ["idempotency_keys", "organization_id"],
  ["model_aliases", "organization_id"],
  ["identity_bindings", "organization_id"],
  ["credential_usage_daily", "organization_id"],
];

for (const kind of testDatabases()) {
  describe(`row-level security (${kind})`, () => {
    let t: TestRuntime;
    let a: string;
    let b: string;

    beforeAll(async () => {
      t = await startTestRuntime(kind);
      for (const slug of ["rls-a", "rls-b"]) {
        const { org, tokens } = await seedOrganization(t, slug);
        const admin = bearer(tokens.admin);
        const project = await t.api.post(`/v1/organizations/${org.id}/projects`).set(admin).send({ name: "p" });
        await t.api
          .post(`/v1/organizations/${org.id}/credentials`)
          .set(admin)
          .set("Idempotency-Key", `rls-${slug}`)
          .send({ provider: "openai", name: "c", api_key: `sk-${slug}000000000000000000000000000000`, project_id: project.body.id });
        await t.api
          .post(`/v1/organizations/${org.id}/model-aliases`)
          .set(admin)
          .send({ name: "a", provider: "openai", model: "m", project_id: project.body.id });
        await t.api
          .post(`/v1/organizations/${org.id}/identity-bindings`)
          .set(admin)
          .send({ name: "ci", issuer: "https://issuer.example", audience: "keyplane", subject: "*" });
        // A resolve, so the organization has a row of credential usage.
        const resolver = bearer(tokens.resolver);
        await t.api.post(`/v1/organizations/${org.id}/resolve`).set(resolver).send({ provider: "openai", project_id: project.body.id }).expect(200);
        if (slug === "rls-a") a = org.id;
        else b = org.id;
      }
    }, 60_000);
    afterAll(() => t?.close());

    const unscoped = (sql: string) => t.testDb.db.query<Record<string, string>>(sql);

    it("runs organization work as keyplane_app and the '*' scope as keyplane_platform", async () => {
      const { rows } = await withOrganizationScope(a, () => unscoped("select current_user as who"));
      expect(rows[0].who).toBe("keyplane_app");
      expect((await unscoped("select current_user as who")).rows[0].who).toBe("keyplane_platform");
    });

    it("gives the planner an organization filter it can estimate: an audit page walks the chain index", async () => {
      const plan = await withOrganizationScope(a, () =>
        unscoped(`explain select seq from audit_events where chain_key = 'org:${a}' and seq > 0 order by seq limit 100`),
      );
      const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
      expect(text).toContain("audit_events_chain_seq_key");
      expect(text).not.toMatch(/Seq Scan|Sort/);
    });

    for (const [table, column] of TABLES) {
      it(`an unscoped SELECT on ${table} in organization A's scope sees only A's rows`, async () => {
        const all = await unscoped(`select ${column} as org from ${table}`);
        expect(all.rows.some((r) => r.org === b)).toBe(true);
        const scoped = await withOrganizationScope(a, () => unscoped(`select ${column} as org from ${table}`));
        expect(scoped.rows.length).toBeGreaterThan(0);
        expect(scoped.rows.every((r) => r.org === a)).toBe(true);
        const nowhere = await withOrganizationScope("org_00000000000000000000000000", () => unscoped(`select 1 from ${table}`));
        expect(nowhere.rows).toHaveLength(0);
      });
    }

    it("an unscoped UPDATE in A's scope touches only A's rows", async () => {
      const changed = await withOrganizationScope(a, () => t.testDb.db.query("update credentials set description = 'rls probe'"));
      expect(changed.rowCount).toBe(1);
      const b1 = await t.api.get(`/v1/organizations/${b}/credentials`).set(bearer(t.platformToken));
      expect(b1.body.data[0].description).toBeNull();
    });

    it("refuses to write another organization's rows from A's scope", async () => {
      const attempt = withOrganizationScope(a, () =>
        t.testDb.db.query(
          "insert into projects (id, organization_id, name, inherit_organization_credentials, version, created_at, updated_at) values ('prj_rlsprobe00000000000000000', $1, 'sneaky', false, 1, now(), now())",
          [b],
        ),
      );
      await expect(attempt).rejects.toThrow();
      const projects = await unscoped("select name from projects where name = 'sneaky'");
      expect(projects.rows).toHaveLength(0);
    });
  });
}
