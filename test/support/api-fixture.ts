/**
 * The prologue every API suite shares: a test runtime on one database kind with one seeded
 * organization (a token per role), started before the suite's tests and closed after them.
 *
 *   for (const kind of testDatabases()) describe(kind, () => {
 *     const t = useApiFixture(kind);
 *     it("...", async () => { await t.api.get(`/v1/organizations/${t.orgId}/projects`).set(t.admin); });
 *   });
 *
 * The returned object is filled in by the suite's first beforeAll: read it inside hooks and tests only.
 */
import { afterAll, beforeAll } from "vitest";
import type { TestDbKind } from "./db.js";
import { bearer, seedOrganization, startTestRuntime, type TestRuntime } from "./runtime.js";

type OrgRole = "admin" | "member" | "resolver";

export interface ApiFixture extends TestRuntime {
  orgId: string;
  /** The seeded organization's tokens, one per role. */
  tokens: Record<OrgRole, string>;
  /** Authorization headers of those tokens, and of the platform-admin token. */
  admin: Record<string, string>;
  member: Record<string, string>;
  resolver: Record<string, string>;
  platform: Record<string, string>;
}

/** Registers the suite's runtime and organization; `env` overrides the configuration. */
export function useApiFixture(kind: TestDbKind, env: Record<string, string> = {}): ApiFixture {
  const fixture = {} as ApiFixture;
  beforeAll(async () => {
    Object.assign(fixture, await startTestRuntime(kind, env));
    const { org, tokens } = await seedOrganization(fixture);
    Object.assign(fixture, {
      orgId: org.id,
      tokens,
      admin: bearer(tokens.admin),
      member: bearer(tokens.member),
      resolver: bearer(tokens.resolver),
      platform: bearer(fixture.platformToken),
    });
  }, 60_000);
  afterAll(() => fixture.close?.());
  return fixture;
}
