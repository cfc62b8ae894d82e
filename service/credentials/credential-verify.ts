// Verify: call the provider's list-models endpoint with the current secret. The key goes only
// into the request header; details, stored status, logs and audit are written from the HTTP
// status and our own sentences, never from the provider's body (some providers quote the key
// back in their error messages).
import type { Db } from "../db/index.js";
import { recordAudit } from "../audit/audit-service.js";
import { findProvider, type ProviderEntry } from "../providers/catalog.js";
import { problems } from "../http/problem.js";
import type { Schemas } from "../http/validation.js";
import type { CredentialService, RequestMeta } from "./credential-service.js";
import * as dal from "./credential-dal.js";

export type VerifyResult = Schemas["VerifyResult"];
type VerifyStatus = Schemas["VerifyStatus"];

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

type Outcome = Omit<VerifyResult, "checked_at">;

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
  const base = provider.verify === "azure_openai" ? (credential.settings.endpoint ?? credential.api_base) : credential.api_base;
  if (!base) {
    const what = provider.verify === "azure_openai" ? "the endpoint setting (or api_base)" : "api_base";
    return { unsupported: `The credential has no ${what} to call; set it to verify. Nothing was checked.` };
  }
  const root = base.replace(/\/+$/, "");
  const url = (path: string) => {
    try {
      return new URL(root + path);
    } catch {
      return null;
    }
  };
  let target: URL | null;
  switch (provider.verify) {
    case "openai": {
      target = url("/models");
      const headers: Record<string, string> = { authorization: `Bearer ${key}` };
      if (provider.id === "openai" && credential.settings.openai_organization) headers["openai-organization"] = credential.settings.openai_organization;
      if (provider.id === "openai" && credential.settings.openai_project) headers["openai-project"] = credential.settings.openai_project;
      return target ? { url: target, headers, listField: "data" } : badBase();
    }
    case "anthropic":
      target = url("/v1/models");
      return target
        ? { url: target, headers: { "x-api-key": key, "anthropic-version": credential.settings.api_version ?? ANTHROPIC_VERSION }, listField: "data" }
        : badBase();
    case "gemini":
      target = url("/v1beta/models");
      return target ? { url: target, headers: { "x-goog-api-key": key }, listField: "models" } : badBase();
    case "azure_openai":
      target = url("/openai/models");
      target?.searchParams.set("api-version", credential.settings.api_version ?? AZURE_API_VERSION);
      return target ? { url: target, headers: { "api-key": key }, listField: "data" } : badBase();
  }
}

function badBase() {
  return { unsupported: "The credential's api_base is not a valid URL; nothing was checked." };
}

/** Performs the request within `timeoutMs` and classifies the answer. Never throws. */
export async function callProvider(provider: ProviderEntry, request: ProviderRequest, timeoutMs = VERIFY_TIMEOUT_MS): Promise<Outcome> {
  const name = provider.display_name;
  const host = request.url.host;
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: "GET",
      headers: { accept: "application/json", ...request.headers },
      // A redirect could carry the key header to another host.
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { status: "unreachable", http_status: null, model_count: null, detail: unreachableDetail(error, host, timeoutMs) };
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    let text: string | null;
    try {
      text = await readCapped(response, MAX_BODY_BYTES);
    } catch (error) {
      return { status: "unreachable", http_status: status, model_count: null, detail: unreachableDetail(error, host, timeoutMs) };
    }
    const count = text === null ? null : modelCount(text, request.listField);
    if (count === null) {
      return { status: "error", http_status: status, model_count: null, detail: `${name} answered HTTP ${status}, but not with a model list; check api_base.` };
    }
    return { status: "ok", http_status: status, model_count: count, detail: `${name} accepted the key and listed ${count} model${count === 1 ? "" : "s"}.` };
  }
  await response.body?.cancel().catch(() => undefined);
  if (status === 401 || status === 403) {
    return { status: "unauthorized", http_status: status, model_count: null, detail: `${name} rejected the key (HTTP ${status}).` };
  }
  if (status >= 300 && status < 400) {
    return { status: "error", http_status: status, model_count: null, detail: `${name} answered with a redirect (HTTP ${status}); set api_base to the final URL.` };
  }
  return { status: "error", http_status: status, model_count: null, detail: `${name} answered HTTP ${status}; the key could not be confirmed.` };
}

function unreachableDetail(error: unknown, host: string, timeoutMs: number): string {
  const e = error as { name?: string; cause?: { code?: unknown; name?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError" || e?.cause?.name === "TimeoutError") {
    return `No answer from ${host} within ${timeoutMs / 1000} s.`;
  }
  const code = typeof e?.cause?.code === "string" && /^[A-Z0-9_]{2,40}$/.test(e.cause.code) ? ` (${e.cause.code})` : "";
  return `Could not reach ${host}${code}.`;
}

async function readCapped(response: Response, cap: number): Promise<string | null> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
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
        : await callProvider(provider, request, this.timeoutMs);
    const checkedAt = new Date();
    await this.db.transaction(async (tx) => {
      // "unsupported" checked nothing, so last_verified_at keeps its meaning.
      if (outcome.status !== "unsupported") await dal.recordVerification(tx, organizationId, id, outcome.status as VerifyStatus);
      await recordAudit(tx, {
        organizationId,
        actor: { tokenId: meta.actor.tokenId, role: meta.actor.role },
        action: "credential.verify",
        targetType: "credential",
        targetId: id,
        outcome: "success",
        requestId: meta.requestId,
        details: {
          status: outcome.status,
          http_status: outcome.http_status,
          model_count: outcome.model_count,
          key_version: row.key_version,
          key_hint: row.key_hint,
        },
      });
    });
    return { ...outcome, checked_at: checkedAt.toISOString() };
  }
}
