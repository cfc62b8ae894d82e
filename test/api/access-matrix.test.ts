/**
 * Who may call what, generated from openapi.yaml: every secured operation × every role × own or
 * another organization. A new endpoint in the contract is covered without touching this file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operationTable, type OperationInfo } from "../../service/contract/operation-table.js";
import { openapiDocument } from "../../service/contract/contract-document.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

const ROLES = ["platform_admin", "admin", "member", "resolver"] as const;
type RoleName = (typeof ROLES)[number];

interface OrgFixture {
  id: string;
  tokens: Record<RoleName, string>;
  credentialId: string;
  projectId: string;
  tokenId: string;
  modelAliasId: string;
}

const secured = [...operationTable.values()].filter((op) => op.secured);

type Json = Record<string, unknown>;
const contract = openapiDocument as unknown as { paths: Record<string, Json>; components: { parameters: Record<string, Json>; schemas: Record<string, Json> } };
const lastSegment = (ref: unknown) => String(ref).split("/").pop()!;

/** A well-formed id of the kind the path's `{id}` names (`idb_000…`), for resources the fixture does not create. */
function absentIdOf(op: OperationInfo): string {
  const parameter = ((contract.paths[op.path].parameters as Json[] | undefined) ?? [])
    .map((p) => (p.$ref ? contract.components.parameters[lastSegment(p.$ref)] : p))
    .find((p) => p.name === "id");
  const schema = parameter?.schema as Json | undefined;
  const resolved = (schema?.$ref ? contract.components.schemas[lastSegment(schema.$ref)] : schema) as { pattern?: string } | undefined;
  const pattern = resolved?.pattern ?? "";
  return `${/^\^([a-z]+_)/.exec(pattern)?.[1] ?? "x_"}${"0".repeat(26)}`;
}

for (const kind of testDatabases()) {
  describe(`access matrix from the contract (${kind})`, () => {
    let t: TestRuntime;
    let own: OrgFixture;
    let other: OrgFixture;

    async function fixture(): Promise<OrgFixture> {
      const { org, tokens } = await seedOrganization(t);
      const admin = bearer(tokens.admin);
      const project = await t.api.post(`/v1/organizations/${org.id}/projects`).set(admin).send({ name: "matrix" });
      const credential = await t.api
        .post(`/v1/organizations/${org.id}/credentials`)
        .set(admin)
        .send({ provider: "openai", name: "matrix", api_key: "sk-matrix00000000000000000000000000000" });
      const spare = await t.api.post(`/v1/organizations/${org.id}/tokens`).set(admin).send({ role: "member", name: "spare" });
      const alias = await t.api.post(`/v1/organizations/${org.id}/model-aliases`).set(admin).send({ name: "matrix", provider: "openai", model: "gpt-5" });
      return {
        id: org.id,
        tokens: { platform_admin: t.platformToken, ...tokens },
        credentialId: credential.body.id,
        projectId: project.body.id ?? "prj_00000000000000000000000000",
        tokenId: spare.body.id,
        modelAliasId: alias.body.id,
      };
    }

    beforeAll(async () => {
      t = await startTestRuntime(kind);
      own = await fixture();
      other = await fixture();
    }, 60_000);
    afterAll(() => t?.close());

    const idIn = (op: OperationInfo, target: OrgFixture) =>
      op.path.includes("/tokens/")
        ? target.tokenId
        : op.path.includes("/model-aliases/")
          ? target.modelAliasId
          : op.path.includes("/credentials/")
            ? target.credentialId
            : absentIdOf(op);

    function call(op: OperationInfo, target: OrgFixture, token: string) {
      const path = op.path.replace("{org}", target.id).replace("{id}", idIn(op, target)).replace("{project}", target.projectId);
      const method = op.method === "delete" ? "delete" : op.method;
      return t.api[method](path)
        .set(bearer(token))
        .send(op.requestBody === "none" ? undefined : {});
    }

    it("every secured operation has a handler", () => {
      expect(t.runtime.app.operations.missing()).toEqual([]);
    });

    for (const op of secured) {
      const scoped = op.path.includes("{org}");
      for (const role of ROLES) {
        const allowed = op.roles.includes(role);
        it(`${op.operationId} as ${role} of the same organization → ${allowed ? "allowed" : "403"}`, async () => {
          const res = await call(op, own, own.tokens[role]);
          if (allowed) {
            expect([401, 403]).not.toContain(res.status);
            expect(res.status).toBeLessThan(500);
          } else {
            expect(res.status).toBe(403);
            expect(res.body.code).toBe("forbidden");
          }
        });
        if (scoped && role !== "platform_admin") {
          it(`${op.operationId} as ${role} of another organization → 404`, async () => {
            const res = await call(op, other, own.tokens[role]);
            expect(res.status).toBe(404);
            expect(res.body.detail).toBe("The organization does not exist.");
          });
        }
      }
      it(`${op.operationId} without a token → 401`, async () => {
        const res = await t.api[op.method](op.path.replace("{org}", own.id).replace("{id}", idIn(op, own)).replace("{project}", own.projectId));
        expect(res.status).toBe(401);
      });
    }

    it("every operation under an organization that does not exist answers 404 to a platform admin", async () => {
      const absent: OrgFixture = { ...own, id: "org_00000000000000000000000000" };
      const answers: Record<string, string> = {};
      for (const op of secured.filter((o) => o.path.includes("{org}"))) {
        const res = await call(op, absent, t.platformToken);
        answers[op.operationId] = `${res.status} ${res.body?.detail ?? ""}`;
      }
      const expected = Object.fromEntries(Object.keys(answers).map((id) => [id, "404 The organization does not exist."]));
      expect(answers).toEqual(expected);
    });

    it("denied requests changed nothing in the other organization and were audited", async () => {
      const res = await t.api.get(`/v1/organizations/${other.id}/credentials/${other.credentialId}`).set(bearer(other.tokens.admin));
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(1);
      const tokens = await t.api.get(`/v1/organizations/${other.id}/tokens`).set(bearer(other.tokens.admin));
      expect(tokens.body.data.map((tok: { id: string }) => tok.id)).toContain(other.tokenId);
      const audit = await t.api.get(`/v1/organizations/${own.id}/audit-events`).query({ action: "auth.denied", limit: 200 }).set(bearer(t.platformToken));
      expect(audit.body.data.length).toBeGreaterThan(10);
      expect(audit.body.data[0]).toMatchObject({ outcome: "denied" });
    });
  });
}
