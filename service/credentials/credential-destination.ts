// Where a credential's secret is sent: `api_base`, or for azure_openai `settings.endpoint` when set.
// verify sends the key there, and resolvers hand it to workloads that send it there, so moving a
// credential to another destination takes the secret again (rotate), never a PATCH alone.
// Shared with the Terraform provider, which plans such a move as a rotation.
import type { FieldError } from "../errors.js";
import type { ProviderEntry } from "../providers/catalog.js";

/** The fields that decide where the secret is sent; a dot names a key of the settings map. */
export const DESTINATION_FIELDS = ["api_base", "settings.endpoint"] as const;

/** The base URL verify calls for this credential, or null when it has none. */
export function destinationBase(provider: ProviderEntry, credential: { api_base: string | null; settings: Record<string, string> }): string | null {
  return provider.verify === "azure_openai" ? (credential.settings.endpoint ?? credential.api_base) : credential.api_base;
}

/**
 * Why a base URL cannot be a destination, or null when it can. The provider's path is appended to
 * the URL's path, so a query or fragment would swallow it; user info would be sent along as
 * credentials of its own. The raw text is checked too: `new URL` drops a bare trailing `?` or `#`.
 */
export function destinationUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute http or https URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http or https URL";
  if (url.username !== "" || url.password !== "" || /^[a-z]+:\/\/[^/?#]*@/i.test(value)) {
    return "must not contain user info (user:password@); credentials belong in the secret";
  }
  if (value.includes("?") || value.includes("#")) {
    return "must not contain a query (?) or fragment (#): the provider's path is appended to it";
  }
  return null;
}

/** Shape errors of the destination fields of a create or rotate body. */
export function destinationFieldErrors(provider: ProviderEntry, input: { api_base?: string | null; settings?: Record<string, string> }): FieldError[] {
  const errors: FieldError[] = [];
  const check = (value: unknown, path: string) => {
    const problem = typeof value === "string" ? destinationUrlProblem(value) : null;
    if (problem) errors.push({ path, message: problem });
  };
  check(input.api_base, "body.api_base");
  if (provider.verify === "azure_openai") check(input.settings?.endpoint, "body.settings.endpoint");
  return errors;
}

const REFUSED_MESSAGE = "decides where the secret is sent: change it with POST …/rotate together with the secret";

/**
 * The destination fields a PATCH would change: `api_base`, and `settings.endpoint` (for every
 * provider, since workloads read it from resolve as the place to send the key).
 */
export function destinationChanges(
  current: { api_base: string | null; settings: Record<string, string> | null },
  next: { api_base?: string | null; settings?: Record<string, string> },
): FieldError[] {
  const errors: FieldError[] = [];
  if (next.api_base !== undefined && next.api_base !== current.api_base) {
    errors.push({ path: "body.api_base", message: `api_base ${REFUSED_MESSAGE}` });
  }
  if (next.settings !== undefined && (next.settings.endpoint ?? null) !== (current.settings?.endpoint ?? null)) {
    errors.push({ path: "body.settings.endpoint", message: `settings.endpoint ${REFUSED_MESSAGE}` });
  }
  return errors;
}
