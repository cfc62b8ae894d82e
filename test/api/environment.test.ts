import { beforeAll, describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const PLATFORM_GROQ = "gsk_PlatformGroqKey000000000000000000000000";
const K = {
  openaiOrg: "sk-proj-EnvOrg00000000000000000000000000000a01",
  openaiOrg2: "sk-proj-EnvOrgRotated000000000000000000000a02",
  openaiProject: "sk-proj-EnvProject0000000000000000000000000a03",
  anthropic: "sk-ant-api03-EnvAnthropic00000000000000000000a04",
  anthropicBackup: "sk-ant-api03-EnvAnthropicBackup0000000000000a05",
  awsSecret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYENVIRONMENT",
  awsToken: "FwoGZXIvYXdzEEnvironmentSessionToken00000",
};

for (const kind of testDatabases()) {
  describe(`environment (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_PLATFORM_GROQ_API_KEY: PLATFORM_GROQ });
    const env = (query: Record<string, string> = {}, etag?: string) => {
      const req = t.api.get(`/v1/organizations/${t.orgId}/environment`).query(query).set(t.resolver);
      return etag ? req.set("If-None-Match", etag) : req;
    };
    const create = async (body: Record<string, unknown>) => {
      const res = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string };
    };

    let openaiId: string;
    let anthropicId: string;
    let backupId: string;
    let projectId: string;
    let closedProjectId: string;

    beforeAll(async () => {
      openaiId = (await create({ provider: "openai", name: "org", api_key: K.openaiOrg, settings: { openai_project: "proj_123" } })).id;
      backupId = (await create({ provider: "anthropic", name: "backup", api_key: K.anthropicBackup })).id;
      anthropicId = (await create({ provider: "anthropic", name: "main", api_key: K.anthropic, is_default: true })).id;
      await create({
        provider: "bedrock",
        name: "aws",
        fields: { access_key_id: "AKIAENVIRONMENT00001", secret_access_key: K.awsSecret, session_token: K.awsToken },
        settings: { region: "us-west-2" },
      });
      projectId = (await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "inheriting", inherit_organization_credentials: true }))
        .body.id;
      closedProjectId = (await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "closed" })).body.id;
      await create({ provider: "openai", name: "project", api_key: K.openaiProject, project_id: projectId });
    }, 60_000);

    it("exports one credential per provider as variables, multi-field types expanded", async () => {
      const res = await env();
      expect(res.status).toBe(200);
      parseResponse("getEnvironment", 200, res.body);
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.headers.etag).toMatch(/^"env-[A-Za-z0-9_-]{43}"$/);
      expect(res.body.variables).toEqual({
        OPENAI_API_KEY: K.openaiOrg,
        OPENAI_PROJECT_ID: "proj_123",
        ANTHROPIC_API_KEY: K.anthropic,
        AWS_ACCESS_KEY_ID: "AKIAENVIRONMENT00001",
        AWS_SECRET_ACCESS_KEY: K.awsSecret,
        AWS_SESSION_TOKEN: K.awsToken,
        AWS_REGION: "us-west-2",
        GROQ_API_KEY: PLATFORM_GROQ,
      });
    });

    it("applies the project's own credentials, and the organization's only when the project inherits", async () => {
      const inheriting = await env({ project_id: projectId });
      expect(inheriting.body.variables.OPENAI_API_KEY).toBe(K.openaiProject);
      expect(inheriting.body.variables.OPENAI_PROJECT_ID).toBeUndefined();
      expect(inheriting.body.variables.ANTHROPIC_API_KEY).toBe(K.anthropic);
      const closed = await env({ project_id: closedProjectId });
      expect(closed.status).toBe(200);
      expect(closed.body.variables).toEqual({ GROQ_API_KEY: PLATFORM_GROQ });
      expect(closed.headers.etag).not.toBe(inheriting.headers.etag);
      expect((await env({ environment: "development" })).body.variables).toEqual({ GROQ_API_KEY: PLATFORM_GROQ });
      expect((await env({ project_id: "prj_00000000000000000000000000" })).status).toBe(404);
      expect((await env({ project_id: "not-a-project" })).status).toBe(422);
    });

    it("answers 304 to a matching If-None-Match and 200 once anything changes (rotation, deactivation, activation, deletion)", async () => {
      const first = await env();
      const e1 = first.headers.etag;
      const same = await env({}, e1);
      expect(same.status).toBe(304);
      expect(same.text).toBe("");
      expect(same.headers.etag).toBe(e1);
      expect((await env({}, `"other", W/${e1}`)).status).toBe(304);
      expect((await env({}, "*")).status).toBe(304);
      expect((await env({}, '"stale"')).status).toBe(200);
      expect((await env()).headers.etag).toBe(e1);

      // An unrelated edit of a credential that is not chosen changes no variable: still 304.
      const backupEdit = await t.api.patch(`/v1/organizations/${t.orgId}/credentials/${backupId}`).set(t.admin).send({ description: "spare" });
      expect(backupEdit.status).toBe(200);
      expect((await env({}, e1)).status).toBe(304);

      const rotate = await t.api.post(`/v1/organizations/${t.orgId}/credentials/${openaiId}/rotate`).set(t.admin).send({ api_key: K.openaiOrg2 });
      expect(rotate.status).toBe(200);
      const afterRotate = await env({}, e1);
      expect(afterRotate.status).toBe(200);
      expect(afterRotate.body.variables.OPENAI_API_KEY).toBe(K.openaiOrg2);
      const e2 = afterRotate.headers.etag;
      expect(e2).not.toBe(e1);
      expect((await env({}, e2)).status).toBe(304);

      const deactivate = await t.api.post(`/v1/organizations/${t.orgId}/credentials/${anthropicId}/deactivate`).set(t.admin);
      expect(deactivate.status).toBe(200);
      const afterDeactivate = await env({}, e2);
      expect(afterDeactivate.status).toBe(200);
      expect(afterDeactivate.body.variables.ANTHROPIC_API_KEY).toBe(K.anthropicBackup);
      const e3 = afterDeactivate.headers.etag;
      expect(e3).not.toBe(e2);

      const activate = await t.api.post(`/v1/organizations/${t.orgId}/credentials/${anthropicId}/activate`).set(t.admin);
      expect(activate.status).toBe(200);
      const afterActivate = await env({}, e3);
      expect(afterActivate.status).toBe(200);
      expect(afterActivate.body.variables.ANTHROPIC_API_KEY).toBe(K.anthropic);
      const e4 = afterActivate.headers.etag;

      const remove = await t.api.delete(`/v1/organizations/${t.orgId}/credentials/${anthropicId}?force=true`).set(t.admin);
      expect(remove.status).toBe(204);
      const afterDelete = await env({}, e4);
      expect(afterDelete.status).toBe(200);
      expect(afterDelete.body.variables.ANTHROPIC_API_KEY).toBe(K.anthropicBackup);
      const e5 = afterDelete.headers.etag;
      expect(e5).not.toBe(e4);
      // Strong ETags name the representation: the same variables as after the deactivation.
      expect(e5).toBe(e3);
      expect(new Set([e1, e2, e3, e4]).size).toBe(4);

      // Turning platform fallback off drops the platform key.
      const off = await t.api.patch(`/v1/organizations/${t.orgId}`).set(bearer(t.platformToken)).send({ platform_fallback: false });
      expect(off.status).toBe(200);
      const afterFallback = await env({}, e5);
      expect(afterFallback.status).toBe(200);
      expect(afterFallback.body.variables.GROQ_API_KEY).toBeUndefined();
    });

    it("audits each call without the values", async () => {
      const res = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "environment.resolve", limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeGreaterThan(10);
      const notModified = res.body.data.filter((e: { details: { not_modified: boolean } }) => e.details.not_modified);
      expect(notModified.length).toBeGreaterThan(0);
      const first = res.body.data[0];
      expect(first).toMatchObject({ actor_role: "resolver", target_type: "environment", outcome: "success" });
      expect(first.details.resolved).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ provider: "openai", source: "organization", credential_id: openaiId, key_version: 1, key_hint: "sk-proj-…0a01" }),
          expect.objectContaining({ provider: "groq", source: "platform", credential_id: null, key_hint: "gsk_…0000" }),
        ]),
      );
      const rows = await t.runtime.db.query<{ row: string }>("select t::text as row from audit_events t");
      const text = rows.rows.map((r) => r.row).join("\n");
      for (const secret of [...Object.values(K), PLATFORM_GROQ]) {
        expect(text).not.toContain(secret);
        expect(t.logs.join("\n")).not.toContain(secret);
      }
    });
  });
}
