// The contract (openapi.yaml) checked three ways: the generated types are what the document
// generates today, the document is internally consistent and lists exactly the operations and roles Keyplane serves, and
// the edge validation built from it accepts the examples and rejects bad input without ever
// echoing submitted values.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { openapiDocument as doc, openapiPath } from "../../service/contract/contract-document.js";
import { operationTable } from "../../service/contract/operation-table.js";
import { parseBody, parseComponent, parseHeaders, parseQuery, parseResponse } from "../../service/http/validation.js";
import type { OperationId, Schemas } from "../../service/contract-types.js";
import { ValidationError, type FieldError } from "../../service/errors.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const generatedPath = join(root, "service/generated/openapi.d.ts");

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function resolveRef(ref: string): unknown {
  expect(ref.startsWith("#/"), `only local refs: ${ref}`).toBe(true);
  let node: unknown = doc;
  for (const segment of ref.slice(2).split("/")) {
    if (!isObject(node) || !(segment in node)) return undefined;
    node = node[segment];
  }
  return node;
}

function deref<T = Json>(value: unknown): T {
  let current = value;
  while (isObject(current) && typeof current.$ref === "string") current = resolveRef(current.$ref);
  return current as T;
}

function walk(node: unknown, visit: (value: Json, path: string) => void, path = "#"): void {
  if (Array.isArray(node)) node.forEach((item, i) => walk(item, visit, `${path}/${i}`));
  else if (isObject(node)) {
    visit(node, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

/** Thrown ValidationError's field errors; fails the test if something else is thrown. */
function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).errors;
  }
  throw new Error("expected a ValidationError");
}

const operations = [...operationTable.values()];
const secured = operations.filter((op) => op.secured);
const rawOperation = (id: string): Json => {
  const op = operationTable.get(id)!;
  return doc.paths[op.path][op.method] as Json;
};

// ---- (a) generated types ------------------------------------------------------------------

describe("generated types", () => {
  it("service/generated/openapi.d.ts is what `npm run gen:types` produces from openapi.yaml", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyplane-openapi-"));
    try {
      const out = join(dir, "openapi.d.ts");
      const cli = join(root, "node_modules/openapi-typescript/bin/cli.js");
      execFileSync(process.execPath, [cli, "openapi.yaml", "-o", out], { cwd: root, stdio: "pipe" });
      const fresh = readFileSync(out, "utf8");
      const checkedIn = readFileSync(generatedPath, "utf8");
      expect(checkedIn === fresh, "generated types are stale: run `npm run gen:types`").toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("compiles under strict TypeScript on its own", () => {
    const program = ts.createProgram([generatedPath], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(diagnostics).toEqual([]);
  }, 60_000);
});

// ---- (b) the document -----------------------------------------------------------------------

const EXPECTED_OPERATIONS: Record<string, string> = {
  getHealth: "GET /healthz",
  getReadiness: "GET /readyz",
  getMetrics: "GET /metrics",
  getDocs: "GET /docs",
  getOpenApiDocument: "GET /openapi.yaml",
  getTerraformServiceDiscovery: "GET /.well-known/terraform.json",
  listTerraformProviderVersions: "GET /v1/terraform/providers/{namespace}/{type}/versions",
  getTerraformProviderDownload: "GET /v1/terraform/providers/{namespace}/{type}/{version}/download/{os}/{arch}",
  getTerraformProviderFile: "GET /v1/terraform/providers/{namespace}/{type}/{version}/files/{filename}",
  listProviders: "GET /v1/providers",
  getWhoami: "GET /v1/whoami",
  listPlatformTokens: "GET /v1/tokens",
  revokePlatformToken: "DELETE /v1/tokens/{id}",
  listOrganizations: "GET /v1/organizations",
  createOrganization: "POST /v1/organizations",
  getOrganization: "GET /v1/organizations/{org}",
  updateOrganization: "PATCH /v1/organizations/{org}",
  deleteOrganization: "DELETE /v1/organizations/{org}",
  listTokens: "GET /v1/organizations/{org}/tokens",
  createToken: "POST /v1/organizations/{org}/tokens",
  deleteToken: "DELETE /v1/organizations/{org}/tokens/{id}",
  listProjects: "GET /v1/organizations/{org}/projects",
  createProject: "POST /v1/organizations/{org}/projects",
  getProject: "GET /v1/organizations/{org}/projects/{project}",
  updateProject: "PATCH /v1/organizations/{org}/projects/{project}",
  deleteProject: "DELETE /v1/organizations/{org}/projects/{project}",
  listCredentials: "GET /v1/organizations/{org}/credentials",
  createCredential: "POST /v1/organizations/{org}/credentials",
  getCredential: "GET /v1/organizations/{org}/credentials/{id}",
  updateCredential: "PATCH /v1/organizations/{org}/credentials/{id}",
  deleteCredential: "DELETE /v1/organizations/{org}/credentials/{id}",
  rotateCredential: "POST /v1/organizations/{org}/credentials/{id}/rotate",
  activateCredential: "POST /v1/organizations/{org}/credentials/{id}/activate",
  deactivateCredential: "POST /v1/organizations/{org}/credentials/{id}/deactivate",
  verifyCredential: "POST /v1/organizations/{org}/credentials/{id}/verify",
  listCredentialVersions: "GET /v1/organizations/{org}/credentials/{id}/versions",
  resolveCredential: "POST /v1/organizations/{org}/resolve",
  getEnvironment: "GET /v1/organizations/{org}/environment",
  listModelAliases: "GET /v1/organizations/{org}/model-aliases",
  createModelAlias: "POST /v1/organizations/{org}/model-aliases",
  getModelAlias: "GET /v1/organizations/{org}/model-aliases/{id}",
  updateModelAlias: "PATCH /v1/organizations/{org}/model-aliases/{id}",
  deleteModelAlias: "DELETE /v1/organizations/{org}/model-aliases/{id}",
  exchangeIdentityToken: "POST /v1/auth/token-exchange",
  listIdentityBindings: "GET /v1/organizations/{org}/identity-bindings",
  createIdentityBinding: "POST /v1/organizations/{org}/identity-bindings",
  getIdentityBinding: "GET /v1/organizations/{org}/identity-bindings/{id}",
  updateIdentityBinding: "PATCH /v1/organizations/{org}/identity-bindings/{id}",
  deleteIdentityBinding: "DELETE /v1/organizations/{org}/identity-bindings/{id}",
  listAuditEvents: "GET /v1/organizations/{org}/audit-events",
  verifyAuditChain: "POST /v1/organizations/{org}/audit-events/verify",
};

describe("openapi.yaml", () => {
  it("is an OpenAPI 3.1 document whose every $ref resolves", () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(openapiPath).toBe(join(root, "openapi.yaml"));
    const broken: string[] = [];
    walk(doc, (node, path) => {
      if (typeof node.$ref === "string" && resolveRef(node.$ref) === undefined) broken.push(`${path}: ${node.$ref}`);
    });
    expect(broken).toEqual([]);
  });

  it("has exactly the operations Keyplane serves, with unique camelCase operationIds", () => {
    const actual = Object.fromEntries(operations.map((op) => [op.operationId, `${op.method.toUpperCase()} ${op.path}`]));
    expect(actual).toEqual(EXPECTED_OPERATIONS);
    const ids: string[] = [];
    for (const item of Object.values(doc.paths)) {
      for (const [method, op] of Object.entries(item)) if (method !== "parameters") ids.push((op as Json).operationId as string);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-zA-Z0-9]+$/);
  });

  it("gives every operation declared tags, a summary, roles and the right security", () => {
    const tags = new Set((doc.tags as { name: string }[]).map((t) => t.name));
    const publicPaths = ["/healthz", "/readyz", "/metrics", "/docs", "/openapi.yaml", "/v1/auth/token-exchange"];
    // The provider registry protocol: every registry is public, the engines send no token.
    const isPublic = (path: string) => publicPaths.includes(path) || path === "/.well-known/terraform.json" || path.startsWith("/v1/terraform/providers/");
    for (const op of operations) {
      expect(op.tags.length, op.operationId).toBeGreaterThan(0);
      for (const tag of op.tags) expect(tags.has(tag), `${op.operationId} tag ${tag}`).toBe(true);
      expect(op.summary, op.operationId).not.toBe("");
      expect(Array.isArray(rawOperation(op.operationId)["x-keyplane-roles"]), op.operationId).toBe(true);
      if (isPublic(op.path)) {
        expect(op.secured, op.operationId).toBe(false);
        expect(op.roles, op.operationId).toEqual([]);
      } else {
        expect(op.security, op.operationId).toEqual([{ bearerAuth: [] }]);
        expect(op.secured, op.operationId).toBe(true);
        expect(op.roles.length, op.operationId).toBeGreaterThan(0);
      }
    }
  });

  it("assigns each operation the roles of the access model (admins manage, members read, resolvers resolve)", () => {
    const secretOps = new Set(["resolveCredential", "getEnvironment"]);
    const memberReads = new Set([
      "listProviders",
      "getWhoami",
      "getOrganization",
      "listProjects",
      "getProject",
      "listCredentials",
      "getCredential",
      "listCredentialVersions",
      "listModelAliases",
      "getModelAlias",
      "listIdentityBindings",
      "getIdentityBinding",
    ]);
    const resolverOps = new Set(["listProviders", "getWhoami", "resolveCredential", "getEnvironment"]);
    const platformOnly = new Set(["listOrganizations", "createOrganization", "deleteOrganization", "listPlatformTokens", "revokePlatformToken"]);
    for (const op of secured) {
      const id = op.operationId;
      expect(op.roles.includes("platform_admin"), `${id} platform_admin`).toBe(!secretOps.has(id));
      expect(op.roles.includes("admin"), `${id} admin`).toBe(!secretOps.has(id) && !platformOnly.has(id));
      expect(op.roles.includes("member"), `${id} member`).toBe(memberReads.has(id));
      expect(op.roles.includes("resolver"), `${id} resolver`).toBe(resolverOps.has(id));
    }
    expect(operationTable.get("resolveCredential")!.roles).toEqual(["resolver"]);
    expect(operationTable.get("getEnvironment")!.roles).toEqual(["resolver"]);
  });

  it("declares every path parameter, and only those", () => {
    for (const op of operations) {
      const inTemplate = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect([...op.pathParams].sort(), op.operationId).toEqual(inTemplate);
      expect(op.expressPath, op.operationId).toBe(op.path.replace(/\{(\w+)\}/g, ":$1"));
      const item = doc.paths[op.path];
      const params = [...((item.parameters as unknown[]) ?? []), ...((rawOperation(op.operationId).parameters as unknown[]) ?? [])].map((p) => deref(p));
      for (const p of params.filter((p) => p.in === "path")) expect(p.required, `${String(op.operationId)} ${String(p.name)}`).toBe(true);
    }
  });

  it("documents the problem responses each operation can produce, as problem+json", () => {
    for (const op of secured) {
      const id = op.operationId;
      const expected = ["400", "401", "403", "422", "429", "503"];
      if (op.path.startsWith("/v1/organizations/{org}")) expected.push("404");
      if (op.requestBody !== "none") expected.push("413", "415");
      if (op.headerParams.includes("If-Match")) expected.push("412");
      for (const status of expected) expect(op.responses, `${id} ${status}`).toContain(status);
    }
    for (const op of operations) {
      const responses = rawOperation(op.operationId).responses as Json;
      for (const [status, raw] of Object.entries(responses)) {
        const content = deref<{ content?: Json }>(raw).content;
        if (Number(status) >= 400 && op.secured) {
          const schema = (content?.["application/problem+json"] as Json | undefined)?.schema as Json | undefined;
          expect(schema?.$ref, `${op.operationId} ${status}`).toMatch(/^#\/components\/schemas\/(Problem|NoCredentialProblem|CredentialInUseProblem)$/);
        }
      }
    }
  });

  it("sets ETag on single-resource responses and Location on 201s", () => {
    const resources = new Set(["Credential", "Organization", "Project"]);
    for (const op of operations) {
      const responses = rawOperation(op.operationId).responses as Json;
      for (const [status, raw] of Object.entries(responses)) {
        if (!status.startsWith("2")) continue;
        const response = deref<{ headers?: Json; content?: Json }>(raw);
        const ref = ((response.content?.["application/json"] as Json | undefined)?.schema as Json | undefined)?.$ref as string | undefined;
        if (ref && resources.has(ref.split("/").pop()!)) expect(response.headers?.ETag, `${op.operationId} ${status}`).toBeDefined();
        if (status === "201") expect(response.headers?.Location, `${op.operationId} 201`).toBeDefined();
      }
    }
  });

  it("closes request bodies and marks every secret write-only", () => {
    for (const op of operations.filter((o) => o.requestBody !== "none")) {
      const body = deref<Json>(rawOperation(op.operationId).requestBody);
      const schema = deref<Json>(((body.content as Json)["application/json"] as Json).schema);
      expect(schema.additionalProperties, op.operationId).toBe(false);
    }
    const schemas = doc.components.schemas as Record<string, Json>;
    for (const name of ["ApiKey", "SecretFields"]) expect(schemas[name].writeOnly, name).toBe(true);
    expect(schemas.ApiKey.format).toBe("password");
    expect((schemas.SecretFields.additionalProperties as Json).format).toBe("password");
    for (const name of ["CredentialCreate", "CredentialRotate"]) {
      const props = schemas[name].properties as Json;
      expect(props.api_key).toEqual({ $ref: "#/components/schemas/ApiKey" });
      expect(props.fields).toEqual({ $ref: "#/components/schemas/SecretFields" });
    }
  });

  it("returns secret values only from resolve, environment, token creation and token exchange", () => {
    const allowed = new Set(["resolveCredential", "getEnvironment", "createToken", "exchangeIdentityToken"]);
    for (const op of operations) {
      const responses = rawOperation(op.operationId).responses as Json;
      const sensitive: string[] = [];
      const seen = new Set<unknown>();
      const visit = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(visit);
        if (!isObject(node) || seen.has(node)) return;
        seen.add(node);
        if (typeof node.$ref === "string") return visit(resolveRef(node.$ref));
        if (node["x-keyplane-sensitive"] || node.writeOnly || node.format === "password") sensitive.push(JSON.stringify(node).slice(0, 80));
        Object.entries(node).forEach(([k, v]) => k !== "examples" && k !== "example" && visit(v));
      };
      for (const [status, raw] of Object.entries(responses)) if (status.startsWith("2")) visit(deref<Json>(raw).content);
      if (allowed.has(op.operationId)) expect(sensitive.length, op.operationId).toBeGreaterThan(0);
      else expect(sensitive, op.operationId).toEqual([]);
    }
  });

  it("uses snake_case field names", () => {
    const bad: string[] = [];
    walk(doc.components.schemas, (node, path) => {
      if (isObject(node.properties) && !path.endsWith("/properties")) {
        // `providers.v1` is the service-discovery key the engines look up: the protocol's name, not ours.
        for (const key of Object.keys(node.properties)) if (!/^[a-z][a-z0-9_]*$/.test(key) && key !== "providers.v1") bad.push(`${path}.${key}`);
      }
    });
    expect(bad).toEqual([]);
  });
});

// ---- (c) validation -------------------------------------------------------------------------

const bodyOps = operations.filter((op) => op.requestBody !== "none").map((op) => op.operationId);
const validCredential = { provider: "openai", name: "prod-main", api_key: "sk-proj-FAKEFAKEFAKEFAKEFAKEFAKE0000a1b2" };

describe("edge validation", () => {
  it("accepts every example in the document", () => {
    let checked = 0;
    for (const op of operations) {
      const raw = rawOperation(op.operationId);
      const bodyExamples = ((deref<Json>(raw.requestBody ?? {}).content as Json | undefined)?.["application/json"] as Json | undefined)?.examples;
      for (const example of Object.values((bodyExamples ?? {}) as Json)) {
        parseBody(op.operationId, deref<Json>(example).value);
        checked++;
      }
      for (const [status, response] of Object.entries(raw.responses as Json)) {
        for (const media of Object.values(deref<{ content?: Json }>(response).content ?? {})) {
          for (const example of Object.values(((media as Json).examples ?? {}) as Json)) {
            parseResponse(op.operationId, Number(status), deref<Json>(example).value);
            checked++;
          }
        }
      }
    }
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>)) {
      for (const example of (schema.examples as unknown[] | undefined) ?? []) {
        parseComponent(name as keyof Schemas, example);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("returns the parsed body typed, and nothing for operations without one", () => {
    expect(parseBody("createCredential", validCredential)).toEqual(validCredential);
    expect(parseBody("activateCredential", undefined)).toBeUndefined();
    expect(parseBody("activateCredential", {})).toBeUndefined();
    expect(errorsOf(() => parseBody("activateCredential", { force: true }))).toEqual([{ path: "body", message: "this operation takes no request body" }]);
    expect(errorsOf(() => parseBody("createCredential", undefined))).toEqual([{ path: "body", message: "a JSON request body is required" }]);
  });

  const badBodies: [OperationId, unknown, string, RegExp][] = [
    ["createCredential", "sk-whole-body", "body", /^expected object, received string$/],
    ["createCredential", [validCredential], "body", /^expected object, received array$/],
    ["createCredential", { ...validCredential, api_key: 42 }, "body.api_key", /^expected string, received integer$/],
    ["createCredential", { name: "n", api_key: "k" }, "body.provider", /^is required$/],
    ["createCredential", { ...validCredential, provider: "OpenAI" }, "body.provider", /pattern/],
    ["createCredential", { ...validCredential, env_var: "openai_key" }, "body.env_var", /pattern/],
    ["createCredential", { ...validCredential, api_base: "not a url" }, "body.api_base", /URL|pattern/],
    ["createCredential", { ...validCredential, api_base: "ftp://example.com" }, "body.api_base", /pattern/],
    ["createCredential", { ...validCredential, rotation_period_days: 3651 }, "body.rotation_period_days", /^must be <= 3650$/],
    ["createCredential", { ...validCredential, rotation_period_days: 1.5 }, "body.rotation_period_days", /^expected integer, received number$/],
    ["createCredential", { ...validCredential, type: "password" }, "body.type", /^must be one of "api_token", /],
    ["createCredential", { ...validCredential, settings: { region: 5 } }, "body.settings.region", /^expected string, received integer$/],
    ["createCredential", { ...validCredential, settings: { Region: "eu" } }, "body.settings.Region", /^invalid name/],
    ["createCredential", { provider: "bedrock", name: "b", fields: {} }, "body.fields", /^must have at least 1 property$/],
    ["createCredential", { provider: "bedrock", name: "b", fields: { access_key_id: 1 } }, "body.fields.access_key_id", /^expected string/],
    ["createCredential", { ...validCredential, name: "x".repeat(129) }, "body.name", /^must be at most 128 characters long$/],
    ["createCredential", { ...validCredential, name: "" }, "body.name", /^must not be empty$/],
    ["createCredential", { ...validCredential, project_id: "prj_123" }, "body.project_id", /pattern/],
    ["createCredential", { ...validCredential, is_default: "true" }, "body.is_default", /^expected boolean, received string$/],
    ["createOrganization", { name: "Acme", slug: "A" }, "body.slug", /must be at least 2|pattern/],
    ["updateOrganization", {}, "body", /^must have at least 1 property$/],
    ["updateCredential", { description: 5 }, "body.description", /^expected string or null, received integer$/],
    ["updateCredential", { api_base: "nope" }, "body.api_base", /URL|pattern/],
    ["updateCredential", { provider: "anthropic" }, "body.provider", /^unknown field$/],
    ["rotateCredential", { api_key: "k", grace_seconds: 604801 }, "body.grace_seconds", /^must be <= 604800$/],
    ["rotateCredential", { api_key: "k", grace_seconds: -1 }, "body.grace_seconds", /^must be >= 0$/],
    ["resolveCredential", { provider: "openai", version: "older" }, "body.version", /^must be one of "current", "previous"$/],
    ["resolveCredential", { provider: "openai", project_id: null }, "body.project_id", /^expected string, received null$/],
    ["createToken", { role: "platform_admin", name: "x" }, "body.role", /^must be one of "admin", "member", "resolver"$/],
    ["createToken", { role: "admin", name: "x", expires_at: "tomorrow" }, "body.expires_at", /date-time/],
    ["createProject", {}, "body.name", /^is required$/],
    ["updateProject", { description: null, inherit_organization_credentials: "yes" }, "body.inherit_organization_credentials", /^expected boolean/],
  ];

  it.each(badBodies)("%s rejects %j at %s", (operationId, body, path, message) => {
    const errors = errorsOf(() => parseBody(operationId, body));
    const hit = errors.find((e) => e.path === path);
    expect(hit, JSON.stringify(errors)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  it("rejects unknown fields in every request body", () => {
    for (const operationId of bodyOps) {
      const errors = errorsOf(() => parseBody(operationId, { unexpected_field: 1 }));
      expect(errors, operationId).toContainEqual({ path: "body.unexpected_field", message: "unknown field" });
    }
  });

  it("coerces query strings and applies defaults", () => {
    expect(parseQuery("listCredentials", {})).toEqual({ limit: 50 });
    expect(parseQuery("listCredentials", { limit: "20", active: "false", rotation_due: "true", provider: "openai", project_id: "none" })).toEqual({
      limit: 20,
      active: false,
      rotation_due: true,
      provider: "openai",
      project_id: "none",
    });
    expect(parseQuery("deleteCredential", { force: "true" })).toEqual({ force: true });
    expect(parseQuery("deleteCredential", {})).toEqual({ force: false });
    expect(parseQuery("getCredential", {})).toEqual({});
    expect(parseQuery("listAuditEvents", { since: "2030-01-01T00:00:00Z", action: "credential.rotate" })).toMatchObject({ action: "credential.rotate" });
  });

  const badQueries: [OperationId, Record<string, unknown>, string, RegExp][] = [
    ["listCredentials", { limit: "0" }, "query.limit", /^must be >= 1$/],
    ["listCredentials", { limit: "201" }, "query.limit", /^must be <= 200$/],
    ["listCredentials", { limit: "ten" }, "query.limit", /^expected an integer$/],
    ["listCredentials", { limit: "1.5" }, "query.limit", /^expected an integer$/],
    ["listCredentials", { active: "1" }, "query.active", /^expected true or false$/],
    ["listCredentials", { provder: "openai" }, "query.provder", /^unknown query parameter$/],
    ["listCredentials", { provider: ["openai", "anthropic"] }, "query.provider", /^must be given at most once$/],
    ["listCredentials", { project_id: "prj_x" }, "query.project_id", /pattern/],
    ["listCredentials", { cursor: "not base64url!" }, "query.cursor", /pattern/],
    ["listAuditEvents", { since: "yesterday" }, "query.since", /date-time/],
    ["getEnvironment", { environment: "" }, "query.environment", /^must not be empty$/],
    ["getCredential", { expand: "versions" }, "query.expand", /^unknown query parameter$/],
  ];

  it.each(badQueries)("%s rejects query %j at %s", (operationId, query, path, message) => {
    const errors = errorsOf(() => parseQuery(operationId, query));
    const hit = errors.find((e) => e.path === path);
    expect(hit, JSON.stringify(errors)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  it("reports several query problems at once", () => {
    const errors = errorsOf(() => parseQuery("listCredentials", { limit: "x", active: "maybe", nope: "1" }));
    expect(errors.map((e) => e.path).sort()).toEqual(["query.active", "query.limit", "query.nope"]);
  });

  it("validates the declared headers by their case-insensitive names", () => {
    expect(parseHeaders("createCredential", { "idempotency-key": "6f1c2a", accept: "*/*" })).toEqual({ "Idempotency-Key": "6f1c2a" });
    expect(parseHeaders("createCredential", {})).toEqual({});
    expect(parseHeaders("updateCredential", { "if-match": '"v3"' })).toEqual({ "If-Match": '"v3"' });
    expect(parseHeaders("getEnvironment", { "if-none-match": 'W/"abc", "def"' })).toEqual({ "If-None-Match": 'W/"abc", "def"' });
    expect(errorsOf(() => parseHeaders("createCredential", { "idempotency-key": "has space" }))[0].path).toBe("header.idempotency-key");
    expect(errorsOf(() => parseHeaders("createCredential", { "idempotency-key": "x".repeat(256) }))[0].message).toMatch(/at most 255/);
    expect(errorsOf(() => parseHeaders("updateCredential", { "if-match": "v3" }))[0].path).toBe("header.if-match");
  });

  it("checks responses against closed schemas", () => {
    const problem = { type: "https://keyplane.dev/problems/not_found", title: "Not found", status: 404, detail: "d", code: "not_found", request_id: "r" };
    expect(parseResponse("getCredential", 404, problem)).toEqual(problem);
    const errors = errorsOf(() => parseResponse("getCredential", 404, { ...problem, stack: "at x" }));
    expect(errors).toContainEqual({ path: "response.stack", message: "unknown field" });
    expect(errorsOf(() => parseResponse("getCredential", 418, {}))[0].message).toMatch(/not documented/);
    expect(parseResponse("deleteCredential", 204, undefined)).toBeUndefined();
  });

  describe("never echoes submitted values", () => {
    const secret = fc.string({ minLength: 12, maxLength: 48 }).map((s) => `sk-fake-${s}`);
    const leaks = (err: ValidationError, value: string) => JSON.stringify(err.errors).includes(value) || err.message.includes(value);
    const check = (fn: () => unknown, value: string) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect(leaks(err as ValidationError, value), JSON.stringify((err as ValidationError).errors)).toBe(false);
      }
    };
    const propertiesOf = (operationId: string): string[] => {
      const body = deref<Json>(rawOperation(operationId).requestBody);
      const schema = deref<Json>(((body.content as Json)["application/json"] as Json).schema);
      return Object.keys(schema.properties as Json);
    };

    it("in bodies: a secret in any field, wrapped in any wrong type", () => {
      fc.assert(
        fc.property(secret, fc.constantFrom(...bodyOps), fc.constantFrom("bare", "array", "object", "map", "unknown", "long"), (value, operationId, shape) => {
          const wrap = (v: string): unknown =>
            shape === "array" ? [v] : shape === "object" ? { nested: v } : shape === "map" ? { region: [v] } : shape === "long" ? v.repeat(400) : v;
          const body: Json = Object.fromEntries(propertiesOf(operationId).map((p) => [p, wrap(value)]));
          if (shape === "unknown") body.unexpected = value;
          check(() => parseBody(operationId, body), value);
        }),
        { numRuns: 400 },
      );
    });

    it("in query parameters and headers", () => {
      const queryOps = operations.filter((op) => op.queryParams.length > 0).map((op) => op.operationId);
      fc.assert(
        fc.property(secret, fc.constantFrom(...queryOps), fc.boolean(), (value, operationId, repeated) => {
          const params = operationTable.get(operationId)!.queryParams;
          const query = Object.fromEntries([...params, "unexpected"].map((p) => [p, repeated ? [value, value] : value]));
          check(() => parseQuery(operationId, query), value);
          check(() => parseHeaders("createCredential", { "idempotency-key": `${value} ${value}` }), value);
          check(() => parseHeaders("updateCredential", { "if-match": value }), value);
        }),
        { numRuns: 200 },
      );
    });

    it("for arbitrary JSON bodies, never anything but a ValidationError", () => {
      fc.assert(
        fc.property(fc.constantFrom(...bodyOps), fc.jsonValue(), (operationId, body) => {
          try {
            parseBody(operationId, body);
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
          }
        }),
        { numRuns: 300 },
      );
    });
  });

  describe("prototype pollution", () => {
    const polluted = () => (({}) as Record<string, unknown>).polluted;

    it("rejects __proto__, constructor and prototype keys at any depth", () => {
      for (const operationId of bodyOps) {
        const errors = errorsOf(() => parseBody(operationId, JSON.parse('{"__proto__": {"polluted": "yes"}}')));
        expect(errors, operationId).toContainEqual({ path: "body.__proto__", message: "forbidden key" });
      }
      const nested = JSON.parse(`{"provider":"openai","name":"n","api_key":"k","settings":{"constructor":{"prototype":{"polluted":"yes"}}}}`);
      expect(errorsOf(() => parseBody("createCredential", nested))).toContainEqual({ path: "body.settings.constructor", message: "forbidden key" });
      const fields = JSON.parse(`{"provider":"bedrock","name":"n","fields":{"__proto__":"x","prototype":"y"}}`);
      expect(
        errorsOf(() => parseBody("createCredential", fields))
          .map((e) => e.path)
          .sort(),
      ).toEqual(["body.fields.__proto__", "body.fields.prototype"]);
      const query = JSON.parse('{"__proto__": {"polluted": "yes"}, "limit": "5"}');
      expect(errorsOf(() => parseQuery("listCredentials", query))).toContainEqual({ path: "query.__proto__", message: "forbidden key" });
      expect(polluted()).toBeUndefined();
    });

    it("returns fresh objects that carry only declared keys", () => {
      const parsed = parseBody("createCredential", { ...validCredential, settings: { region: "eu" } });
      expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
      expect(Object.keys(parsed).sort()).toEqual(["api_key", "name", "provider", "settings"]);
    });

    it("survives hostile nesting without overflowing the stack", () => {
      let deep: unknown = "x";
      for (let i = 0; i < 100_000; i++) deep = [deep];
      const errors = errorsOf(() => parseBody("createCredential", { ...validCredential, settings: { region: deep } }));
      expect(errors[0].message).toMatch(/nesting deeper than/);
      expect(polluted()).toBeUndefined();
    });
  });
});
