/**
 * Fuzzing every operation of the contract with generated bodies, query strings and headers:
 * wrong types, huge strings, unicode, nulls, prototype-pollution keys, deep nesting. Every answer
 * must be a problem document below 500, and requests that were refused must leave the database
 * exactly as it was.
 */
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { openapiDocument, operationTable, type OperationInfo } from "../../service/http/validation.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

const RUNS = Number(process.env.KEYPLANE_FUZZ_RUNS ?? 10_000);

type Json = Record<string, unknown>;

function bodyPropertyNames(op: OperationInfo): string[] {
  const item = openapiDocument.paths[op.path] as Json;
  const operation = item[op.method] as { requestBody?: { content?: Record<string, { schema?: Json }> } };
  let schema = operation.requestBody?.content?.["application/json"]?.schema;
  const components = (openapiDocument as unknown as { components: { schemas: Record<string, Json> } }).components.schemas;
  if (schema && typeof schema.$ref === "string") schema = components[schema.$ref.split("/").pop()!];
  return Object.keys((schema?.properties as Json | undefined) ?? {});
}

const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant("x".repeat(5000)),
  fc.constant("sk-ant-" + "A".repeat(40)),
  fc.array(fc.string(), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
  fc.constant({ __proto__: null, polluted: true }),
);

/** A raw JSON text: sometimes with a prototype-pollution key or deep nesting spliced in. */
function bodyText(names: string[]) {
  const keys = fc.constantFrom(...names, "unknown_field", "constructor", "prototype", "__proto__");
  return fc
    .tuple(fc.dictionary(keys, hostile, { maxKeys: 6 }), fc.constantFrom("plain", "proto", "deep", "array", "scalar", "empty"))
    .map(([value, variant]) => {
      const text = JSON.stringify(value);
      switch (variant) {
        case "proto":
          return text.length > 2 ? `{"__proto__":{"polluted":true},${text.slice(1)}` : '{"__proto__":{"polluted":true}}';
        case "deep":
          return `${'{"a":'.repeat(200)}1${"}".repeat(200)}`;
        case "array":
          return `[${text}]`;
        case "scalar":
          return JSON.stringify(names[0] ?? "x");
        case "empty":
          return "{}";
        default:
          return text;
      }
    });
}

function queryText(names: readonly string[]) {
  const key = fc.constantFrom(...names, "unknown", "__proto__", "limit[]", "a[b]");
  const value = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("true", "false", "-1", "0", "99999999999", "%zz", "null", ""));
  return fc
    .array(fc.tuple(key, value), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v === "%zz" ? v : encodeURIComponent(v)}`).join("&"));
}

const headerValues = fc.record(
  {
    "Idempotency-Key": fc.oneof(fc.string({ maxLength: 300 }), fc.constant("")),
    "If-Match": fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('"v1"', "*", 'W/"v1"', '"v99999999999"')),
    "If-None-Match": fc.string({ maxLength: 20 }),
    "Content-Type": fc.constantFrom("application/json", "text/plain", "application/json; charset=utf-16", "application/x-www-form-urlencoded", "application/merge-patch+json"),
  },
  { requiredKeys: ["Content-Type"] },
);

describe("fuzzing every operation (pglite)", () => {
  let t: TestRuntime;
  let server: Server;
  let base: string;
  let ids: { org: string; credential: string; project: string; token: string };
  let tokens: Record<string, string>;

  async function snapshot(): Promise<string> {
    const queries = [
      "select id, name, slug, platform_fallback, version from organizations order by id",
      "select id, organization_id, role, name, revoked_at, expires_at from api_tokens order by id",
      "select id, name, inherit_organization_credentials, version from projects order by id",
      "select id, name, key_hint, key_version, active, is_default, settings::text, version, environment from credentials order by id",
      "select credential_id, key_version, encode(ciphertext, 'hex') as c, master_key_id, destroyed_at from credential_versions order by 1, 2",
      "select organization_id, idem_key, status from idempotency_keys order by 1, 2",
    ];
    const parts: string[] = [];
    for (const q of queries) parts.push(JSON.stringify((await t.testDb.db.query(q)).rows));
    return parts.join("\n");
  }

  beforeAll(async () => {
    t = await startTestRuntime("pglite");
    const seeded = await seedOrganization(t);
    const admin = bearer(seeded.tokens.admin);
    const credential = await t.api.post(`/v1/organizations/${seeded.org.id}/credentials`).set(admin).send({ provider: "openai", name: "fuzz", api_key: "sk-fuzz000000000000000000000000000000" });
    const project = await t.api.post(`/v1/organizations/${seeded.org.id}/projects`).set(admin).send({ name: "fuzz" });
    const spare = await t.api.post(`/v1/organizations/${seeded.org.id}/tokens`).set(admin).send({ role: "member", name: "spare" });
    ids = { org: seeded.org.id, credential: credential.body.id, project: project.body.id, token: spare.body.id };
    tokens = { platform_admin: t.platformToken, ...seeded.tokens };
    server = createServer(t.handler).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await t?.close();
  });

  it(`answers ${RUNS} generated requests with 4xx or 2xx only, and rejected ones change nothing`, async () => {
    const operations = [...operationTable.values()].filter((op) => op.secured);
    const perOperation = Math.ceil(RUNS / operations.length);
    let baseline = await snapshot();
    let sent = 0;
    const statuses = new Map<number, number>();
    for (const op of operations) {
      const role = (["admin", "platform_admin", "resolver", "member"] as const).find((r) => op.roles.includes(r))!;
      const path = op.path
        .replace("{org}", ids.org)
        .replace("{id}", op.path.includes("/tokens/") ? ids.token : ids.credential)
        .replace("{project}", ids.project);
      const arbitrary = fc.tuple(bodyText(bodyPropertyNames(op)), queryText(op.queryParams), headerValues);
      const samples = fc.sample(arbitrary, { numRuns: perOperation, seed: 20261122 + sent });
      for (const [body, query, headers] of samples) {
        const hasBody = op.method !== "get" && op.method !== "delete";
        const res = await fetch(`${base}${path}${query ? `?${query}` : ""}`, {
          method: op.method.toUpperCase(),
          headers: { ...headers, ...bearer(tokens[role]) },
          body: hasBody ? body : undefined,
        });
        const text = await res.text();
        sent += 1;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) throw new Error(`${op.operationId} answered ${res.status}: ${text.slice(0, 300)}`);
        if (res.status >= 400 && res.status !== 304) {
          expect(res.headers.get("content-type")).toContain("application/problem+json");
        }
        if (res.ok && op.method !== "get") baseline = await snapshot();
      }
      // Refused requests of this operation must not have changed anything.
      expect(await snapshot(), `${op.operationId} changed the database through a refused request`).toBe(baseline);
    }
    expect(sent).toBeGreaterThanOrEqual(RUNS);
    expect(Object.prototype).not.toHaveProperty("polluted");
    console.log(`fuzz: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  }, 600_000);
});
