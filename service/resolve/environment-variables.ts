// How resolved credentials become environment variables (GET …/environment, `keyplane run`).
import type { ProviderEntry } from "../providers/catalog.js";

/**
 * Non-secret settings exported next to the secret, under the names the providers' own SDKs read.
 * Documented in the README ("Inheritance and environment variables").
 */
export const SETTING_VARIABLES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  openai: { openai_organization: "OPENAI_ORG_ID", openai_project: "OPENAI_PROJECT_ID" },
  azure_openai: { endpoint: "AZURE_OPENAI_ENDPOINT", api_version: "OPENAI_API_VERSION" },
  bedrock: { region: "AWS_REGION" },
  vertex: { project: "GOOGLE_CLOUD_PROJECT", location: "GOOGLE_CLOUD_LOCATION" },
  gcp: { project: "GOOGLE_CLOUD_PROJECT" },
};

/** Variable name → where Keyplane takes its value from, e.g. "settings.endpoint of azure_openai". */
export const SETTING_VARIABLE_SOURCES: ReadonlyMap<string, string> = new Map(
  Object.entries(SETTING_VARIABLES).flatMap(([provider, map]) =>
    Object.entries(map).map(([setting, variable]) => [variable, `settings.${setting} of ${provider}`] as const),
  ),
);

/**
 * The variable one secret field is exported as. A single-key credential exports its `env_var`. A
 * multi-field credential exports its first catalog field (e.g. `access_key_id`) under its
 * `env_var`, the other catalog fields under the catalog's variables (`AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`), and fields the catalog does not name as `<ENV_VAR>_<FIELD>`.
 */
export function fieldVariableName(provider: ProviderEntry, envVar: string, field: string): string {
  if (field === provider.secret_fields[0]?.name) return envVar;
  return provider.secret_fields.find((f) => f.name === field)?.env_var ?? `${envVar}_${field.toUpperCase()}`;
}

/** The variables of one credential: its secret fields, then its settings that SDKs read. */
export function credentialVariables(
  provider: ProviderEntry,
  envVar: string,
  values: Readonly<Record<string, string>>,
  settings: Readonly<Record<string, string>>,
): [string, string][] {
  const out: [string, string][] = Object.entries(values).map(([field, value]) => [fieldVariableName(provider, envVar, field), value]);
  for (const [setting, variable] of Object.entries(SETTING_VARIABLES[provider.id] ?? {})) {
    const value = settings[setting];
    if (typeof value === "string" && value !== "") out.push([variable, value]);
  }
  return out;
}
