import { describe, expect, it, afterAll, beforeAll } from "vitest";
import { TokenBucketLimiter } from "../../service/ratelimit/token-bucket.js";
import { addressKey } from "../../service/ratelimit/rate-limit-hooks.js";
import { loadConfig } from "../../service/config.js";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "../support/runtime.js";

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
    let t: TestRuntime;
    let orgId: string;
    let tokens: Record<"admin" | "member" | "resolver", string>;

    beforeAll(async () => {
      t = await startTestRuntime(kind, {
        KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: "3",
        KEYPLANE_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "3",
      });
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      tokens = seeded.tokens;
      await t.api
        .post(`/v1/organizations/${orgId}/credentials`)
        .set(bearer(tokens.admin))
        .send({ provider: "openai", name: "rl", api_key: "sk-proj-RateLimit000000000000000000000000000c01" });
    }, 60_000);
    afterAll(() => t?.close());

    it("limits resolve and environment together per token, with Retry-After", async () => {
      const resolver = bearer(tokens.resolver);
      expect((await t.api.post(`/v1/organizations/${orgId}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(200);
      expect((await t.api.get(`/v1/organizations/${orgId}/environment`).set(resolver)).status).toBe(200);
      expect((await t.api.post(`/v1/organizations/${orgId}/resolve`).set(resolver).send({ provider: "openai" })).status).toBe(200);
      const limited = await t.api.post(`/v1/organizations/${orgId}/resolve`).set(resolver).send({ provider: "openai" });
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe("rate_limited");
      expect(limited.headers["content-type"]).toContain("application/problem+json");
      expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(20);
      expect(JSON.stringify(limited.body)).not.toContain("sk-proj-");
      expect((await t.api.get(`/v1/organizations/${orgId}/environment`).set(resolver)).status).toBe(429);

      // Another token has its own budget, and other operations are not limited.
      const second = await t.api.post(`/v1/organizations/${orgId}/tokens`).set(bearer(tokens.admin)).send({ role: "resolver", name: "second" });
      expect((await t.api.post(`/v1/organizations/${orgId}/resolve`).set(bearer(second.body.token)).send({ provider: "openai" })).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(tokens.member))).status).toBe(200);
    });

    it("a valid token is never refused because other requests from its address failed", async () => {
      // No Authorization header at all is not a guess and does not count.
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${orgId}/credentials`)).status).toBe(401);
      for (let i = 0; i < 3; i++) {
        const bad = await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(`kp_${"x".repeat(43)}${i}`));
        expect(bad.status).toBe(401);
      }
      const limited = await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(`kp_${"y".repeat(44)}`));
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe("rate_limited");
      expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);

      // The address is over its budget, yet every valid token still gets through.
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(tokens.member))).status).toBe(200);
      expect((await t.api.get(`/v1/organizations/${orgId}/tokens`).set(bearer(tokens.admin))).status).toBe(200);
      // A missing header is still a plain 401.
      expect((await t.api.get(`/v1/organizations/${orgId}/credentials`)).status).toBe(401);
      // Unauthenticated endpoints stay available.
      expect((await t.api.get("/healthz")).status).toBe(200);
    });

    it("refuses every unknown token from an over-limit address alike, so the 429 tells nothing about a guess", async () => {
      const answers = [];
      for (const guess of [`kp_${"a".repeat(43)}`, `kp_${"b".repeat(60)}`, "kp_short", "not-even-a-token"]) {
        const res = await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(guess));
        const { request_id: _requestId, ...body } = res.body;
        answers.push({ status: res.status, body });
      }
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0].status).toBe(429);
    });

    it("ignores X-Forwarded-For unless KEYPLANE_TRUST_PROXY is set", async () => {
      // This address is over its budget (previous tests): another claimed client address changes nothing.
      const res = await t.api.get(`/v1/organizations/${orgId}/credentials`).set("X-Forwarded-For", "203.0.113.77").set(bearer(`kp_${"z".repeat(43)}`));
      expect(res.status).toBe(429);
      const denied = await t.api.post(`/v1/organizations/${orgId}/credentials`).set("X-Forwarded-For", "203.0.113.77").set(bearer(tokens.member)).send({});
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
    expect(loadConfig({ KEYPLANE_TRUST_PROXY: "loopback, 10.0.0.0/8,fd00::/8, 192.0.2.1" }).trustProxy).toEqual(["loopback", "10.0.0.0/8", "fd00::/8", "192.0.2.1"]);
  });

  it("refuses values that would trust any client's X-Forwarded-For, or that are not addresses", () => {
    for (const value of ["true", "*", "proxy.example.com", "10.0.0.0/33", "loopback,", "-1"]) {
      expect(() => loadConfig({ KEYPLANE_TRUST_PROXY: value }), value).toThrow(/KEYPLANE_TRUST_PROXY/);
    }
  });
});

for (const kind of testDatabases()) {
  describe(`failed authentications behind a trusted proxy (${kind})`, () => {
    let t: TestRuntime;
    let orgId: string;
    let tokens: Record<"admin" | "member" | "resolver", string>;
    const guess = (i: number) => bearer(`kp_${"q".repeat(43)}${i}`);

    beforeAll(async () => {
      t = await startTestRuntime(kind, { KEYPLANE_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "3", KEYPLANE_TRUST_PROXY: "loopback" });
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      tokens = seeded.tokens;
    }, 60_000);
    afterAll(() => t?.close());

    it("counts failures per client behind the proxy, so one client's guesses do not limit another", async () => {
      const path = `/v1/organizations/${orgId}/credentials`;
      const first = "203.0.113.5";
      for (let i = 0; i < 3; i++) expect((await t.api.get(path).set("X-Forwarded-For", first).set(guess(i))).status).toBe(401);
      expect((await t.api.get(path).set("X-Forwarded-For", first).set(guess(3))).status).toBe(429);
      // The proxy appends the client it saw; what that client claimed further left is not trusted.
      expect((await t.api.get(path).set("X-Forwarded-For", `198.51.100.9, ${first}`).set(guess(4))).status).toBe(429);
      expect((await t.api.get(path).set("X-Forwarded-For", "203.0.113.6").set(guess(5))).status).toBe(401);
      expect((await t.api.get(path).set("X-Forwarded-For", first).set(bearer(tokens.member))).status).toBe(200);
    });

    it("records the client behind the proxy in the audit log", async () => {
      const denied = await t.api.post(`/v1/organizations/${orgId}/credentials`).set("X-Forwarded-For", "203.0.113.8").set(bearer(tokens.member)).send({});
      expect(denied.status).toBe(403);
      const audit = await t.runtime.db.query<{ details: { client_address?: string } }>(
        "select details from audit_events where action = 'auth.denied' and request_id = $1",
        [denied.headers["x-request-id"]],
      );
      expect(audit.rows[0].details.client_address).toBe("203.0.113.8");
    });
  });
}
