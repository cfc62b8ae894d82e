/**
 * Fuzzing every operation of the contract with generated bodies, query strings, headers and path
 * ids: wrong types, huge strings, unicode, nulls, prototype-pollution keys, deep nesting, and
 * near-valid requests (the contract's own examples with one field replaced) carrying what the
 * database or JavaScript cannot take as is: NUL characters, unpaired surrogates, tampered
 * cursors, odd time-zone offsets, encoded bytes in path ids, with and without a token. Every
 * answer must be a problem document below 500, and requests that were refused must leave the
 * database exactly as it was.
 *
 * The token exchange, which takes no token, gets its own RUNS malformed bodies and forged or
 * mismatching identity tokens from a local issuer.
 *
 * KEYPLANE_FUZZ_RUNS sets the number of requests (default 2000, which keeps `npm test` quick;
 * run it with 10000 or more before a release).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { openapiDocument } from "../../service/contract/contract-document.js";
import { operationTable, type OperationInfo } from "../../service/contract/operation-table.js";
import { bearer, seedOrganization, type TestRuntime } from "../support/runtime.js";
import { startService, type E2eService } from "../support/service.js";
import { TestOidcIssuer } from "../support/oidc-issuer.js";

const RUNS = Number(process.env.KEYPLANE_FUZZ_RUNS || 2000);

type Json = Record<string, unknown>;

const components = (openapiDocument as unknown as { components: { schemas: Record<string, Json> } }).components.schemas;
const deref = (schema: Json | undefined): Json | undefined =>
  schema && typeof schema.$ref === "string" ? deref(components[schema.$ref.split("/").pop()!]) : schema;

/** The request body's declared properties and their schemas. */
function bodyProperties(op: OperationInfo): [string, Json][] {
  const schema = deref(requestMedia(op)?.schema as Json | undefined);
  return Object.entries((schema?.properties as Record<string, Json> | undefined) ?? {}).map(([name, property]) => [name, deref(property) ?? {}]);
}

/** The operation's declared query parameters and their schemas. */
function queryParameters(op: OperationInfo): [string, Json][] {
  const item = openapiDocument.paths[op.path] as Json;
  const declared = [...((item.parameters as Json[] | undefined) ?? []), ...(((item[op.method] as Json).parameters as Json[] | undefined) ?? [])];
  const parameters = (openapiDocument as unknown as { components: { parameters: Record<string, Json> } }).components.parameters;
  return declared
    .map((p) => (typeof p.$ref === "string" ? parameters[p.$ref.split("/").pop()!] : p))
    .filter((p) => p.in === "query")
    .map((p) => [p.name as string, deref(p.schema as Json) ?? {}]);
}

function bodyPropertyNames(op: OperationInfo): string[] {
  return bodyProperties(op).map(([name]) => name);
}

/** The `application/json` request media of an operation: its schema and examples. */
function requestMedia(op: OperationInfo): Json | undefined {
  const item = openapiDocument.paths[op.path] as Json;
  const operation = item[op.method] as { requestBody?: { content?: Record<string, Json> } };
  return operation.requestBody?.content?.["application/json"];
}

/** The request bodies the contract gives as examples: valid, so one changed field is what fails. */
function bodyExamples(op: OperationInfo): Json[] {
  const media = requestMedia(op);
  const examples = Object.values((media?.examples as Record<string, { value: Json }> | undefined) ?? {}).map((e) => e.value);
  return examples.length > 0 ? examples : [{}];
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Strings that PostgreSQL text or jsonb refuse (NUL) or that are not Unicode (unpaired surrogates). */
const unstorable = fc.oneof(
  fc.constantFrom("\u0000", "a\u0000b", "\uD800", "x\uDC00y", "\uDBFF", "ok\uD83D", "\uDE00\uD83D"),
  fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom("\u0000", "\uD800", "\uDFFF"), fc.string({ maxLength: 8 })).map(([a, b, c]) => a + b + c),
);

/** RFC 3339 date-times with every offset up to ±23:59 (PostgreSQL takes ±15:59) and edge years. */
const oddTimestamp = fc
  .tuple(
    fc.constantFrom("0000", "0001", "1969", "2030", "2090", "9999"),
    fc.constantFrom("01-01", "12-31", "02-29"),
    fc.constantFrom("00:00:00", "23:59:59", "12:00:00.123456789"),
    fc.oneof(
      fc.constant("Z"),
      fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([sign, h, m]) => `${sign}${pad(h)}:${pad(m)}`),
    ),
  )
  .map(([year, day, time, offset]) => `${year}-${day}T${time}${offset}`);

/** Well-formed cursors (base64url of JSON) whose content is not a sort key this API issued. */
const tamperedCursor = fc
  .oneof(
    fc
      .record({
        key: fc.constantFrom("id", "before", "seq", "name"),
        value: fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -5, max: 5 }), fc.double(), fc.constant(1e300), unstorable, fc.constant(null)),
      })
      .map(({ key, value }) => ({ [key]: value })),
    fc.dictionary(
      fc.constantFrom("id", "before", "seq", "name", "x"),
      fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.integer(),
        fc.double(),
        fc.constant(null),
        unstorable,
        fc.array(fc.integer(), { maxLength: 2 }),
        fc.constant(1e300),
      ),
      { maxKeys: 3 },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  )
  .map((value) => Buffer.from(JSON.stringify(value) ?? "null", "utf8").toString("base64url"));

/** Path ids that cannot exist: encoded NUL, an encoded unpaired surrogate, another kind's prefix. */
const impossibleId = fc.constantFrom(
  "%00",
  "cred_%00",
  "org_%00",
  "%ED%A0%80",
  "%C0%80",
  "tok_01J0000000000000000000000T",
  "cred_01j0000000000000000000000c",
  "%25",
  "x".repeat(300),
);

/** Every byte percent-encoded (encodeURIComponent throws on unpaired surrogates). */
const percentEncode = (text: string) => [...Buffer.from(text, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");

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
  unstorable,
  oddTimestamp,
);

/** Something hard to store, of the shape the property's schema asks for. */
function hardToStore(schema: Json): fc.Arbitrary<unknown> {
  const types = ([] as unknown[]).concat(schema.type ?? []);
  if (schema.format === "date-time") return oddTimestamp;
  if (types.includes("object")) {
    return fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), unstorable), fc.oneof(fc.string({ maxLength: 6 }), unstorable), { minKeys: 1, maxKeys: 2 });
  }
  if (types.includes("array")) return fc.array(unstorable, { minLength: 1, maxLength: 2 });
  return fc.oneof(unstorable, oddTimestamp);
}

/** A contract example with one declared property replaced by something hard to store. */
function nearValidBody(op: OperationInfo) {
  const properties = bodyProperties(op);
  if (properties.length === 0) return fc.constant("{}");
  return fc
    .tuple(fc.constantFrom(...bodyExamples(op)), fc.oneof(...properties.map(([name, schema]) => hardToStore(schema).map((value) => [name, value] as const))))
    .map(([example, [name, value]]) => JSON.stringify({ ...example, [name]: value }));
}

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

const RAW_QUERY_VALUES = ["%zz", "%00", "%ED%A0%80", "%C0%80"];

function queryText(names: readonly string[]) {
  const key = fc.constantFrom(...names, "unknown", "__proto__", "limit[]", "a[b]");
  const value = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom("true", "false", "-1", "0", "99999999999", "null", "", ...RAW_QUERY_VALUES),
    unstorable,
    oddTimestamp,
    tamperedCursor,
  );
  return fc
    .array(fc.tuple(key, value), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${RAW_QUERY_VALUES.includes(v) ? v : percentEncode(v)}`).join("&"));
}

const headerValues = fc.record(
  {
    "Idempotency-Key": fc.oneof(fc.string({ maxLength: 300 }), fc.constant("")),
    "If-Match": fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('"v1"', "*", 'W/"v1"', '"v99999999999"')),
    "If-None-Match": fc.string({ maxLength: 20 }),
    "Content-Type": fc.constantFrom(
      "application/json",
      "text/plain",
      "application/json; charset=utf-16",
      "application/x-www-form-urlencoded",
      "application/merge-patch+json",
    ),
  },
  { requiredKeys: ["Content-Type"] },
);

interface PathReplacement {
  param: string;
  id: string;
}

interface FuzzCase {
  body: string;
  query: string;
  headers: Record<string, string>;
  /** A path parameter given an id that cannot exist instead of the fixture's. */
  replaced: PathReplacement | null;
  /** Sent without a token. */
  anonymous: boolean;
}

const pathReplacement = (op: OperationInfo) => fc.record({ param: fc.constantFrom(...(op.path.match(/\{\w+\}/g) ?? [])), id: impossibleId });

/** Everything random at once: most of it fails early, on the content type or the first field. */
function randomCase(op: OperationInfo): fc.Arbitrary<FuzzCase> {
  const hasPathParams = op.pathParams.length > 0;
  return fc.record({
    body: bodyText(bodyPropertyNames(op)),
    query: queryText(op.queryParams),
    headers: headerValues,
    replaced: hasPathParams ? fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: pathReplacement(op) }) : fc.constant(null),
    anonymous: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
  });
}

/**
 * A request the contract accepts but for exactly one part: a body property, a declared query
 * parameter, or a path id (with or without a token). Only such requests get far enough to find
 * what the database refuses.
 */
function nearValidCase(op: OperationInfo): fc.Arbitrary<FuzzCase> {
  const valid = { body: JSON.stringify(bodyExamples(op)[0]), query: "", headers: { "Content-Type": "application/json" }, replaced: null, anonymous: false };
  const variants: fc.Arbitrary<FuzzCase>[] = [];
  if (op.requestBody !== "none") variants.push(nearValidBody(op).map((body) => ({ ...valid, body })));
  const query = queryParameters(op);
  if (query.length > 0) {
    const raw = fc.constantFrom(...RAW_QUERY_VALUES);
    const valueFor = ([name, schema]: [string, Json]) =>
      (name === "cursor" ? tamperedCursor : schema.format === "date-time" ? oddTimestamp : fc.oneof(unstorable, raw)).map(
        (v) => `${name}=${RAW_QUERY_VALUES.includes(v) ? v : percentEncode(v)}`,
      );
    variants.push(fc.oneof(...query.map(valueFor)).map((text) => ({ ...valid, query: text })));
  }
  if (op.pathParams.length > 0) variants.push(fc.tuple(pathReplacement(op), fc.boolean()).map(([replaced, anonymous]) => ({ ...valid, replaced, anonymous })));
  return variants.length > 0 ? fc.oneof(...variants) : randomCase(op);
}

describe("fuzzing every operation (pglite)", () => {
  let t: TestRuntime;
  let service: E2eService;
  let base: string;
  let ids: { org: string; credential: string; project: string; token: string; binding: string };
  let tokens: Record<string, string>;

  async function snapshot(): Promise<string> {
    const queries = [
      "select id, name, slug, platform_fallback, version from organizations order by id",
      "select id, organization_id, role, name, revoked_at, expires_at from api_tokens order by id",
      "select id, name, inherit_organization_credentials, version from projects order by id",
      "select id, name, key_hint, key_version, active, is_default, settings::text, version, environment from credentials order by id",
      "select credential_id, key_version, encode(ciphertext, 'hex') as c, master_key_id, destroyed_at from credential_versions order by 1, 2",
      "select organization_id, idem_key, status from idempotency_keys order by 1, 2",
      "select id, name, audience, jwks_uri, subject, claims::text, project_id, ttl_seconds, active, version from identity_bindings order by id",
    ];
    const parts: string[] = [];
    for (const q of queries) parts.push(JSON.stringify((await t.testDb.db.query(q)).rows));
    return parts.join("\n");
  }

  beforeAll(async () => {
    service = await startService("pglite");
    t = service.runtime;
    base = service.url;
    const seeded = await seedOrganization(t);
    const admin = bearer(seeded.tokens.admin);
    const credential = await t.api
      .post(`/v1/organizations/${seeded.org.id}/credentials`)
      .set(admin)
      .send({ provider: "openai", name: "fuzz", api_key: "sk-fuzz000000000000000000000000000000" });
    const project = await t.api.post(`/v1/organizations/${seeded.org.id}/projects`).set(admin).send({ name: "fuzz" });
    const spare = await t.api.post(`/v1/organizations/${seeded.org.id}/tokens`).set(admin).send({ role: "member", name: "spare" });
    const binding = await t.api
      .post(`/v1/organizations/${seeded.org.id}/identity-bindings`)
      .set(admin)
      .send({ name: "fuzz", issuer: "https://issuer.example", audience: "keyplane", subject: "repo:acme/*" });
    ids = { org: seeded.org.id, credential: credential.body.id, project: project.body.id, token: spare.body.id, binding: binding.body.id };
    tokens = { platform_admin: t.platformToken, ...seeded.tokens };
  }, 60_000);
  afterAll(async () => {
    await service?.close();
  });

  it(`answers ${RUNS} generated requests with 4xx or 2xx only, and rejected ones change nothing`, async () => {
    const operations = [...operationTable.values()].filter((op) => op.secured);
    const perOperation = Math.ceil(RUNS / operations.length);
    const idOf = (path: string) => (path.includes("/tokens/") ? ids.token : path.includes("/identity-bindings/") ? ids.binding : ids.credential);
    let baseline = await snapshot();
    let sent = 0;
    const statuses = new Map<number, number>();
    for (const op of operations) {
      const role = (["admin", "platform_admin", "resolver", "member"] as const).find((r) => op.roles.includes(r))!;
      const pathOf = (replaced: PathReplacement | null) =>
        op.path
          .replace("{org}", replaced?.param === "{org}" ? replaced.id : ids.org)
          .replace("{id}", replaced?.param === "{id}" ? replaced.id : idOf(op.path))
          .replace("{project}", replaced?.param === "{project}" ? replaced.id : ids.project);
      const samples = fc.sample(fc.oneof({ weight: 1, arbitrary: randomCase(op) }, { weight: 2, arbitrary: nearValidCase(op) }), {
        numRuns: perOperation,
        seed: 20261122 + sent,
      });
      for (const { body, query, headers, replaced, anonymous } of samples) {
        const hasBody = op.method !== "get" && op.method !== "delete";
        const res = await fetch(`${base}${pathOf(replaced)}${query ? `?${query}` : ""}`, {
          method: op.method.toUpperCase(),
          headers: { ...headers, ...(anonymous ? {} : bearer(tokens[role])) },
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

describe("fuzzing the token exchange (pglite)", () => {
  let service: E2eService;
  const issuer = new TestOidcIssuer();
  let orgId: string;
  const exchange = operationTable.get("exchangeIdentityToken")!;

  const base64url = (value: unknown) => Buffer.from(typeof value === "string" ? value : (JSON.stringify(value) ?? "null"), "utf8").toString("base64url");
  const claimValue = fc.oneof(
    hostile,
    fc.integer(),
    fc.constant(1e300),
    fc.constant(-1),
    fc.double(),
    fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.integer()), { maxLength: 3 }),
  );
  /** JWS-shaped tokens whose header, claims and signature are each hostile or near-valid. */
  const jwtLike = () =>
    fc
      .tuple(
        fc.record(
          {
            alg: fc.oneof(fc.constantFrom("RS256", "ES256", "EdDSA", "none", "HS256", "RS512", ""), hostile),
            kid: fc.oneof(fc.constantFrom("key-1", "key-2", "key-3"), hostile),
            typ: hostile,
            crit: fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 }),
            jku: fc.constant("http://169.254.169.254/latest"),
          },
          { requiredKeys: ["alg"] },
        ),
        fc.record(
          {
            iss: fc.oneof(fc.constant(issuer.url), hostile),
            aud: fc.oneof(fc.constant("keyplane"), claimValue),
            sub: fc.oneof(fc.constant("repo:acme/app"), claimValue),
            exp: claimValue,
            iat: claimValue,
            nbf: claimValue,
            env: claimValue,
          },
          { requiredKeys: [] },
        ),
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("base64url")),
        ),
        fc.constantFrom("json", "raw-header", "raw-payload", "extra-part"),
      )
      .map(([header, payload, signature, variant]) => {
        const h = variant === "raw-header" ? base64url(JSON.stringify(header.alg) ?? "") : base64url(header);
        const p = variant === "raw-payload" ? base64url(JSON.stringify(payload.iss) ?? "") : base64url(payload);
        return `${h}.${p}.${signature}${variant === "extra-part" ? ".x" : ""}`;
      });

  /** Tokens the issuer really signed, with claims that are wrong in one way or another. */
  const signedClaims = fc.record(
    {
      aud: fc.oneof(fc.constant("keyplane"), claimValue),
      sub: fc.oneof(fc.constant("repo:acme/app"), fc.string({ maxLength: 20 })),
      env: fc.oneof(fc.constant("prod"), claimValue),
      lifetime: fc.integer({ min: -4000, max: 200_000 }),
      offset: fc.integer({ min: -200_000, max: 4000 }),
      alg: fc.constantFrom<"RS256" | "ES256" | "EdDSA">("RS256", "ES256", "EdDSA"),
    },
    { requiredKeys: ["lifetime", "offset", "alg"] },
  );

  beforeAll(async () => {
    await issuer.start();
    service = await startService("pglite", {
      KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
      KEYPLANE_ALLOW_INSECURE_ISSUERS: "1",
      KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "0",
    });
    const seeded = await seedOrganization(service.runtime);
    orgId = seeded.org.id;
    const created = await service.runtime.api
      .post(`/v1/organizations/${orgId}/identity-bindings`)
      .set(bearer(seeded.tokens.admin))
      .send({ name: "fuzz", issuer: issuer.url, audience: "keyplane", subject: "repo:acme/*", claims: { env: "prod" } });
    expect(created.status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await service?.close();
    await issuer.stop();
  });

  it(`answers ${RUNS} malformed exchange bodies and ${Math.ceil(RUNS / 4)} forged or mismatching tokens without a 5xx, issuing only for tokens that satisfy the binding`, async () => {
    const tokensBefore = (await service.runtime.testDb.db.query("select count(*)::int as n from api_tokens")).rows[0];
    const bodies = fc.sample(
      fc.oneof(
        { weight: 2, arbitrary: bodyText(bodyPropertyNames(exchange)) },
        { weight: 1, arbitrary: nearValidBody(exchange) },
        { weight: 3, arbitrary: jwtLike().map((identity_token) => JSON.stringify({ organization_id: orgId, identity_token })) },
      ),
      { numRuns: RUNS, seed: 20261203 },
    );
    const signed = await Promise.all(
      fc.sample(signedClaims, { numRuns: Math.ceil(RUNS / 4), seed: 20261204 }).map(async ({ lifetime, offset, alg, ...claims }) => {
        const valid =
          claims.aud === "keyplane" && claims.sub === "repo:acme/app" && claims.env === "prod" && offset + lifetime > -60 && offset <= 60 && lifetime <= 86400;
        const token = await issuer.sign({ ...claims, env: claims.env ?? undefined }, { alg, lifetimeSeconds: lifetime, issuedAtOffsetSeconds: offset });
        return { body: JSON.stringify({ organization_id: orgId, identity_token: token }), mayIssue: valid };
      }),
    );
    const statuses = new Map<number, number>();
    let issued = 0;
    for (const { body, mayIssue } of [...bodies.map((b) => ({ body: b, mayIssue: false })), ...signed]) {
      const res = await fetch(`${service.url}/v1/auth/token-exchange`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) throw new Error(`exchangeIdentityToken answered ${res.status}: ${text.slice(0, 300)}`);
      if (res.status === 200) {
        expect(mayIssue, body).toBe(true);
        issued++;
      } else {
        expect(res.headers.get("content-type")).toContain("application/problem+json");
      }
    }
    const tokensAfter = (await service.runtime.testDb.db.query("select count(*)::int as n from api_tokens")).rows[0];
    expect(Number((tokensAfter as { n: number }).n)).toBe(Number((tokensBefore as { n: number }).n) + issued);
    expect(statuses.get(401) ?? 0).toBeGreaterThan(RUNS / 2);
    console.log(`fuzz token exchange: ${bodies.length + signed.length} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  }, 600_000);
});
