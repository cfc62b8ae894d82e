/**
 * The resolution order (the project's own credential, then the organization's when the project
 * inherits, then the platform key) as a table: every combination of the project's credential
 * (present / inactive / absent), the project's inheritance, the organization's credential
 * (present / inactive), the organization's platform_fallback and whether the deployment
 * configured a platform key, each asserting `source` and the value served.
 *
 * One runtime serves the whole table: the deployment has a platform key for openai but none for
 * anthropic (the "configured" axis), two organizations differ in platform_fallback, and every
 * combination gets its own environment label, which narrows steps 1–2 to that combination's
 * credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

const PLATFORM_OPENAI = "sk-proj-PLATFORMplatformPLATFORM000000000Plat";

type ProjectCredential = "present" | "inactive" | "absent";
type OrgCredential = "present" | "inactive";
const PROJECT_STATES: ProjectCredential[] = ["present", "inactive", "absent"];
const ORG_STATES: OrgCredential[] = ["present", "inactive"];
const PROVIDERS = [
  { id: "openai", prefix: "sk-proj-", configured: true },
  { id: "anthropic", prefix: "sk-ant-api03-", configured: false },
] as const;

interface Row {
  projectCredential: ProjectCredential | "no project in the request";
  inherits: boolean | null;
  orgCredential: OrgCredential;
  fallback: boolean;
  configured: boolean;
  expected: "project" | "organization" | "platform" | "no_credential";
}

function expectedSource(r: Omit<Row, "expected">): Row["expected"] {
  if (r.projectCredential === "present") return "project";
  if ((r.projectCredential === "no project in the request" || r.inherits) && r.orgCredential === "present") return "organization";
  if (r.fallback && r.configured) return "platform";
  return "no_credential";
}

const TABLE: Row[] = [];
for (const fallback of [true, false]) {
  for (const { configured } of PROVIDERS) {
    for (const orgCredential of ORG_STATES) {
      for (const projectCredential of [...PROJECT_STATES, "no project in the request"] as const) {
        for (const inherits of projectCredential === "no project in the request" ? [null] : [true, false]) {
          const row = { projectCredential, inherits, orgCredential, fallback, configured };
          TABLE.push({ ...row, expected: expectedSource(row) });
        }
      }
    }
  }
}

/** Environment label of one (project credential, organization credential) pair. */
const label = (p: ProjectCredential | "no project in the request", o: OrgCredential) => `p-${p.split(" ")[0]}-o-${o}`;
/** A unique, valid key per scope and combination: the value tells where it came from. */
const keyFor = (prefix: string, scope: string, env: string) => `${prefix}${scope}_${env.replace(/[^A-Za-z0-9]/g, "")}_padding000000000000`;

for (const kind of testDatabases()) {
  describe(`resolution order table (${kind})`, () => {
    let t: TestRuntime;
    const orgs = new Map<boolean, { id: string; resolver: Record<string, string>; projects: { inheriting: string; closed: string } }>();

    beforeAll(async () => {
      t = await startTestRuntime(kind, { KEYPLANE_PLATFORM_OPENAI_API_KEY: PLATFORM_OPENAI });
      for (const fallback of [true, false]) {
        const { org, tokens } = await seedOrganization(t);
        const admin = bearer(tokens.admin);
        if (!fallback) {
          const off = await t.api.patch(`/v1/organizations/${org.id}`).set(bearer(t.platformToken)).send({ platform_fallback: false });
          expect(off.status).toBe(200);
        }
        const project = async (name: string, inherit: boolean) => {
          const res = await t.api.post(`/v1/organizations/${org.id}/projects`).set(admin).send({ name, inherit_organization_credentials: inherit });
          expect(res.status).toBe(201);
          return res.body.id as string;
        };
        const projects = { inheriting: await project("inheriting", true), closed: await project("closed", false) };
        const create = async (body: Record<string, unknown>) => {
          const res = await t.api.post(`/v1/organizations/${org.id}/credentials`).set(admin).send(body);
          expect(res.status, JSON.stringify(res.body)).toBe(201);
        };
        for (const provider of PROVIDERS) {
          for (const o of ORG_STATES) {
            for (const p of [...PROJECT_STATES, "no project in the request"] as const) {
              const environment = label(p, o);
              await create({
                provider: provider.id,
                name: `org-${environment}`,
                environment,
                active: o === "present",
                api_key: keyFor(provider.prefix, "org", environment),
              });
              if (p === "present" || p === "inactive") {
                for (const [scope, projectId] of Object.entries(projects)) {
                  await create({
                    provider: provider.id,
                    name: `${scope}-${environment}`,
                    project_id: projectId,
                    environment,
                    active: p === "present",
                    api_key: keyFor(provider.prefix, scope, environment),
                  });
                }
              }
            }
          }
        }
        orgs.set(fallback, { id: org.id, resolver: bearer(tokens.resolver), projects });
      }
    }, 120_000);
    afterAll(() => t?.close());

    for (const row of TABLE) {
      const name =
        `project credential ${row.projectCredential}` +
        (row.inherits === null ? "" : `, project ${row.inherits ? "inherits" : "does not inherit"}`) +
        `, organization credential ${row.orgCredential}, platform_fallback ${row.fallback ? "on" : "off"}, platform key ${row.configured ? "configured" : "not configured"}` +
        ` → ${row.expected}`;
      it(name, async () => {
        const org = orgs.get(row.fallback)!;
        const provider = PROVIDERS.find((p) => p.configured === row.configured)!;
        const environment = label(row.projectCredential, row.orgCredential);
        const projectScope = row.inherits === null ? null : row.inherits ? "inheriting" : "closed";
        const body: Record<string, string> = { provider: provider.id, environment };
        if (projectScope) body.project_id = org.projects[projectScope];
        const res = await t.api.post(`/v1/organizations/${org.id}/resolve`).set(org.resolver).send(body);

        if (row.expected === "no_credential") {
          expect(res.status).toBe(404);
          expect(res.body.code).toBe("no_credential");
          parseResponse("resolveCredential", 404, res.body);
          const checked = res.body.checked.map((c: { source: string }) => c.source);
          expect(checked).toEqual([
            ...(projectScope ? ["project"] : []),
            ...(!projectScope || row.inherits ? ["organization"] : []),
            ...(row.fallback ? ["platform"] : []),
          ]);
          if (projectScope) expect(res.body.checked[0]).toEqual({ source: "project", project_id: body.project_id, environment });
          return;
        }
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        parseResponse("resolveCredential", 200, res.body);
        expect(res.body.source).toBe(row.expected);
        expect(res.headers["cache-control"]).toBe("no-store");
        const expectedValue =
          row.expected === "platform" ? PLATFORM_OPENAI : keyFor(provider.prefix, row.expected === "organization" ? "org" : projectScope!, environment);
        expect(res.body.secret).toBe(expectedValue);
        if (row.expected === "platform") {
          expect(res.body).toMatchObject({ credential_id: null, key_version: null, env_var: "OPENAI_API_KEY", key_hint: "sk-proj-…Plat" });
        } else {
          expect(res.body.credential_id).toMatch(/^cred_/);
          expect(res.body.key_version).toBe(1);
        }
      });
    }
  });
}
