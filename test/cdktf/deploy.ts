// What the CDKTF e2e suites check after deploying the example (examples/cdktf) to a real service:
// the organization's two credentials with the right hints, the inheriting project resolving them,
// and, after destroy, nothing left. The keys are generated per run and handed to the engine only
// as TF_VAR_ values; the suites then scan everything for them.
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import type { SeededOrganization } from "../support/service.js";

export interface ExampleKeys {
  openai: string;
  anthropic: string;
}

/** Fresh keys in each provider's format (long enough for a 4-character hint suffix). */
export function exampleKeys(): ExampleKeys {
  const body = () => randomBytes(24).toString("base64url").replace(/[-_]/g, "x");
  return { openai: `sk-proj-${body()}`, anthropic: `sk-ant-api03-${body()}` };
}

/** TF_VAR_ names of the example's secret variables. */
export const exampleVars = (keys: ExampleKeys) => ({ openai_api_key: keys.openai, anthropic_api_key: keys.anthropic });

/** The provider's configuration for the engine, as environment variables (nothing in cdk.tf.json). */
export const providerEnv = (url: string, org: SeededOrganization) => ({
  KEYPLANE_ENDPOINT: url,
  KEYPLANE_TOKEN: org.tokens.admin,
  KEYPLANE_ORGANIZATION_ID: org.id,
});

export const expectedHints = (keys: ExampleKeys) => ({ openai: keyHint(keys.openai, "openai"), anthropic: keyHint(keys.anthropic, "anthropic") });

/** After apply: both credentials at organization level with their hints; the project inherits them. */
export async function expectDeployed(org: SeededOrganization, keys: ExampleKeys, outputs?: Record<string, unknown>): Promise<void> {
  const hints = expectedHints(keys);
  expect(hints.openai).toBe(`sk-proj-…${keys.openai.slice(-4)}`);
  expect(hints.anthropic).toBe(`sk-ant-api03-…${keys.anthropic.slice(-4)}`);
  const credentials = await org.admin.listCredentials(org.id);
  const byProvider = Object.fromEntries(credentials.map((c) => [c.provider, c]));
  expect(Object.keys(byProvider).sort()).toEqual(["anthropic", "openai"]);
  for (const provider of ["openai", "anthropic"] as const) {
    expect(byProvider[provider]).toMatchObject({
      name: "production",
      project_id: null,
      key_hint: hints[provider],
      key_version: 1,
      active: true,
      is_default: true,
      owner: "platform-team",
    });
  }
  expect(byProvider.openai.rotation_period_days).toBe(90);
  if (outputs) {
    expect(outputs.openai_key_hint).toBe(hints.openai);
    expect(outputs.anthropic_key_hint).toBe(hints.anthropic);
    expect(String(outputs.assistant_project_id)).toMatch(/^prj_/);
    // The project has no keys of its own and inherits: resolving for it yields the organization's.
    const resolved = await org.resolver.resolve(org.id, { provider: "anthropic", project_id: String(outputs.assistant_project_id) });
    expect(resolved).toMatchObject({ source: "organization", credential_id: byProvider.anthropic.id, key_hint: hints.anthropic });
  }
}

/** After destroy: nothing of the example is left in the organization. */
export async function expectDestroyed(org: SeededOrganization): Promise<void> {
  expect(await org.admin.listCredentials(org.id)).toEqual([]);
}
