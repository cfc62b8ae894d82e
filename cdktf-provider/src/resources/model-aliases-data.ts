// data "keyplane_model_aliases": model alias metadata of an organization, filtered like the list API.
// Aliases hold no secrets; params read back as strings exactly as keyplane_model_alias stores them.
import type { ModelAlias, ModelAliasListQuery } from "../client/keyplane-client.js";
import { t, type AttributeSchema } from "../protocol/index.js";
import { ORGANIZATION_TO_LIST, organizationListDataSource } from "./list-data-source.js";
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
  organization_id: ORGANIZATION_TO_LIST,
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

export const modelAliasesDataSource = organizationListDataSource<ModelAlias, ModelAliasListQuery>({
  description: "Lists the model aliases of an organization, filtered by project, provider or name.",
  attributes,
  into: "aliases",
  toElement: aliasAttributes,
  address: "data.keyplane_model_aliases",
  plural: "model aliases",
  filters: { project_id: "project_id", provider_type: "provider", name: "name" },
  list: (client, org, query, signal) => client.listModelAliases(org, query, signal),
});
