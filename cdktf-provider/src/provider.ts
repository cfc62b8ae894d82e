// The Keyplane provider: its configuration and the registry of resource types. Resource, data
// source and ephemeral resource implementations (src/resources/) are registered here.
import { ApiError } from "./client/keyplane-client.js";
import { presentedCertificate, trustConfiguredAuthorities } from "./client/trusted-certificates.js";
import { diag, isUnknown, t, type Diagnostic, type ObjectValue, type ProviderImplementation } from "./protocol/index.js";
import { apiClient, connect, type KeyplaneProviderData, type ProviderSettings } from "./provider-data.js";
import { credentialResource } from "./resources/credential.js";
import { credentialsDataSource } from "./resources/credentials-data.js";
import { identityBindingResource } from "./resources/identity-binding.js";
import { modelAliasResource } from "./resources/model-alias.js";
import { modelAliasesDataSource } from "./resources/model-aliases-data.js";
import { projectResource } from "./resources/project.js";
import { providersDataSource } from "./resources/providers-data.js";
import { resolvedCredentialEphemeral } from "./resources/resolved-credential.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";

const settings = [
  ["endpoint", "KEYPLANE_ENDPOINT"],
  ["token", "KEYPLANE_TOKEN"],
  ["organization_id", "KEYPLANE_ORGANIZATION_ID"],
  ["ca_file", "KEYPLANE_CA_FILE"],
] as const;

/** Each setting from the provider block, else from its environment variable. */
export function resolveProviderSettings(config: ObjectValue, env: NodeJS.ProcessEnv = process.env): { settings?: ProviderSettings; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const values: Record<string, string | undefined> = {};
  for (const [name, envVar] of settings) {
    const value = config[name];
    if (isUnknown(value)) {
      diagnostics.push(
        diag.error(
          `Provider ${name} is not known yet`,
          `The keyplane provider needs "${name}" while planning, but it depends on something that is only known after apply. Set it to a known value or through ${envVar}.`,
          [name],
        ),
      );
    } else if (typeof value === "string" && value !== "") {
      values[name] = value;
    } else if (env[envVar]) {
      values[name] = env[envVar];
    }
  }
  const endpoint = values.endpoint ?? DEFAULT_ENDPOINT;
  try {
    const url = new URL(endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http(s)");
  } catch {
    diagnostics.push(diag.error("Invalid endpoint", `"${endpoint}" is not an http:// or https:// URL of a Keyplane service.`, ["endpoint"]));
  }
  if (!values.token && !isUnknown(config.token)) {
    diagnostics.push(
      diag.error(
        "Missing Keyplane token",
        "The keyplane provider needs an API token and none is set. Set token in the provider block (from a sensitive variable, never a literal) or the KEYPLANE_TOKEN environment variable.",
        ["token"],
      ),
    );
  }
  if (diagnostics.length > 0) return { diagnostics };
  return {
    settings: { endpoint: endpoint.replace(/\/+$/, ""), token: values.token, organizationId: values.organization_id, caFile: values.ca_file },
    diagnostics,
  };
}

export const provider: ProviderImplementation<KeyplaneProviderData> = {
  schema: {
    block: {
      description: "Manages organization-owned AI provider credentials in a Keyplane service.",
      attributes: {
        endpoint: {
          type: t.string,
          optional: true,
          description: `Base URL of the Keyplane service (env KEYPLANE_ENDPOINT; default ${DEFAULT_ENDPOINT}).`,
        },
        token: {
          type: t.string,
          optional: true,
          sensitive: true,
          description: "API token (env KEYPLANE_TOKEN).",
        },
        organization_id: {
          type: t.string,
          optional: true,
          description: "Default organization for resources that do not set one (env KEYPLANE_ORGANIZATION_ID).",
        },
        ca_file: {
          type: t.string,
          optional: true,
          description:
            "PEM file of certificate authorities to trust for an https endpoint, besides those of SSL_CERT_FILE (which, as for Go programs, replaces the built-in ones) and NODE_EXTRA_CA_CERTS (env KEYPLANE_CA_FILE).",
        },
      },
    },
  },
  resources: {
    keyplane_credential: credentialResource,
    keyplane_project: projectResource,
    keyplane_model_alias: modelAliasResource,
    keyplane_identity_binding: identityBindingResource,
  },
  dataSources: {
    keyplane_credentials: credentialsDataSource,
    keyplane_providers: providersDataSource,
    keyplane_model_aliases: modelAliasesDataSource,
  },
  ephemeralResources: {
    keyplane_resolved_credential: resolvedCredentialEphemeral,
  },
  async configure({ config }) {
    const { settings, diagnostics } = resolveProviderSettings(config);
    if (!settings) return { diagnostics };
    const untrusted = settings.endpoint.startsWith("https:") ? trustConfiguredAuthorities(settings.caFile) : [];
    if (untrusted.length > 0) return { diagnostics: untrusted };
    const problems = await checkService(settings);
    return problems.length > 0 ? { diagnostics: problems } : { data: connect(settings), diagnostics };
  },
};

/**
 * One authenticated call (GET /v1/whoami, which every role may make) so that a wrong endpoint, a
 * rejected token or a token of another organization is reported once, at the provider block,
 * rather than by every resource — and before a plan reads an organization the token cannot use as
 * a move of every credential to it (a replacement).
 */
async function checkService(settings: ProviderSettings): Promise<Diagnostic[]> {
  // Fewer, shorter attempts than resources make: a wrong endpoint should fail the block quickly.
  const client = apiClient(settings, { maxAttempts: 2, timeoutMs: 10_000 });
  try {
    const token = await client.whoami();
    // Platform-admin tokens (no organization) act for every organization.
    if (settings.organizationId !== undefined && token.organization_id !== null && token.organization_id !== settings.organizationId) {
      return [
        diag.error(
          "Token of another organization",
          `The token (${token.role} token "${token.name}") belongs to organization ${token.organization_id}, but organization_id is ` +
            `${settings.organizationId}. It cannot read or change anything there, so nothing was planned. Set organization_id ` +
            "(or KEYPLANE_ORGANIZATION_ID) to the token's organization, or use a token of that organization.",
          ["organization_id"],
        ),
      ];
    }
    return [];
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const fix = "Set endpoint in the keyplane provider block (or KEYPLANE_ENDPOINT) to the URL of a running Keyplane service.";
    if (error.unreachable && /CERT|SIGNATURE|ISSUER/.test(error.reason ?? "")) {
      const presented = await presentedCertificate(settings.endpoint);
      const named = presented ? ` It presented the certificate of ${presented.subject}, issued by ${presented.issuer}.` : "";
      return [
        diag.error(
          "Keyplane service certificate not trusted",
          `${error.message}${named} Trust the authority that issued its certificate: SSL_CERT_FILE (as for the engine), NODE_EXTRA_CA_CERTS, or ca_file in the provider block.`,
          ["endpoint"],
        ),
      ];
    }
    if (error.unreachable) return [diag.error("Keyplane service unreachable", `${error.message} ${fix}`, ["endpoint"])];
    if (error.status === 401) {
      return [
        diag.error(
          "Keyplane token rejected",
          `The Keyplane service at ${settings.endpoint} did not accept the token: ${error.message.replace(/\.?$/, ".")} Set token (or KEYPLANE_TOKEN) to a valid, unexpired API token.`,
          ["token"],
        ),
      ];
    }
    // No Keyplane API at that address (a wrong path, or some other server answering).
    if (error.status === 404 || error.code.startsWith("http_")) {
      return [diag.error("Not a Keyplane service", `${settings.endpoint} answered HTTP ${error.status} to GET /v1/whoami. ${fix}`, ["endpoint"])];
    }
    return [diag.error("Keyplane service not ready", `${settings.endpoint} answered HTTP ${error.status}: ${error.message}`, ["endpoint"])];
  }
}
