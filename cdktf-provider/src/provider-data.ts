// What ConfigureProvider hands every resource call as `req.provider`: one API client per provider
// block, built once, and what resources share through it. Resources import this module, never
// provider.ts (which imports them).
import { KeyplaneClient, type ClientOptions } from "./client/keyplane-client.js";
import { CredentialReads } from "./resources/credential-reads.js";

/** The provider block's settings, each from the block or else its environment variable. */
export interface ProviderSettings {
  /** Base URL of the Keyplane service, without a trailing slash. */
  endpoint: string;
  token: string | undefined;
  /** Default organization for resources that do not name one. */
  organizationId: string | undefined;
  /** PEM bundle of authorities to trust besides SSL_CERT_FILE / NODE_EXTRA_CA_CERTS (or Node's own). */
  caFile?: string;
}

export interface KeyplaneProviderData {
  /** Base URL of the Keyplane service, without a trailing slash. */
  endpoint: string;
  client: KeyplaneClient;
  /** Default organization for resources that do not name one. */
  organizationId: string | undefined;
  /** keyplane_credential reads of this provider block, batched per organization. */
  credentialReads: CredentialReads;
}

/** The one place the plugin builds API clients; `tuning` overrides the client's retry and timeout defaults. */
export function apiClient(settings: ProviderSettings, tuning: Pick<ClientOptions, "maxAttempts" | "timeoutMs"> = {}): KeyplaneClient {
  return new KeyplaneClient({ endpoint: settings.endpoint, token: settings.token, ...tuning });
}

export function connect(settings: ProviderSettings): KeyplaneProviderData {
  const client = apiClient(settings);
  return { endpoint: settings.endpoint, client, organizationId: settings.organizationId, credentialReads: new CredentialReads(client) };
}
