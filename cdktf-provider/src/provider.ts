// The Keyplane provider: its configuration and the registry of resource types. Resource, data
// source and ephemeral resource implementations (src/resources/) are registered here.
import { diag, isUnknown, t, type Diagnostic, type ObjectValue, type ProviderImplementation } from "./protocol/index.js";

/** Handed to every resource call as `req.provider`. */
export interface KeyplaneProviderData {
  /** Base URL of the Keyplane service, without a trailing slash. */
  endpoint: string;
  token: string | undefined;
  /** Default organization for resources that do not name one. */
  organizationId: string | undefined;
}

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";

const settings = [
  ["endpoint", "KEYPLANE_ENDPOINT"],
  ["token", "KEYPLANE_TOKEN"],
  ["organization_id", "KEYPLANE_ORGANIZATION_ID"],
] as const;

/** Each setting from the provider block, else from its environment variable. */
export function resolveProviderSettings(
  config: ObjectValue,
  env: NodeJS.ProcessEnv = process.env,
): { data?: KeyplaneProviderData; diagnostics: Diagnostic[] } {
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
    diagnostics.push(
      diag.error("Invalid endpoint", `"${endpoint}" is not an http:// or https:// URL of a Keyplane service.`, ["endpoint"]),
    );
  }
  if (diagnostics.length > 0) return { diagnostics };
  return {
    data: { endpoint: endpoint.replace(/\/+$/, ""), token: values.token, organizationId: values.organization_id },
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
      },
    },
  },
  resources: {},
  dataSources: {},
  ephemeralResources: {},
  configure: ({ config }) => resolveProviderSettings(config),
};
