// keyplane_credential's ValidateResourceConfig: what the catalog and the contract (openapi.yaml)
// already know about a configuration, checked on the raw configuration before any plan, so a bad
// value fails `validate`/`plan` at its attribute rather than half-way through an apply.
//
// Nothing here looks at the secret's value: whether it is sent depends on the plan (a create, a
// rotation), so its shape is checked there (credential.ts). The engines also hand plans an
// ignore_changes-adjusted configuration whose write-only values are null; only this raw one is
// what the user wrote.
import { CREDENTIAL_TYPES, findProvider, PROVIDERS } from "../../../service/providers/catalog.js";
import { destinationUrlProblem } from "../../../service/credentials/credential-destination.js";
import { checkVariableNames } from "../../../service/credentials/credential-variable-names.js";
import { ValidationError } from "../../../service/errors.js";
import type { Credential } from "../client/keyplane-client.js";
import { diag, isUnknown, key, type CtyValue, type Diagnostic, type ObjectValue } from "../protocol/index.js";

/** The contract's CredentialCategory. */
const CREDENTIAL_CATEGORIES = [
  "llm_provider",
  "mcp_service",
  "runtime",
  "communication",
  "ssh_key",
  "custom",
] as const satisfies readonly Credential["category"][];

/** The service keeps a previous key for at most 7 days. */
const MAX_GRACE_SECONDS = 604_800;

// The contract's limits (openapi.yaml: DisplayName, EnvironmentLabel, EnvVarName, Settings, …).
const CONTROL_CHARACTER = /[\x00-\x1F\x7F]/;
const ENVIRONMENT_LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_VAR_NAME = /^[A-Z_][A-Z0-9_]*$/;
const SETTING_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_SETTINGS = 32;

const knownString = (value: CtyValue | undefined): string | undefined => (typeof value === "string" ? value : undefined);
const isSet = (value: CtyValue | undefined): boolean => value !== null && value !== undefined;

/** Static checks that need no service and no secret: the catalog, the type and the contract's field rules. */
export function checkCredentialConfig(config: ObjectValue): Diagnostic[] {
  const out: Diagnostic[] = [];
  const providerType = knownString(config.provider_type);
  const entry = providerType === undefined ? undefined : findProvider(providerType);
  if (providerType !== undefined && !entry) {
    out.push(
      diag.error(
        "Unknown provider type",
        `"${providerType}" is not a provider of the Keyplane catalog. Use one of: ${PROVIDERS.map((p) => p.id).join(", ")}.`,
        ["provider_type"],
      ),
    );
  }

  const typeValue = knownString(config.type);
  if (typeValue !== undefined && !(CREDENTIAL_TYPES as readonly string[]).includes(typeValue)) {
    out.push(diag.error("Invalid type", `"${typeValue}" is not a credential type. Use one of: ${CREDENTIAL_TYPES.join(", ")}.`, ["type"]));
  } else if (entry && typeValue !== undefined && entry.id !== "custom" && typeValue !== entry.credential_type) {
    out.push(
      diag.error(
        "Invalid type",
        `${entry.display_name} credentials are of type ${entry.credential_type}; remove type or set it to "${entry.credential_type}".`,
        ["type"],
      ),
    );
  }

  const category = knownString(config.category);
  if (category !== undefined && !(CREDENTIAL_CATEGORIES as readonly string[]).includes(category)) {
    out.push(diag.error("Invalid category", `"${category}" is not a credential category. Use one of: ${CREDENTIAL_CATEGORIES.join(", ")}.`, ["category"]));
  }

  text(out, config, "name", { min: 1, max: 128, what: "The name", controlFree: true });
  text(out, config, "owner", { min: 1, max: 256, what: "The owner" });
  text(out, config, "description", { min: 0, max: 1024, what: "The description" });
  const environment = knownString(config.environment);
  if (environment !== undefined && !ENVIRONMENT_LABEL.test(environment)) {
    out.push(
      diag.error(
        "Invalid environment",
        'environment must be 1–64 letters, digits, "_", "." or "-", starting with a letter or digit (e.g. production, staging).',
        ["environment"],
      ),
    );
  }

  const days = config.rotation_period_days;
  if (typeof days === "number" && !(Number.isInteger(days) && days >= 1 && days <= 3650)) {
    out.push(diag.error("Invalid rotation_period_days", "rotation_period_days must be a whole number of days from 1 to 3650.", ["rotation_period_days"]));
  }

  if (isSet(config.api_key_wo) && isSet(config.fields_wo)) {
    out.push(diag.error("Conflicting secrets", "Set either api_key_wo (api_token credentials) or fields_wo (all other types), not both.", ["fields_wo"]));
  }
  for (const [secret, version] of [
    ["api_key_wo", "api_key_wo_version"],
    ["fields_wo", "fields_wo_version"],
  ] as const) {
    if (isSet(config[secret]) && config[version] === null) {
      out.push(
        diag.error(
          `Missing ${version}`,
          `Set ${version} together with ${secret}. ${secret} is write-only and never stored, so changing ${version} is how a rotation is requested.`,
          [version],
        ),
      );
    }
  }

  const grace = config.rotation_grace_seconds;
  if (typeof grace === "number" && !(Number.isInteger(grace) && grace >= 0 && grace <= MAX_GRACE_SECONDS)) {
    out.push(
      diag.error("Invalid rotation_grace_seconds", `rotation_grace_seconds must be a whole number from 0 to ${MAX_GRACE_SECONDS} (7 days).`, [
        "rotation_grace_seconds",
      ]),
    );
  }

  const apiBase = knownString(config.api_base);
  const apiBaseProblem = apiBase === undefined ? null : apiBase.length > 2048 ? "must be at most 2048 characters" : destinationUrlProblem(apiBase);
  if (apiBaseProblem) out.push(diag.error("Invalid api_base", `api_base ${apiBaseProblem}.`, ["api_base"]));

  const envVar = knownString(config.env_var);
  if (envVar !== undefined) {
    const problem = envVarProblem(envVar, entry);
    if (problem) out.push(diag.error("Invalid env_var", `env_var ${problem}.`, ["env_var"]));
  }

  out.push(...settingsDiagnostics(config.settings, entry));
  return out;
}

function text(out: Diagnostic[], config: ObjectValue, name: string, rule: { min: number; max: number; what: string; controlFree?: boolean }): void {
  const value = knownString(config[name]);
  if (value === undefined) return;
  const length = [...value].length;
  if (length < rule.min) {
    out.push(diag.error(`Empty ${name}`, `${rule.what} must not be empty${name === "name" ? "" : `; remove ${name} to leave it unset`}.`, [name]));
  } else if (length > rule.max) {
    out.push(diag.error(`Invalid ${name}`, `${rule.what} must be at most ${rule.max} characters.`, [name]));
  } else if (rule.controlFree && CONTROL_CHARACTER.test(value)) {
    out.push(diag.error(`Invalid ${name}`, `${rule.what} must not contain control characters (such as a newline or tab).`, [name]));
  }
}

/** Why the service would refuse this env_var (openapi.yaml's pattern, then the families service/providers/env-var-names.ts refuses), or null. */
function envVarProblem(name: string, entry: ReturnType<typeof findProvider>): string | null {
  if (name.length === 0 || name.length > 128 || !ENV_VAR_NAME.test(name)) {
    return 'must be 1–128 upper-case letters, digits and "_", not starting with a digit (e.g. OPENAI_API_KEY)';
  }
  if (!entry) return null;
  try {
    checkVariableNames(entry, name, [], { envVar: "env_var", field: (f) => f });
    return null;
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return `is refused: ${error.errors[0]?.message ?? "it would take over the process it is injected into"}`;
  }
}

function settingsDiagnostics(settings: CtyValue | undefined, entry: ReturnType<typeof findProvider>): Diagnostic[] {
  if (!isSet(settings) || isUnknown(settings) || typeof settings !== "object") return [];
  const names = Object.keys(settings as Record<string, CtyValue>);
  const out: Diagnostic[] = [];
  if (names.length > MAX_SETTINGS) out.push(diag.error("Too many settings", `settings holds at most ${MAX_SETTINGS} entries.`, ["settings"]));
  // custom and litellm front arbitrary APIs: the service takes any setting name for them.
  const open = !entry || entry.id === "custom" || entry.id === "litellm";
  for (const name of names) {
    const value = (settings as Record<string, CtyValue>)[name];
    const path = ["settings", key(name)];
    if (!SETTING_NAME.test(name)) {
      out.push(
        diag.error(
          "Invalid settings name",
          `settings["${name.slice(0, 64)}"]: names are 1–64 lower-case letters, digits and "_", starting with a letter.`,
          path,
        ),
      );
    } else if (!open && !entry.settings_allowed.includes(name)) {
      const allowed = entry.settings_allowed.length ? `allowed: ${entry.settings_allowed.join(", ")}` : `${entry.display_name} takes no settings`;
      out.push(diag.error("Setting not allowed", `settings["${name}"] is not a setting of ${entry.display_name} (${allowed}).`, path));
    } else if (typeof value === "string" && value.length > 1024) {
      out.push(diag.error("Invalid settings value", `settings["${name}"] must be at most 1024 characters.`, path));
    }
  }
  const endpoint = (settings as Record<string, CtyValue>).endpoint;
  const endpointProblem = entry?.verify === "azure_openai" && typeof endpoint === "string" ? destinationUrlProblem(endpoint) : null;
  if (endpointProblem) out.push(diag.error("Invalid settings.endpoint", `settings.endpoint ${endpointProblem}.`, ["settings", key("endpoint")]));
  return out;
}
