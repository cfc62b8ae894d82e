// keyplane_model_alias: a name AI features resolve instead of a bare provider — which provider and
// model to call, with which non-secret parameters, optionally pinned to one credential, with
// fallback aliases. Nothing here is secret, so switching an alias to another provider is an
// ordinary reviewed plan (`provider_type`, `model`, `credential_id` old -> new).
// Planned, written (If-Match guarded), read and imported by guarded-resource.ts.
import { PROVIDERS, findProvider } from "../../../service/providers/catalog.js";
import type { ModelAlias } from "../client/keyplane-client.js";
import { diag, isUnknown, key, t, type AttributeSchema, type CtyValue, type Diagnostic, type ObjectValue } from "../protocol/index.js";
import { guardedResource, presentOrUndefined } from "./guarded-resource.js";

const attributes: Record<string, AttributeSchema> = {
  id: { type: t.string, computed: true, useStateForUnknown: true, description: "Model alias ID (`mal_…`)." },
  organization_id: {
    type: t.string,
    optional: true,
    computed: true,
    requiresReplace: true,
    description: "Organization that owns the alias. Default: the provider's `organization_id`. Changing it replaces the alias.",
    descriptionKind: "markdown",
  },
  project_id: {
    type: t.string,
    optional: true,
    requiresReplace: true,
    description: "Project the alias belongs to; unset for an organization-level alias (seen by projects that inherit). Changing it replaces the alias.",
  },
  name: {
    type: t.string,
    required: true,
    description: "Name AI features resolve (`^[a-z0-9][a-z0-9._-]{0,62}$`), unique per organization and project.",
    descriptionKind: "markdown",
  },
  provider_type: {
    type: t.string,
    required: true,
    description: `Catalog id of the AI provider to call (${PROVIDERS.map((p) => `\`${p.id}\``).join(", ")}). Changes in place.`,
    descriptionKind: "markdown",
  },
  model: { type: t.string, required: true, description: "The model as the provider spells it, e.g. `gpt-5` (1–200 characters).", descriptionKind: "markdown" },
  credential_id: {
    type: t.string,
    optional: true,
    description: "Pin this credential (same organization and provider). Unset: the provider's credential is found by normal resolution.",
  },
  environment: {
    type: t.string,
    optional: true,
    description: "Narrows resolution when no credential is pinned; unset: the caller's environment, if any.",
  },
  params: {
    type: t.map(t.string),
    optional: true,
    computed: true,
    description:
      "Non-secret call parameters handed to the AI feature with the secret (at most 32). A value written the way JSON writes a " +
      "number (`0.2`, `2048`) or `true`/`false` is sent as a number or boolean; anything else as a string. Default `{}`.",
    descriptionKind: "markdown",
    default: {},
  },
  fallbacks: {
    type: t.list(t.string),
    optional: true,
    computed: true,
    description: "Alias names tried in order when this alias resolves no active credential (at most 5). Default `[]`.",
    descriptionKind: "markdown",
    default: [],
  },
  active: {
    type: t.bool,
    optional: true,
    computed: true,
    description: "An inactive alias resolves nothing and is skipped as a fallback. Default `true`.",
    descriptionKind: "markdown",
    default: true,
  },
  description: { type: t.string, optional: true, description: "What the alias is for (up to 1024 characters)." },
  owner: { type: t.string, optional: true, description: "Who is responsible for it (1–256 characters)." },
  created_at: { type: t.string, computed: true, useStateForUnknown: true, description: "Creation time (RFC 3339)." },
  updated_at: { type: t.string, computed: true, description: "Time of the last change (RFC 3339)." },
};

const ORG_ID = /^org_[0-9A-HJKMNP-TV-Z]{26}$/;
const PROJECT_ID = /^prj_[0-9A-HJKMNP-TV-Z]{26}$/;
const CREDENTIAL_ID = /^cred_[0-9A-HJKMNP-TV-Z]{26}$/;
const ALIAS_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/** Numbers as JSON writes them; only those that read back identically are sent as numbers. */
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

type ParamValue = string | number | boolean;

/** A configured parameter as the API takes it: canonical numbers and true/false keep their JSON type. */
export function paramToApi(value: string): ParamValue {
  if (value === "true" || value === "false") return value === "true";
  if (JSON_NUMBER.test(value) && String(Number(value)) === value) return Number(value);
  return value;
}

/** The inverse of paramToApi for every value it produces, so a read-back plans no change. */
function paramFromApi(value: ParamValue): string {
  return typeof value === "string" ? value : String(value);
}

/** An alias's attributes as the resource and the data source hold them (no organization_id). */
export function aliasAttributes(alias: ModelAlias): ObjectValue {
  return {
    id: alias.id,
    project_id: alias.project_id,
    name: alias.name,
    provider_type: alias.provider,
    model: alias.model,
    credential_id: alias.credential_id,
    environment: alias.environment,
    params: Object.fromEntries(Object.entries(alias.params).map(([k, v]) => [k, paramFromApi(v)])),
    fallbacks: alias.fallbacks,
    active: alias.active,
    description: alias.description,
    owner: alias.owner,
    created_at: alias.created_at,
    updated_at: alias.updated_at,
  };
}

const toState = (alias: ModelAlias): ObjectValue => ({ ...aliasAttributes(alias), organization_id: alias.organization_id });

const paramsOf = (value: CtyValue | undefined) =>
  Object.fromEntries(Object.entries((value ?? {}) as Record<string, string>).map(([k, v]) => [k, paramToApi(v)]));

const nameTaken = (what: string) => (e: { message: string }) => [
  diag.error("Model alias name already taken", `Could not ${what}: ${e.message} Names are unique per organization and project.`, ["name"]),
];

function checkConfig(config: ObjectValue): Diagnostic[] {
  const out: Diagnostic[] = [];
  const invalid = (name: string, detail: string) => out.push(diag.error(`Invalid ${name}`, detail, [name]));
  const text = (name: string) => (typeof config[name] === "string" ? config[name] : undefined);

  const org = text("organization_id");
  if (org !== undefined && !ORG_ID.test(org)) invalid("organization_id", `organization_id must be an organization ID such as org_01J…, got "${org}".`);
  const project = text("project_id");
  if (project !== undefined && !PROJECT_ID.test(project)) invalid("project_id", `project_id must be a project ID such as prj_01J…, got "${project}".`);
  const name = text("name");
  if (name !== undefined && !ALIAS_NAME.test(name)) {
    invalid("name", `name must be 1–63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit; got "${name}".`);
  }
  const providerType = text("provider_type");
  if (providerType !== undefined && !findProvider(providerType)) {
    invalid("provider_type", `"${providerType}" is not a provider of the Keyplane catalog. Use one of: ${PROVIDERS.map((p) => p.id).join(", ")}.`);
  }
  const model = text("model");
  if (model !== undefined && (model.length === 0 || model.length > 200)) invalid("model", "model must be 1–200 characters.");
  const credential = text("credential_id");
  if (credential !== undefined && !CREDENTIAL_ID.test(credential)) {
    invalid("credential_id", `credential_id must be a credential ID such as cred_01J…, got "${credential}".`);
  }
  const environment = text("environment");
  if (environment !== undefined && !ENVIRONMENT.test(environment)) {
    invalid("environment", 'environment must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit.');
  }
  const description = text("description");
  if (description !== undefined && description.length > 1024) invalid("description", "description must be at most 1024 characters.");
  const owner = text("owner");
  if (owner !== undefined && (owner.length === 0 || owner.length > 256)) invalid("owner", "owner must be 1–256 characters.");

  const params = config.params;
  if (params !== null && params !== undefined && !isUnknown(params)) {
    const entries = Object.entries(params as Record<string, CtyValue>);
    if (entries.length > 32) invalid("params", `params may hold at most 32 entries, got ${entries.length}.`);
    for (const [paramName, value] of entries) {
      if (!PARAM_NAME.test(paramName)) {
        out.push(diag.error("Invalid params", `Parameter name "${paramName}" must match ${PARAM_NAME.source}.`, ["params", key(paramName)]));
      } else if (typeof value === "string" && value.length > 1024) {
        out.push(diag.error("Invalid params", `Parameter "${paramName}" must be at most 1024 characters.`, ["params", key(paramName)]));
      }
    }
  }
  const fallbacks = config.fallbacks;
  if (Array.isArray(fallbacks)) {
    if (fallbacks.length > 5) invalid("fallbacks", `fallbacks may name at most 5 aliases, got ${fallbacks.length}.`);
    fallbacks.forEach((fallback, i) => {
      if (typeof fallback !== "string") return;
      if (!ALIAS_NAME.test(fallback)) out.push(diag.error("Invalid fallbacks", `"${fallback}" is not a model alias name.`, ["fallbacks", i]));
      else if (fallback === name) out.push(diag.error("Invalid fallbacks", "An alias cannot fall back to itself.", ["fallbacks", i]));
      else if (fallbacks.indexOf(fallback) !== i) out.push(diag.error("Invalid fallbacks", `"${fallback}" is named twice.`, ["fallbacks", i]));
    });
  }
  return out;
}

export const modelAliasResource = guardedResource<ModelAlias>({
  noun: "model alias",
  description:
    "A Keyplane model alias: a name AI features resolve instead of a bare provider, saying which provider and model to call " +
    "with which non-secret parameters. Switching it to another provider is an in-place update. Import with `ORG_ID/ALIAS_ID`.",
  attributes,
  updatable: ["name", "provider_type", "model", "credential_id", "environment", "params", "fallbacks", "active", "description", "owner"],
  importId: { resource: "keyplane_model_alias", idName: "ALIAS_ID", example: "org_01J…/mal_01J…", bareIdAllowed: true },
  renames: { org: "organization_id", provider: "provider_type" },
  forbiddenHint: "Managing model aliases needs an admin (or platform-admin) token of the organization.",
  createNotFoundHint: "Check organization_id (or the provider's organization_id), project_id and that the token belongs to that organization.",
  createNameTaken: (action) => nameTaken(`${action} (import the existing one with ORG_ID/ALIAS_ID)`),
  renameNameTaken: (label) => nameTaken(`rename ${label}`),
  deleteByCode: (label) => ({
    alias_in_use: (e) => [
      diag.error(
        "Model alias is a fallback of another alias",
        `Could not delete ${label}: ${e.message} Remove it from the fallbacks of the aliases that name it first ` +
          "(in configuration, refer to it as keyplane_model_alias.<name>.name so the change is ordered before the destroy), then apply again.",
      ),
    ],
  }),
  validate: checkConfig,
  toState,

  patch(changed, planned) {
    const patch: Record<string, unknown> = {};
    for (const name of changed) {
      patch[name === "provider_type" ? "provider" : name] = name === "params" ? paramsOf(planned.params) : (planned[name] ?? null);
    }
    // A provider change without credential_id would clear the pin; sending the planned pin keeps
    // the state what the configuration says (or names credential_id when the pin no longer fits).
    if ("provider" in patch) patch.credential_id = planned.credential_id ?? null;
    return patch;
  },

  get: (client, org, id, signal) => client.getModelAlias(org, id, signal),
  create: (client, org, planned, signal) =>
    client.createModelAlias(
      org,
      {
        name: String(planned.name),
        project_id: presentOrUndefined<string>(planned.project_id),
        provider: String(planned.provider_type),
        model: String(planned.model),
        credential_id: presentOrUndefined<string>(planned.credential_id),
        environment: presentOrUndefined<string>(planned.environment),
        params: paramsOf(planned.params),
        fallbacks: (planned.fallbacks ?? []) as string[],
        active: planned.active !== false,
        description: presentOrUndefined<string>(planned.description),
        owner: presentOrUndefined<string>(planned.owner),
      },
      signal,
    ),
  update: (client, org, id, patch, ifMatch, signal) => client.updateModelAlias(org, id, patch, ifMatch, signal),
  delete: (client, org, id, signal) => client.deleteModelAlias(org, id, { signal }),
});
