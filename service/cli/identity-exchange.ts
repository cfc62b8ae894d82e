// `--identity-token-file`: instead of a stored resolver token, the CLI trades the identity token its
// platform gives the workload (a Kubernetes projected service-account token, a CI job's OIDC token)
// for a short-lived Keyplane token (POST /v1/auth/token-exchange). Neither token is ever printed.
import { readFile } from "node:fs/promises";
import { ApiError, KeyplaneApi, type ApiSchemas } from "../client/keyplane-api.js";
import { CliError } from "./env.js";

/** Renew once this share of the issued token's lifetime has passed, well before it expires. */
const RENEW_AT = 0.8;
/** Never renew more often than this, whatever a skewed clock makes of `expires_at`. */
const MIN_RENEW_MS = 5_000;
const EXCHANGE_TIMEOUT_MS = 30_000;

/** Where the bearer token of each request comes from. */
export interface BearerSource {
  /** The token to send now: exchanged anew when none is held or the held one is due for renewal. */
  token(signal?: AbortSignal): Promise<string>;
  /** Milliseconds until the held token is due for renewal; Infinity for a static token. */
  msUntilRenewal(): number;
  /** The service refused `token` (401): the next `token()` exchanges again. False when there is nothing to renew. */
  refused(token: string): boolean;
}

/** A resolver token given by flag or environment: sent as it is. */
export function staticBearer(token: string): BearerSource {
  return { token: async () => token, msUntilRenewal: () => Infinity, refused: () => false };
}

export interface IdentityExchangeOptions {
  endpoint: string;
  organizationId: string;
  /** The file the platform keeps the identity token in; read again before every exchange (Kubernetes rotates it). */
  tokenFile: string;
  /** Exchange through this binding only (`idb_…`). */
  binding?: string;
}

/** Exchanges the identity token in `tokenFile` and renews the issued token at 80% of its lifetime or when refused. */
export function exchangedBearer({ endpoint, organizationId, tokenFile, binding }: IdentityExchangeOptions): BearerSource {
  // No Authorization header: the identity token is the credential, in the body.
  const api = new KeyplaneApi({ endpoint, token: undefined, userAgent: "keyplane-cli", timeoutMs: EXCHANGE_TIMEOUT_MS, maxAttempts: 3 });
  let held: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;

  const exchange = async (signal?: AbortSignal): Promise<string> => {
    const identityToken = await readIdentityToken(tokenFile);
    const requestedAt = Date.now();
    let body: ApiSchemas["TokenExchangeResponse"];
    try {
      ({ body } = await api.send(
        (client, attemptSignal) =>
          client.POST("/v1/auth/token-exchange", {
            body: { organization_id: organizationId, identity_token: identityToken, binding },
            signal: attemptSignal,
          }),
        // A retried exchange whose first answer was lost only leaves a short-lived token unused.
        { retryable: true, signal },
      ));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.unreachable)
        throw new CliError(`cannot reach Keyplane at ${new URL(api.endpoint).origin} to exchange the identity token (${error.reason ?? error.code})`);
      throw new CliError(`the identity token in ${tokenFile} was not exchanged: ${error.message} (HTTP ${error.status} ${error.code})`);
    }
    const expiresAt = Date.parse(body?.expires_at ?? "");
    if (typeof body?.token !== "string" || !Number.isFinite(expiresAt)) throw new CliError("unexpected answer from Keyplane to the token exchange");
    // Measured on our clock from when we asked, so a skewed clock shortens the lifetime we assume rather than lengthening it.
    held = { token: body.token, renewAt: requestedAt + Math.max(MIN_RENEW_MS, (expiresAt - requestedAt) * RENEW_AT) };
    return body.token;
  };

  return {
    async token(signal) {
      if (held && Date.now() < held.renewAt) return held.token;
      // Concurrent callers share one exchange.
      pending ??= exchange(signal).finally(() => (pending = undefined));
      return pending;
    },
    msUntilRenewal: () => (held ? Math.max(0, held.renewAt - Date.now()) : 0),
    refused(token) {
      if (held?.token === token) held = undefined;
      return true;
    },
  };
}

/** The token as the platform wrote it; errors name the file and the reason, never its content. */
async function readIdentityToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CliError(`cannot read the identity token file ${path} (${(error as NodeJS.ErrnoException).code ?? "read failed"})`);
  }
  const token = text.trim();
  if (token === "") throw new CliError(`the identity token file ${path} is empty`);
  return token;
}
