// ephemeral "keyplane_resolved_credential": resolves the secret an application would get (project →
// organization → platform) and hands it to OpenTofu/Terraform as an ephemeral value, e.g. for another
// provider's write-only argument. Ephemeral results are never written to plan or state, and this
// code never logs them. Resolving needs a resolver token, usually given to an aliased provider.
import type { ResolveRequest } from "../client/keyplane-client.js";
import { diag, t, type AttributeSchema, type Diagnostic, type EphemeralResource, type ObjectValue } from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, organizationOf, stringOf } from "./api-diagnostics.js";

const VERSIONS = ["current", "previous"] as const;

const attributes: Record<string, AttributeSchema> = {
  organization_id: {
    type: t.string,
    optional: true,
    computed: true,
    description: "Organization to resolve in. Defaults to the provider's `organization_id`.",
    descriptionKind: "markdown",
  },
  provider_type: { type: t.string, required: true, description: "Catalog provider to resolve, e.g. `openai`.", descriptionKind: "markdown" },
  project_id: {
    type: t.string,
    optional: true,
    description: "Resolve for this project: its own credentials first, then the organization's if the project inherits.",
  },
  environment: { type: t.string, optional: true, description: "Only consider credentials with this environment label." },
  version: {
    type: t.string,
    optional: true,
    description: "`current` (default) or `previous`: the key before the last rotation, while it is within its rotation grace period.",
    descriptionKind: "markdown",
  },
  secret: {
    type: t.string,
    computed: true,
    sensitive: true,
    description: "The API key, for `api_token` credentials (else null).",
    descriptionKind: "markdown",
  },
  fields: {
    type: t.map(t.string),
    computed: true,
    sensitive: true,
    description: "The secret fields, for the other credential types (else null).",
  },
  source: {
    type: t.string,
    computed: true,
    description: "Which step produced the secret: `project`, `organization` or `platform`.",
    descriptionKind: "markdown",
  },
  credential_id: { type: t.string, computed: true, description: "The resolved credential (null for a platform key)." },
  key_hint: { type: t.string, computed: true, description: "Hint of the resolved key, e.g. `sk-proj-…a1b2`.", descriptionKind: "markdown" },
  key_version: { type: t.number, computed: true, description: "Key version of the resolved credential (null for a platform key)." },
  env_var: { type: t.string, computed: true, description: "Environment variable the key is meant for, e.g. `OPENAI_API_KEY`.", descriptionKind: "markdown" },
  api_base: { type: t.string, computed: true, description: "API base to use with the key (null when the provider has none)." },
  settings: { type: t.map(t.string), computed: true, description: "Non-secret provider settings of the credential." },
};

const renames = { provider: "provider_type", org: "organization_id" };

export const resolvedCredentialEphemeral: EphemeralResource<KeyplaneProviderData> = {
  schema: {
    block: {
      description:
        "Resolves a credential's secret at plan/apply time as an ephemeral value (never stored in plan or state). " +
        "Needs a resolver token, typically on an aliased keyplane provider.",
      attributes,
    },
  },

  validate({ config }) {
    const out: Diagnostic[] = [];
    if (typeof config.version === "string" && !(VERSIONS as readonly string[]).includes(config.version)) {
      out.push(diag.error("Invalid version", `version must be "current" or "previous", got "${config.version}".`, ["version"]));
    }
    if (config.provider_type === "")
      out.push(diag.error("Invalid provider_type", 'provider_type must name a catalog provider, e.g. "openai".', ["provider_type"]));
    return out;
  },

  async open({ config, provider, signal }) {
    const org = organizationOf(config.organization_id, provider);
    if (!org) return { result: config, diagnostics: [missingOrganization("ephemeral.keyplane_resolved_credential")] };
    const providerType = String(config.provider_type);
    const request: ResolveRequest = { provider: providerType };
    const projectId = stringOf(config.project_id);
    const environment = stringOf(config.environment);
    const version = stringOf(config.version);
    if (projectId) request.project_id = projectId;
    if (environment) request.environment = environment;
    if (version) request.version = version as ResolveRequest["version"];

    const scope = [
      `provider ${providerType}`,
      `organization ${org}`,
      ...(projectId ? [`project ${projectId}`] : []),
      ...(environment ? [`environment ${environment}`] : []),
    ].join(", ");
    let resolved;
    try {
      resolved = await provider.client.resolve(org, request, signal);
    } catch (err) {
      return {
        result: config,
        diagnostics: apiErrorDiagnostics(err, {
          action: `resolve a credential (${scope})`,
          attributes,
          renames,
          forbiddenHint:
            "Resolving needs a resolver token: give one to an aliased keyplane provider " +
            '(provider "keyplane" { alias = "resolver", token = var.keyplane_resolver_token }) and set provider = keyplane.resolver in this ephemeral block.',
          notFoundHint: "Check organization_id and project_id, and that the token belongs to that organization.",
          byCode: {
            // The service's detail lists each resolution step it tried (project, organization, platform).
            no_credential: (e) => [
              diag.error(
                "No credential to resolve",
                `Nothing to resolve for ${scope}. The service answered: ${e.message} ` +
                  "Create or activate a keyplane_credential for this provider (an organization-level one is used only when no project is given or the project inherits organization credentials).",
                ["provider_type"],
              ),
            ],
            no_previous_version: (e) => [
              diag.error(
                "No previous key to resolve",
                `version = "previous" found nothing for ${scope}: ${e.message} The previous key stays resolvable only for the grace period given when the credential was rotated.`,
                ["version"],
              ),
            ],
          },
        }),
      };
    }
    const result: ObjectValue = {
      organization_id: org,
      provider_type: config.provider_type,
      project_id: config.project_id,
      environment: config.environment,
      version: config.version,
      secret: resolved.secret ?? null,
      fields: resolved.fields ? { ...resolved.fields } : null,
      source: resolved.source,
      credential_id: resolved.credential_id,
      key_hint: resolved.key_hint,
      key_version: resolved.key_version,
      env_var: resolved.env_var,
      api_base: resolved.api_base,
      settings: { ...resolved.settings },
    };
    return { result };
  },
};
