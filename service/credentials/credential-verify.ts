// Verify: call the provider's list-models endpoint with the current secret. The key goes only
// into the request header; details, stored status, logs and audit are written from the HTTP
// status and our own sentences, never from the provider's body (some providers quote the key
// back in their error messages). The call goes through the outbound policy (service/outbound),
// and only to the destination stored with the secret (credential-destination.ts).
import type { Db } from "../db/index.js";
import { recordAudit } from "../audit/audit-service.js";
import { findProvider, type ProviderEntry } from "../providers/catalog.js";
import { problems } from "../http/problem.js";
import type { Schemas } from "../contract-types.js";
import type { CredentialService, RequestMeta } from "./credential-service.js";
import * as dal from "./credential-dal.js";
import { destinationBase, destinationUrlProblem } from "./credential-destination.js";
import { Outbound, OutboundRefused, OutboundTimeout } from "../outbound/outbound.js";

export type VerifyResult = Schemas["VerifyResult"];

export const VERIFY_TIMEOUT_MS = 5_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const ANTHROPIC_VERSION = "2023-06-01";
const AZURE_API_VERSION = "2024-10-21";

export interface ProviderRequest {
  url: URL;
  headers: Record<string, string>;
  /** Where the model list sits in the JSON answer. */
  listField: "data" | "models";
}

type Outcome = Omit<VerifyResult, "checked_at"> & {
  /** What the outbound policy refused, for the audit event. */
  refusedBecause?: string;
};

/** The request that lists models for this credential, or why there is none. */
export function providerRequest(
  provider: ProviderEntry,
  credential: { api_base: string | null; settings: Record<string, string> },
  secret: Record<string, string>,
): ProviderRequest | { unsupported: string } {
  if (provider.verify === "none") {
    return { unsupported: `${provider.display_name} has no list-models endpoint that Keyplane can call with this credential; nothing was checked.` };
  }
  const key = secret.api_key;
  if (typeof key !== "string") return { unsupported: "Only single-key (api_token) credentials can be verified; nothing was checked." };
  const base = destinationBase(provider, credential);
  if (!base) {
    const what = provider.verify === "azure_openai" ? "the endpoint setting (or api_base)" : "api_base";
    return { unsupported: `The credential has no ${what} to call; rotate it with one to verify. Nothing was checked.` };
  }
  // Stored before the write-time check existed, perhaps: a query would swallow the provider's path.
  if (destinationUrlProblem(base)) return badBase();
  // The provider's path goes onto the pathname only, whatever the base looks like.
  const at = (path: string) => {
    const url = new URL(base);
    url.pathname = url.pathname.replace(/\/+$/, "") + path;
    return url;
  };
  switch (provider.verify) {
    case "openai": {
      const headers: Record<string, string> = {};
      if (provider.id === "portkey") {
        // Portkey authenticates with its own header; a Bearer token would be taken as a provider key.
        headers["x-portkey-api-key"] = key;
        if (credential.settings.virtual_key) headers["x-portkey-virtual-key"] = credential.settings.virtual_key;
      } else {
        headers.authorization = `Bearer ${key}`;
      }
      if (provider.id === "openai" && credential.settings.openai_organization) headers["openai-organization"] = credential.settings.openai_organization;
      if (provider.id === "openai" && credential.settings.openai_project) headers["openai-project"] = credential.settings.openai_project;
      return { url: at("/models"), headers, listField: "data" };
    }
    case "anthropic":
      return {
        url: at("/v1/models"),
        headers: { "x-api-key": key, "anthropic-version": credential.settings.api_version ?? ANTHROPIC_VERSION },
        listField: "data",
      };
    case "gemini":
      return { url: at("/v1beta/models"), headers: { "x-goog-api-key": key }, listField: "models" };
    case "azure_openai": {
      const url = at("/openai/models");
      url.searchParams.set("api-version", credential.settings.api_version ?? AZURE_API_VERSION);
      return { url, headers: { "api-key": key }, listField: "data" };
    }
  }
}

function badBase() {
  return {
    unsupported: "The credential's api_base is not an http(s) URL without query, fragment and user info; rotate it with a valid api_base. Nothing was checked.",
  };
}

/** Performs the request through `outbound` within `timeoutMs` and classifies the answer. Never throws. */
export async function callProvider(provider: ProviderEntry, request: ProviderRequest, outbound: Outbound, timeoutMs = VERIFY_TIMEOUT_MS): Promise<Outcome> {
  const name = provider.display_name;
  const host = request.url.host;
  let response;
  try {
    response = await outbound.get(request.url, {
      headers: { accept: "application/json", ...request.headers },
      timeoutMs,
      maxBodyBytes: MAX_BODY_BYTES,
    });
  } catch (error) {
    if (error instanceof OutboundRefused) {
      return {
        status: "refused",
        http_status: null,
        model_count: null,
        detail:
          `${error.message} Keyplane's outbound policy does not send keys to loopback, private, link-local or metadata addresses ` +
          "(a deployment whose gateway is on its internal network sets KEYPLANE_OUTBOUND_ALLOW_PRIVATE=1). Nothing was sent.",
        refusedBecause: error.reason,
      };
    }
    return { status: "unreachable", http_status: null, model_count: null, detail: unreachableDetail(error, host, timeoutMs) };
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    const count = response.body === null ? null : modelCount(response.body, request.listField);
    if (count === null) {
      return { status: "error", http_status: status, model_count: null, detail: `${name} answered HTTP ${status}, but not with a model list; check api_base.` };
    }
    return { status: "ok", http_status: status, model_count: count, detail: `${name} accepted the key and listed ${count} model${count === 1 ? "" : "s"}.` };
  }
  if (status === 401 || status === 403) {
    return { status: "unauthorized", http_status: status, model_count: null, detail: `${name} rejected the key (HTTP ${status}).` };
  }
  if (status >= 300 && status < 400) {
    return {
      status: "error",
      http_status: status,
      model_count: null,
      detail: `${name} answered with a redirect (HTTP ${status}); set api_base to the final URL.`,
    };
  }
  return { status: "error", http_status: status, model_count: null, detail: `${name} answered HTTP ${status}; the key could not be confirmed.` };
}

function unreachableDetail(error: unknown, host: string, timeoutMs: number): string {
  if (error instanceof OutboundTimeout) return `No answer from ${host} within ${timeoutMs / 1000} s.`;
  const e = error as { code?: unknown };
  const code = typeof e?.code === "string" && /^[A-Z0-9_]{2,40}$/.test(e.code) ? ` (${e.code})` : "";
  return `Could not reach ${host}${code}.`;
}

function modelCount(text: string, field: "data" | "models"): number | null {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown> | null;
    const list = parsed && typeof parsed === "object" ? parsed[field] : undefined;
    return Array.isArray(list) ? list.length : null;
  } catch {
    return null;
  }
}

export class CredentialVerifier {
  constructor(
    private readonly db: Db,
    private readonly credentials: CredentialService,
    private readonly outbound: Outbound,
    private readonly timeoutMs = VERIFY_TIMEOUT_MS,
  ) {}

  async verify(organizationId: string, id: string, meta: RequestMeta): Promise<VerifyResult> {
    const row = await dal.findCredential(this.db, organizationId, id);
    if (!row) throw problems.notFound("credential");
    const provider = findProvider(row.provider);
    if (!provider) throw problems.notFound("credential");
    const secret = await this.credentials.readSecret(row, row.key_version);
    const request = secret ? providerRequest(provider, row, secret) : { unsupported: "The credential has no readable current key; nothing was checked." };
    const outcome: Outcome =
      "unsupported" in request
        ? { status: "unsupported", http_status: null, model_count: null, detail: request.unsupported }
        : await callProvider(provider, request, this.outbound, this.timeoutMs);
    const checkedAt = new Date();
    await this.db.transaction(async (tx) => {
      // "unsupported" checked nothing, so last_verified_at keeps its meaning.
      if (outcome.status !== "unsupported") await dal.recordVerification(tx, organizationId, id, outcome.status);
      await recordAudit(tx, {
        organizationId,
        actor: { tokenId: meta.actor.tokenId, role: meta.actor.role },
        action: "credential.verify",
        targetType: "credential",
        targetId: id,
        outcome: outcome.status === "refused" ? "denied" : "success",
        requestId: meta.requestId,
        details: {
          status: outcome.status,
          http_status: outcome.http_status,
          model_count: outcome.model_count,
          key_version: row.key_version,
          key_hint: row.key_hint,
          destination_host: "url" in request ? request.url.host : null,
          ...(outcome.refusedBecause ? { refused_because: outcome.refusedBecause } : {}),
        },
      });
    });
    const { refusedBecause: _audited, ...result } = outcome;
    return { ...result, checked_at: checkedAt.toISOString() };
  }
}
