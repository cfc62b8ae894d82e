// data "keyplane_model_aliases": model alias metadata of an organization, filtered like the list API.
// Aliases hold no secrets; params read back as strings exactly as keyplane_model_alias stores them.
import type { ModelAliasListQuery } from "../client/keyplane-client.js";
import { t, type AttributeSchema, type DataSource } from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, organizationOf, stringOf } from "./api-diagnostics.js";
import { aliasAttributes } from "./model-alias.js";

const aliasType = t.object({
  id: t.string,
  project_id: t.string,
  name: t.string,
  provider_type: t.string,
  model: t.string,
  credential_id: t.string,
  environment: t.string,
  params: t.map(t.string),
  fallbacks: t.list(t.string),
  active: t.bool,
  description: t.string,
  owner: t.string,
  created_at: t.string,
  updated_at: t.string,
});

const attributes: Record<string, AttributeSchema> = {
  organization_id: {
    type: t.string,
    optional: true,
    computed: true,
    description: "Organization to list. Defaults to the provider's `organization_id`.",
    descriptionKind: "markdown",
  },
  project_id: {
    type: t.string,
    optional: true,
    description: "Only aliases of this project, or `none` for organization-level aliases only.",
    descriptionKind: "markdown",
  },
  provider_type: { type: t.string, optional: true, description: "Only aliases of this catalog provider (e.g. `openai`).", descriptionKind: "markdown" },
  name: { type: t.string, optional: true, description: "Only aliases with this name (at most one per project and one organization-level)." },
  aliases: {
    type: t.list(aliasType),
    computed: true,
    description:
      "Matching model aliases, newest first (`id`, `project_id`, `name`, `provider_type`, `model`, `credential_id`, `environment`, " +
      "`params`, `fallbacks`, `active`, `description`, `owner`, `created_at`, `updated_at`).",
    descriptionKind: "markdown",
  },
};

export const modelAliasesDataSource: DataSource<KeyplaneProviderData> = {
  schema: {
    block: {
      description: "Lists the model aliases of an organization, filtered by project, provider or name.",
      attributes,
    },
  },

  async read({ config, provider, signal }) {
    const org = organizationOf(config.organization_id, provider);
    if (!org) return { state: config, diagnostics: [missingOrganization("data.keyplane_model_aliases")] };
    const query: ModelAliasListQuery = {};
    const projectId = stringOf(config.project_id);
    const providerType = stringOf(config.provider_type);
    const name = stringOf(config.name);
    if (projectId) query.project_id = projectId;
    if (providerType) query.provider = providerType;
    if (name) query.name = name;
    try {
      const list = await provider.client.listModelAliases(org, query, signal);
      return { state: { ...config, organization_id: org, aliases: list.map(aliasAttributes) } };
    } catch (err) {
      return {
        state: config,
        diagnostics: apiErrorDiagnostics(err, {
          action: `list the model aliases of organization ${org}`,
          attributes,
          renames: { provider: "provider_type", org: "organization_id" },
          forbiddenHint: "Listing model aliases needs an admin or member token of the organization.",
          notFoundHint: "Check organization_id (or the provider's organization_id) and that the token belongs to that organization.",
        }),
      };
    }
  },
};
