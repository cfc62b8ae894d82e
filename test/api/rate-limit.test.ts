import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { describe, expect, it, beforeAll } from "vitest";
import { OTHER_CLIENTS, UnauthenticatedDenials } from "../../service/auth/unauthenticated-denials.js";
import { openDb } from "../../service/db/index.js";
import { createLogger } from "../../service/observability/logger.js";
import { createRuntime } from "../../service/server.js";
import { TokenBucketLimiter } from "../../service/ratelimit/token-bucket.js";
import { addressKey } from "../../service/http/rate-limit-hooks.js";
import { loadConfig } from "../../service/config.js";
import { openTestDb, testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

describe("token bucket", () => {
  it("allows a burst of the per-minute limit, then refills at the steady rate", () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ perMinute: 60, now: () => now });
    for (let i = 0; i < 60; i++) expect(limiter.take("a").allowed).toBe(true);
    expect(limiter.take("a")).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take("b").allowed).toBe(true);
    now += 1_000;
    expect(limiter.take("a").allowed).toBe(true);
    expect(limiter.take("a").allowed).toBe(false);
    now += 60_000;
    for (let i = 0; i < 60; i++) expect(limiter.take("a").allowed).toBe(true);
  });

  it("says how long to wait, checks without spending, and 0 means unlimited", () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ perMinute: 2, now: () => now });
    expect(limiter.check("x").allowed).toBe(true);
    expect(limiter.size).toBe(0);
    limiter.take("x");
    limiter.take("x");
    expect(limiter.check("x")).toEqual({ allowed: false, retryAfterSeconds: 30 });
    now += 15_000;
    expect(limiter.take("x")).toEqual({ allowed: false, retryAfterSeconds: 15 });
    const off = new TokenBucketLimiter({ perMinute: 0 });
    for (let i = 0; i < 1000; i++) expect(off.take("y").allowed).toBe(true);
  });

  it("bounds the number of tracked keys", () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ perMinute: 10, maxKeys: 100, now: () => now });
    for (let i = 0; i < 1000; i++) {
      limiter.take(`k${i}`);
      now += 1;
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
  });

  it("groups IPv6 clients by /64 and unwraps IPv4-mapped addresses", () => {
    expect(addressKey("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(addressKey("10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });
});

for (const kind of testDatabases()) {
  describe(`rate limits over HTTP (${kind})`, () => {
    const t = useApiFixture(kind, {
      KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: "3",
      KEYPLANE_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "3",
    });

    beforeAll(async () => {
      await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(bearer(t.tokens.admin))
        .send({ provider: "openai", name: "rl", api_key: "sk-proj-RateLimit000000000000000000000000000c01" });
    }, 60_000);

    it("limits resolve and environment together per token, with Retry-After", async () => {
      const resolver = bearer(t.tokens.resolver);
      expect((await t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(200);
      expect((await t.api.get(`/v1/organizations/${t.orgId}/environment`).set(resolver)).status).toBe(200);
      expect((await t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(200);
      const limited = await t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(resolver).send({ provider: "openai" });
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe("rate_limited");
      expect(limited.headers["content-type"]).toContain("application/problem+json");
      expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(20);
      expect(JSON.stringify(limited.body)).not.toContain("sk-proj-");
      expect((await t.api.get(`/v1/organizations/${t.orgId}/environment`).set(resolver)).status).toBe(429);

      // Another token has its own budget, and other operations are not limited.
      const second = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(bearer(t.tokens.admin)).send({ role: "resolver", name: "second" });
      expect((await t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(bearer(second.body.token)).send({ provider: "openai" })).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(t.tokens.member))).status).toBe(200);
    });

    it("a valid token is never refused because other requests from its address failed", async () => {
      // No Authorization header at all is not a guess and does not count.
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`)).status).toBe(401);
      for (let i = 0; i < 3; i++) {
        const bad = await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(`kp_${"x".repeat(43)}${i}`));
        expect(bad.status).toBe(401);
      }
      const limited = await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(`kp_${"y".repeat(44)}`));
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe("rate_limited");
      expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);

      // The address is over its budget, yet every valid token still gets through.
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(t.tokens.member))).status).toBe(200);
      expect((await t.api.get(`/v1/organizations/${t.orgId}/tokens`).set(bearer(t.tokens.admin))).status).toBe(200);
      // A missing header is still a plain 401.
      expect((await t.api.get(`/v1/organizations/${t.orgId}/credentials`)).status).toBe(401);
      // Unauthenticated endpoints stay available.
      expect((await t.api.get("/healthz")).status).toBe(200);
    });

    it("refuses every unknown token from an over-limit address alike, so the 429 tells nothing about a guess", async () => {
      const answers = [];
      for (const guess of [`kp_${"a".repeat(43)}`, `kp_${"b".repeat(60)}`, "kp_short", "not-even-a-token"]) {
        const res = await t.api.get(`/v1/organizations/${t.orgId}/credentials`).set(bearer(guess));
        const { request_id: _requestId, ...body } = res.body;
        answers.push({ status: res.status, body });
      }
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0].status).toBe(429);
    });

    it("ignores X-Forwarded-For unless KEYPLANE_TRUST_PROXY is set", async () => {
      // This address is over its budget (previous tests): another claimed client address changes nothing.
      const res = await t.api
        .get(`/v1/organizations/${t.orgId}/credentials`)
        .set("X-Forwarded-For", "203.0.113.77")
        .set(bearer(`kp_${"z".repeat(43)}`));
      expect(res.status).toBe(429);
      const denied = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set("X-Forwarded-For", "203.0.113.77").set(bearer(t.tokens.member)).send({});
      expect(denied.status).toBe(403);
      const audit = await t.runtime.db.query<{ details: { client_address?: string } }>(
        "select details from audit_events where action = 'auth.denied' and request_id = $1",
        [denied.headers["x-request-id"]],
      );
      expect(audit.rows[0].details.client_address).toBe("127.0.0.1");
    });
  });
}

describe("KEYPLANE_TRUST_PROXY", () => {
  it("takes a hop count, or a list of addresses, subnets and loopback/linklocal/uniquelocal; unset trusts no proxy", () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ KEYPLANE_TRUST_PROXY: "1" }).trustProxy).toBe(1);
    expect(loadConfig({ KEYPLANE_TRUST_PROXY: "loopback, 10.0.0.0/8,fd00::/8, 192.0.2.1" }).trustProxy).toEqual([
      "loopback",
      "10.0.0.0/8",
      "fd00::/8",
      "192.0.2.1",
    ]);
  });

  it("refuses values that would trust any client's X-Forwarded-For, or that are not addresses", () => {
    for (const value of ["true", "*", "proxy.example.com", "10.0.0.0/33", "loopback,", "-1"]) {
      expect(() => loadConfig({ KEYPLANE_TRUST_PROXY: value }), value).toThrow(/KEYPLANE_TRUST_PROXY/);
    }
  });
});

for (const kind of testDatabases()) {
  describe(`failed authentications behind a trusted proxy (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "3", KEYPLANE_TRUST_PROXY: "loopback" });
    const guess = (i: number) => bearer(`kp_${"q".repeat(43)}${i}`);

    it("counts failures per client behind the proxy, so one client's guesses do not limit another", async () => {
      const path = `/v1/organizations/${t.orgId}/credentials`;
      const first = "203.0.113.5";
      for (let i = 0; i < 3; i++) expect((await t.api.get(path).set("X-Forwarded-For", first).set(guess(i))).status).toBe(401);
      expect((await t.api.get(path).set("X-Forwarded-For", first).set(guess(3))).status).toBe(429);
      // The proxy appends the client it saw; what that client claimed further left is not trusted.
      expect((await t.api.get(path).set("X-Forwarded-For", `198.51.100.9, ${first}`).set(guess(4))).status).toBe(429);
      expect((await t.api.get(path).set("X-Forwarded-For", "203.0.113.6").set(guess(5))).status).toBe(401);
      expect((await t.api.get(path).set("X-Forwarded-For", first).set(bearer(t.tokens.member))).status).toBe(200);
    });

    it("records the client behind the proxy in the audit log", async () => {
      const denied = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set("X-Forwarded-For", "203.0.113.8").set(bearer(t.tokens.member)).send({});
      expect(denied.status).toBe(403);
      const audit = await t.runtime.db.query<{ details: { client_address?: string } }>(
        "select details from audit_events where action = 'auth.denied' and request_id = $1",
        [denied.headers["x-request-id"]],
      );
      expect(audit.rows[0].details.client_address).toBe("203.0.113.8");
    });
  });
}

for (const kind of testDatabases()) {
  describe(`audit of unauthenticated requests (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_TRUST_PROXY: "loopback" });
    const countRows = async (action: string) =>
      Number((await t.runtime.db.query<{ n: number }>("select count(*)::int as n from audit_events where action = $1", [action])).rows[0].n);

    it("300 requests without a token add one audit event per client and window, counting them all", async () => {
      const before = await countRows("auth.unauthenticated");
      for (let i = 0; i < 300; i++) {
        const path = i % 2 === 0 ? `/v1/organizations/${t.orgId}/credentials` : "/v1/whoami";
        expect((await t.api.get(path).set("X-Forwarded-For", "198.51.100.20")).status).toBe(401);
      }
      expect((await t.api.get("/v1/whoami").set("X-Forwarded-For", "198.51.100.21")).status).toBe(401);
      // At most one periodic write can have happened meanwhile.
      expect((await countRows("auth.unauthenticated")) - before).toBeLessThanOrEqual(2);
      await t.runtime.app.operations.unauthenticated.flush();
      const { rows } = await t.runtime.db.query<{ details: { client_address: string; reason: string; count: number; operations: Record<string, number> } }>(
        "select details from audit_events where action = 'auth.unauthenticated' and outcome = 'denied' order by seq",
      );
      const first = rows.filter((r) => r.details.client_address === "198.51.100.20");
      expect(first.length).toBeLessThanOrEqual(2);
      expect(first.reduce((n, r) => n + r.details.count, 0)).toBe(300);
      expect(first.every((r) => r.details.reason === "missing")).toBe(true);
      const operations = first.reduce<Record<string, number>>((acc, r) => {
        for (const [op, n] of Object.entries(r.details.operations)) acc[op] = (acc[op] ?? 0) + n;
        return acc;
      }, {});
      expect(operations).toEqual({ getWhoami: 150, listCredentials: 150 });
      expect(rows.filter((r) => r.details.client_address === "198.51.100.21").map((r) => r.details.count)).toEqual([1]);
      expect((await countRows("auth.unauthenticated")) - before).toBeLessThanOrEqual(4);
    });

    it("still writes one audit event per denied request of a valid token", async () => {
      const before = await countRows("auth.denied");
      for (let i = 0; i < 5; i++) {
        expect((await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(bearer(t.tokens.member)).send({})).status).toBe(403);
      }
      expect((await countRows("auth.denied")) - before).toBe(5);
    });

    it("bounds the clients it tracks, counting the rest together, and keeps the counts of a failed write", async () => {
      const denials = new UnauthenticatedDenials(t.runtime.db, t.runtime.log, 3_600_000, 10);
      for (let i = 0; i < 1000; i++)
        denials.record({ clientAddress: `192.0.2.${i % 250}`, reason: i % 2 ? "unknown" : "missing", operation: "getWhoami", requestId: `r${i}` });
      expect(denials.size).toBeLessThanOrEqual(12);
      await denials.close();
      expect(denials.size).toBe(0);
      const { rows } = await t.runtime.db.query<{ details: { client_address: string; count: number } }>(
        "select details from audit_events where action = 'auth.unauthenticated' and (details->>'client_address' = $1 or details->>'client_address' like '192.0.2.%')",
        [OTHER_CLIENTS],
      );
      expect(rows.length).toBeLessThanOrEqual(12);
      expect(rows.reduce((n, r) => n + r.details.count, 0)).toBe(1000);
      expect(rows.some((r) => r.details.client_address === OTHER_CLIENTS)).toBe(true);

      // A write that fails (here: a database without the audit schema) keeps the counts for the next one.
      const unmigrated = await openTestDb("pglite", { migrate: false });
      try {
        const failing = new UnauthenticatedDenials(unmigrated.db, t.runtime.log, 3_600_000, 10);
        failing.record({ clientAddress: "192.0.2.1", reason: "missing", operation: null, requestId: "r" });
        await expect(failing.flush()).rejects.toThrow();
        expect(failing.size).toBe(1);
      } finally {
        await unmigrated.cleanup();
      }
    });
  });
}

describe("unauthenticated-request counts across a restart", () => {
  it("are written when the service closes, not lost", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kp-unauth-"));
    try {
      const env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_MASTER_KEY: randomBytes(32).toString("base64"), KEYPLANE_LOG_LEVEL: "silent" };
      const runtime = await createRuntime({ config: loadConfig(env), log: createLogger("silent"), db: await openDb({ driver: "pglite", dataDir }) });
      for (let i = 0; i < 7; i++) expect((await request(runtime.app).get("/v1/whoami")).status).toBe(401);
      await runtime.close();
      const db = await openDb({ driver: "pglite", dataDir });
      const { rows } = await db.query<{ count: number }>("select (details->>'count')::int as count from audit_events where action = 'auth.unauthenticated'");
      await db.close();
      expect(rows.map((r) => Number(r.count))).toEqual([7]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
