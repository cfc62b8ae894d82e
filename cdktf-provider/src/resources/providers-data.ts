// data "keyplane_providers": the service's provider catalog (what provider_type accepts, each
// provider's key prefix, default env var and API base, and the settings it allows).
import type { ProviderCatalogEntry } from "../client/keyplane-client.js";
import { t, type AttributeSchema, type ObjectValue } from "../protocol/index.js";
import { serviceListDataSource } from "./list-data-source.js";

const entryType = t.object({
  id: t.string,
  display_name: t.string,
  key_prefix: t.string,
  credential_type: t.string,
  default_env_var: t.string,
  default_api_base: t.string,
  settings_allowed: t.list(t.string),
});

const attributes: Record<string, AttributeSchema> = {
  providers: {
    type: t.list(entryType),
    computed: true,
    description:
      "Catalog entries in catalog order: `id` (the value for `provider_type`), `display_name`, `key_prefix` (null when keys have no fixed prefix), " +
      "`credential_type`, `default_env_var`, `default_api_base` (null when the provider has none), `settings_allowed`.",
    descriptionKind: "markdown",
  },
};

function toElement(p: ProviderCatalogEntry): ObjectValue {
  return {
    id: p.id,
    display_name: p.display_name,
    key_prefix: p.key_prefix,
    credential_type: p.credential_type,
    default_env_var: p.default_env_var,
    default_api_base: p.default_api_base,
    settings_allowed: [...p.settings_allowed],
  };
}

export const providersDataSource = serviceListDataSource<ProviderCatalogEntry>({
  description: "The provider catalog of the Keyplane service.",
  attributes,
  into: "providers",
  toElement,
  action: "read the Keyplane provider catalog",
  list: (client, signal) => client.listProviders(signal),
});
