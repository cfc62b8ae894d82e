// The provider catalog: what each AI provider's keys look like, where its API lives and how its
// credentials are injected. Validation, hints, defaults and verify all read from here.

import type { CredentialType } from "../contract-types.js";

export type { CredentialType };

/** Every credential type of the contract, in its order; `satisfies` below fails the build when the two drift apart. */
export const CREDENTIAL_TYPES = [
  "api_token",
  "api_key_pair",
  "username_password",
  "oauth2",
  "aws",
  "service_account_json",
  "ssh_key",
  "smtp",
  "custom",
] as const satisfies readonly CredentialType[];

export interface SecretField {
  name: string;
  required: boolean;
  /** Variable the field is injected as; null when it is not injected on its own. */
  env_var: string | null;
}

/** How verify lists models: the request shape differs per provider family. */
export type VerifyStyle = "openai" | "anthropic" | "gemini" | "azure_openai" | "none";

export interface ProviderEntry {
  id: string;
  display_name: string;
  /** Public prefix shown in hints and required of keys, e.g. `sk-ant-`. */
  key_prefix: string | null;
  key_pattern: string | null;
  credential_type: CredentialType;
  default_env_var: string;
  default_api_base: string | null;
  settings_allowed: string[];
  secret_fields: SecretField[];
  verify: VerifyStyle;
}

// Longer public prefixes of a provider's own key formats, beyond its key_prefix, that a hint may
// show; the longest match wins, so an OpenAI project key reads `sk-proj-…`. Bedrock's hint comes
// from the access key id, whose format starts with AKIA (long-term) or ASIA (temporary).
const FORMAT_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  openai: ["sk-proj-", "sk-svcacct-", "sk-admin-"],
  anthropic: ["sk-ant-api03-", "sk-ant-admin01-"],
  openrouter: ["sk-or-v1-"],
  bedrock: ["AKIA", "ASIA"],
};

function apiToken(
  id: string,
  display_name: string,
  key_prefix: string | null,
  default_env_var: string,
  default_api_base: string | null,
  verify: VerifyStyle,
  settings_allowed: string[] = [],
): ProviderEntry {
  return {
    id,
    display_name,
    key_prefix,
    key_pattern: key_prefix ? `^${escapeRegExp(key_prefix)}[A-Za-z0-9_\\-]+$` : null,
    credential_type: "api_token",
    default_env_var,
    default_api_base,
    settings_allowed,
    secret_fields: [{ name: "api_key", required: true, env_var: default_env_var }],
    verify,
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export const PROVIDERS: readonly ProviderEntry[] = [
  apiToken("openai", "OpenAI", "sk-", "OPENAI_API_KEY", "https://api.openai.com/v1", "openai", ["openai_organization", "openai_project"]),
  apiToken("anthropic", "Anthropic", "sk-ant-", "ANTHROPIC_API_KEY", "https://api.anthropic.com", "anthropic", ["api_version"]),
  apiToken("gemini", "Google Gemini", "AIza", "GEMINI_API_KEY", "https://generativelanguage.googleapis.com", "gemini"),
  apiToken("fireworks", "Fireworks AI", "fw_", "FIREWORKS_API_KEY", "https://api.fireworks.ai/inference/v1", "openai"),
  apiToken("deepseek", "DeepSeek", "sk-", "DEEPSEEK_API_KEY", "https://api.deepseek.com", "openai"),
  apiToken("openrouter", "OpenRouter", "sk-or-", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1", "openai"),
  apiToken("mistral", "Mistral AI", null, "MISTRAL_API_KEY", "https://api.mistral.ai/v1", "openai"),
  apiToken("xai", "xAI", "xai-", "XAI_API_KEY", "https://api.x.ai/v1", "openai"),
  apiToken("perplexity", "Perplexity", "pplx-", "PERPLEXITY_API_KEY", "https://api.perplexity.ai", "openai"),
  apiToken("groq", "Groq", "gsk_", "GROQ_API_KEY", "https://api.groq.com/openai/v1", "openai"),
  {
    ...apiToken("azure_openai", "Azure OpenAI", null, "AZURE_OPENAI_API_KEY", null, "azure_openai", ["endpoint", "api_version", "deployment"]),
  },
  {
    id: "bedrock",
    display_name: "Amazon Bedrock",
    key_prefix: null,
    key_pattern: null,
    credential_type: "aws",
    default_env_var: "AWS_ACCESS_KEY_ID",
    default_api_base: null,
    settings_allowed: ["region"],
    secret_fields: [
      { name: "access_key_id", required: true, env_var: "AWS_ACCESS_KEY_ID" },
      { name: "secret_access_key", required: true, env_var: "AWS_SECRET_ACCESS_KEY" },
      { name: "session_token", required: false, env_var: "AWS_SESSION_TOKEN" },
    ],
    verify: "none",
  },
  serviceAccount("vertex", "Google Vertex AI", ["project", "location"]),
  serviceAccount("gcp", "Google Cloud", ["project"]),
  apiToken("portkey", "Portkey", null, "PORTKEY_API_KEY", "https://api.portkey.ai/v1", "openai", ["virtual_key"]),
  apiToken("litellm", "LiteLLM proxy", null, "LITELLM_API_KEY", null, "openai"),
  {
    id: "custom",
    display_name: "Custom",
    key_prefix: null,
    key_pattern: null,
    credential_type: "api_token",
    default_env_var: "CUSTOM_API_KEY",
    default_api_base: null,
    settings_allowed: [],
    secret_fields: [{ name: "api_key", required: true, env_var: "CUSTOM_API_KEY" }],
    verify: "openai",
  },
];

function serviceAccount(id: string, display_name: string, settings_allowed: string[]): ProviderEntry {
  return {
    id,
    display_name,
    key_prefix: null,
    key_pattern: null,
    credential_type: "service_account_json",
    default_env_var: "GOOGLE_APPLICATION_CREDENTIALS_JSON",
    default_api_base: null,
    settings_allowed,
    secret_fields: [{ name: "service_account_json", required: true, env_var: "GOOGLE_APPLICATION_CREDENTIALS_JSON" }],
    verify: "none",
  };
}

const BY_ID = new Map(PROVIDERS.map((entry) => [entry.id, entry]));

export function findProvider(id: string): ProviderEntry | undefined {
  return BY_ID.get(id);
}

/** The public, non-internal view served at GET /v1/providers. */
export function publicCatalogEntry(entry: ProviderEntry) {
  const { verify: _verify, ...rest } = entry;
  return rest;
}

const HINT_ELLIPSIS = "…";
const MIN_LENGTH_FOR_SUFFIX = 20;

/**
 * The hint of a secret stored for a provider: a public prefix of that provider's own key format
 * + `…` + the last 4 characters, the last 4 only when the secret is at least 20 characters long.
 * Another provider's prefix is never used, even when the secret happens to start with it: a
 * `custom` secret `sk-ant-admin01-…` would otherwise show 15 of its characters. So a `custom`
 * secret (or any provider without a published format) shows `…` + last 4 at most.
 */
export function keyHint(secret: string, providerId: string): string {
  let prefix = "";
  for (const candidate of hintPrefixesOf(providerId)) {
    if (candidate.length > prefix.length && secret.startsWith(candidate)) prefix = candidate;
  }
  const suffix = secret.length >= MIN_LENGTH_FOR_SUFFIX ? secret.slice(-4) : "";
  return `${prefix}${HINT_ELLIPSIS}${suffix}`;
}

function hintPrefixesOf(providerId: string): readonly string[] {
  const keyPrefix = findProvider(providerId)?.key_prefix;
  return [...(keyPrefix ? [keyPrefix] : []), ...(FORMAT_PREFIXES[providerId] ?? [])];
}
