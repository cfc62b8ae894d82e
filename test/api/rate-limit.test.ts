import { describe, expect, it, afterAll, beforeAll } from "vitest";
import { TokenBucketLimiter } from "../../service/ratelimit/token-bucket.js";
import { addressKey } from "../../service/ratelimit/rate-limit-hooks.js";
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

    it("blocks a client address after repeated failed authentication, even with a valid token", async () => {
      // No Authorization header at all is not a guess and does not count.
      for (let i = 0; i < 5; i++) expect((await t.api.get(`/v1/organizations/${orgId}/credentials`)).status).toBe(401);
      for (let i = 0; i < 3; i++) {
        const bad = await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(`kp_${"x".repeat(43)}${i}`));
        expect(bad.status).toBe(401);
      }
      const blocked = await t.api.get(`/v1/organizations/${orgId}/credentials`).set(bearer(tokens.member));
      expect(blocked.status).toBe(429);
      expect(blocked.body.code).toBe("rate_limited");
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      // Unauthenticated endpoints stay available.
      expect((await t.api.get("/healthz")).status).toBe(200);
      const audit = await t.runtime.db.query<{ n: number }>("select count(*)::int as n from audit_events where action = 'auth.unauthenticated'");
      expect(Number(audit.rows[0].n)).toBe(8);
    });
  });
}
