// The data sources that list what the API lists (data "keyplane_credentials", "keyplane_model_aliases",
// "keyplane_providers"): each listed object becomes an element of one computed list attribute, and
// a failed call keeps the configuration with the call's error as diagnostics.
import type { KeyplaneClient } from "../client/keyplane-client.js";
import { t, type AttributeSchema, type DataSource, type ObjectValue } from "../protocol/index.js";
import type { KeyplaneProviderData } from "../provider-data.js";
import { apiErrorDiagnostics, missingOrganization, organizationOf, stringOf, type ErrorContext } from "./api-diagnostics.js";

interface Listing<T> {
  description: string;
  attributes: Record<string, AttributeSchema>;
  /** The computed list attribute that receives the elements. */
  into: string;
  toElement(item: T): ObjectValue;
}

async function listInto<T>(listing: Listing<T>, config: ObjectValue, state: ObjectValue, list: () => Promise<T[]>, ctx: ErrorContext) {
  try {
    const items = await list();
    return { state: { ...state, [listing.into]: items.map((item) => listing.toElement(item)) } };
  } catch (err) {
    return { state: config, diagnostics: apiErrorDiagnostics(err, ctx) };
  }
}

/** A list the service has once, for everyone (the provider catalog). */
export function serviceListDataSource<T>(
  listing: Listing<T> & { action: string; list(client: KeyplaneClient, signal: AbortSignal): Promise<T[]> },
): DataSource<KeyplaneProviderData> {
  return {
    schema: { block: { description: listing.description, attributes: listing.attributes } },
    read: ({ config, provider, signal }) =>
      listInto(listing, config, config, () => listing.list(provider.client, signal), { action: listing.action, attributes: listing.attributes }),
  };
}

/** The organization_id attribute of an organizationListDataSource. */
export const ORGANIZATION_TO_LIST: AttributeSchema = {
  type: t.string,
  optional: true,
  computed: true,
  description: "Organization to list. Defaults to the provider's `organization_id`.",
  descriptionKind: "markdown",
};

/** A list of an organization's objects, filtered by the list API's query parameters. */
export function organizationListDataSource<T, Query extends object>(
  listing: Listing<T> & {
    /** e.g. "data.keyplane_credentials". */
    address: string;
    /** e.g. "model aliases", completing "list the … of organization". */
    plural: string;
    /** Filter attributes, each with the query parameter its value goes to when set (a non-empty string, or a boolean). */
    filters: Record<string, keyof Query & string>;
    list(client: KeyplaneClient, org: string, query: Query, signal: AbortSignal): Promise<T[]>;
  },
): DataSource<KeyplaneProviderData> {
  return {
    schema: { block: { description: listing.description, attributes: listing.attributes } },

    read({ config, provider, signal }) {
      const org = organizationOf(config.organization_id, provider);
      if (!org) return { state: config, diagnostics: [missingOrganization(listing.address)] };
      const query: Record<string, string | boolean> = {};
      for (const [attribute, parameter] of Object.entries(listing.filters)) {
        const value = config[attribute];
        const known = typeof value === "boolean" ? value : stringOf(value);
        if (known !== undefined) query[parameter] = known;
      }
      return listInto(listing, config, { ...config, organization_id: org }, () => listing.list(provider.client, org, query as Query, signal), {
        action: `list the ${listing.plural} of organization ${org}`,
        attributes: listing.attributes,
        renames: { provider: "provider_type", org: "organization_id" },
        forbiddenHint: `Listing ${listing.plural} needs an admin or member token of the organization.`,
        notFoundHint: "Check organization_id (or the provider's organization_id) and that the token belongs to that organization.",
      });
    },
  };
}
