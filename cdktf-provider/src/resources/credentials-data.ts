// data "keyplane_credentials": credential metadata with key hints, filtered like the list API.
// The list API never returns secrets, and this data source has no attribute that could hold one.
import type { Credential, CredentialListQuery } from "../client/keyplane-client.js";
import { t, type AttributeSchema, type ObjectValue } from "../protocol/index.js";
import { ORGANIZATION_TO_LIST, organizationListDataSource } from "./list-data-source.js";

const credentialType = t.object({
  id: t.string,
  name: t.string,
  provider_type: t.string,
  project_id: t.string,
  type: t.string,
  category: t.string,
  key_hint: t.string,
  key_version: t.number,
  env_var: t.string,
  api_base: t.string,
  environment: t.string,
  is_default: t.bool,
  active: t.bool,
  rotation_due_at: t.string,
  created_at: t.string,
  updated_at: t.string,
  rotated_at: t.string,
});

const attributes: Record<string, AttributeSchema> = {
  organization_id: ORGANIZATION_TO_LIST,
  provider_type: { type: t.string, optional: true, description: "Only credentials of this catalog provider (e.g. `openai`).", descriptionKind: "markdown" },
  project_id: {
    type: t.string,
    optional: true,
    description: "Only credentials of this project, or `none` for organization-level credentials only.",
    descriptionKind: "markdown",
  },
  environment: { type: t.string, optional: true, description: "Only credentials with this environment label." },
  active: { type: t.bool, optional: true, description: "Only active (`true`) or inactive (`false`) credentials.", descriptionKind: "markdown" },
  rotation_due: {
    type: t.bool,
    optional: true,
    description: "`true`: only credentials whose rotation is due; `false`: only those not due.",
    descriptionKind: "markdown",
  },
  credentials: {
    type: t.list(credentialType),
    computed: true,
    description:
      "Matching credentials, newest first: metadata and key hints only (`id`, `name`, `provider_type`, `project_id`, `type`, `category`, " +
      "`key_hint`, `key_version`, `env_var`, `api_base`, `environment`, `is_default`, `active`, `rotation_due_at`, `created_at`, " +
      "`updated_at`, `rotated_at`). Never secrets.",
    descriptionKind: "markdown",
  },
};

function toElement(c: Credential): ObjectValue {
  return {
    id: c.id,
    name: c.name,
    provider_type: c.provider,
    project_id: c.project_id,
    type: c.type,
    category: c.category,
    key_hint: c.key_hint,
    key_version: c.key_version,
    env_var: c.env_var,
    api_base: c.api_base,
    environment: c.environment,
    is_default: c.is_default,
    active: c.active,
    rotation_due_at: c.rotation_due_at,
    created_at: c.created_at,
    updated_at: c.updated_at,
    rotated_at: c.rotated_at,
  };
}

export const credentialsDataSource = organizationListDataSource<Credential, CredentialListQuery>({
  description: "Lists credential metadata and key hints of an organization, filtered. Never returns secret values.",
  attributes,
  into: "credentials",
  toElement,
  address: "data.keyplane_credentials",
  plural: "credentials",
  filters: { provider_type: "provider", project_id: "project_id", environment: "environment", active: "active", rotation_due: "rotation_due" },
  list: (client, org, query, signal) => client.listCredentials(org, query, signal),
});
