// REST client for the Keyplane API, typed from the openapi-typescript output of openapi.yaml.
// Retries only what is safe to repeat (reads, idempotent writes, creates carrying an
// Idempotency-Key) on connection failures, 429 and 503, with exponential backoff and jitter.
import type { components, operations } from "../../../service/generated/openapi.js";

type Schemas = components["schemas"];
export type Credential = Schemas["Credential"];
export type CredentialCreate = Schemas["CredentialCreate"];
export type CredentialUpdate = Schemas["CredentialUpdate"];
export type CredentialRotate = Schemas["CredentialRotate"];
export type CredentialVersion = Schemas["CredentialVersion"];
export type Project = Schemas["Project"];
export type ProjectCreate = Schemas["ProjectCreate"];
export type ProjectUpdate = Schemas["ProjectUpdate"];
export type ProviderCatalogEntry = Schemas["ProviderCatalogEntry"];
export type ResolveRequest = Schemas["ResolveRequest"];
export type ResolveResponse = Schemas["ResolveResponse"];
export type Problem = Schemas["Problem"];
export type CredentialListQuery = NonNullable<operations["listCredentials"]["parameters"]["query"]>;

export interface ClientOptions {
  endpoint: string;
  token: string | undefined;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Attempts for retryable calls (first try included). */
  maxAttempts?: number;
  userAgent?: string;
  /** Base delay of the exponential backoff. */
  backoffMs?: number;
}

/** A request that did not succeed. `message` is safe to show: it never holds a secret. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    message: string,
    /** 0 when the service could not be reached. */
    readonly status: number,
    readonly code: string,
    readonly fieldErrors: { path: string; message: string }[] = [],
    /** The current ETag the server reported (412 answers carry it). */
    readonly etag?: string,
  ) {
    super(message);
  }

  get unreachable(): boolean {
    return this.status === 0;
  }
}

export interface Versioned<T> {
  body: T;
  /** Strong ETag, e.g. `"v3"`. */
  etag: string | undefined;
}

interface RequestSpec {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string | undefined>;
  /** Safe to send again after a failure whose outcome is unknown. */
  retryable: boolean;
  signal?: AbortSignal;
  /** Status codes that are not errors for this call (e.g. 404 on a read that tolerates absence). */
  accept?: number[];
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);

export class KeyplaneClient {
  private readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly userAgent: string;

  constructor(private readonly options: ClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxAttempts = options.maxAttempts ?? 4;
    this.backoffMs = options.backoffMs ?? 250;
    this.userAgent = options.userAgent ?? "terraform-provider-keyplane";
  }

  // Catalog -------------------------------------------------------------------------------

  async listProviders(signal?: AbortSignal): Promise<ProviderCatalogEntry[]> {
    const res = await this.send<{ data: ProviderCatalogEntry[] }>({ method: "GET", path: "/v1/providers", retryable: true, signal });
    return res.body.data;
  }

  // Credentials ---------------------------------------------------------------------------

  async listCredentials(org: string, query: CredentialListQuery = {}, signal?: AbortSignal): Promise<Credential[]> {
    const all: Credential[] = [];
    let cursor: string | undefined;
    do {
      const res = await this.send<{ data: Credential[]; next_cursor: string | null }>({
        method: "GET",
        path: `${orgPath(org)}/credentials`,
        query: { ...query, limit: 200, cursor },
        retryable: true,
        signal,
      });
      all.push(...res.body.data);
      cursor = res.body.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }

  /** null when the credential does not exist (or was deleted out of band). */
  async getCredential(org: string, id: string, signal?: AbortSignal): Promise<Versioned<Credential> | null> {
    const res = await this.send<Credential>({
      method: "GET",
      path: `${orgPath(org)}/credentials/${seg(id)}`,
      retryable: true,
      signal,
      accept: [404],
    });
    return res.status === 404 ? null : { body: res.body, etag: res.etag };
  }

  async createCredential(org: string, body: CredentialCreate, idempotencyKey: string, signal?: AbortSignal): Promise<Versioned<Credential>> {
    const res = await this.send<Credential>({
      method: "POST",
      path: `${orgPath(org)}/credentials`,
      body,
      headers: { "Idempotency-Key": idempotencyKey },
      retryable: true,
      signal,
    });
    return { body: res.body, etag: res.etag };
  }

  async updateCredential(org: string, id: string, body: CredentialUpdate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.versioned<Credential>("PATCH", `${orgPath(org)}/credentials/${seg(id)}`, body, ifMatch, signal);
  }

  async rotateCredential(org: string, id: string, body: CredentialRotate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.versioned<Credential>("POST", `${orgPath(org)}/credentials/${seg(id)}/rotate`, body, ifMatch, signal);
  }

  async setCredentialActive(org: string, id: string, active: boolean, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.versioned<Credential>("POST", `${orgPath(org)}/credentials/${seg(id)}/${active ? "activate" : "deactivate"}`, undefined, ifMatch, signal);
  }

  /** Deleting something already gone counts as success. */
  async deleteCredential(org: string, id: string, opts: { force?: boolean; ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.send({
      method: "DELETE",
      path: `${orgPath(org)}/credentials/${seg(id)}`,
      query: opts.force ? { force: true } : undefined,
      headers: { "If-Match": opts.ifMatch },
      retryable: true,
      signal: opts.signal,
      accept: [404],
    });
  }

  async listCredentialVersions(org: string, id: string, signal?: AbortSignal): Promise<CredentialVersion[]> {
    const res = await this.send<{ data: CredentialVersion[] }>({
      method: "GET",
      path: `${orgPath(org)}/credentials/${seg(id)}/versions`,
      retryable: true,
      signal,
    });
    return res.body.data;
  }

  // Projects ------------------------------------------------------------------------------

  async createProject(org: string, body: ProjectCreate, signal?: AbortSignal): Promise<Versioned<Project>> {
    const res = await this.send<Project>({ method: "POST", path: `${orgPath(org)}/projects`, body, retryable: false, signal });
    return { body: res.body, etag: res.etag };
  }

  async getProject(org: string, id: string, signal?: AbortSignal): Promise<Versioned<Project> | null> {
    const res = await this.send<Project>({
      method: "GET",
      path: `${orgPath(org)}/projects/${seg(id)}`,
      retryable: true,
      signal,
      accept: [404],
    });
    return res.status === 404 ? null : { body: res.body, etag: res.etag };
  }

  async updateProject(org: string, id: string, body: ProjectUpdate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.versioned<Project>("PATCH", `${orgPath(org)}/projects/${seg(id)}`, body, ifMatch, signal);
  }

  async deleteProject(org: string, id: string, opts: { ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.send({
      method: "DELETE",
      path: `${orgPath(org)}/projects/${seg(id)}`,
      headers: { "If-Match": opts.ifMatch },
      retryable: true,
      signal: opts.signal,
      accept: [404],
    });
  }

  // Resolution ----------------------------------------------------------------------------

  async resolve(org: string, body: ResolveRequest, signal?: AbortSignal): Promise<ResolveResponse> {
    const res = await this.send<ResolveResponse>({ method: "POST", path: `${orgPath(org)}/resolve`, body, retryable: true, signal });
    return res.body;
  }

  // Transport -----------------------------------------------------------------------------

  private async versioned<T>(method: "PATCH" | "POST", path: string, body: unknown, ifMatch: string | undefined, signal?: AbortSignal): Promise<Versioned<T>> {
    // With If-Match a repeated write cannot apply twice: the second attempt gets 412.
    const res = await this.send<T>({ method, path, body, headers: { "If-Match": ifMatch }, retryable: ifMatch !== undefined, signal });
    return { body: res.body, etag: res.etag };
  }

  private async send<T>(spec: RequestSpec): Promise<{ status: number; body: T; etag: string | undefined }> {
    const url = new URL(this.endpoint + spec.path);
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": this.userAgent };
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`;
    if (spec.body !== undefined) headers["Content-Type"] = "application/json";
    for (const [name, value] of Object.entries(spec.headers ?? {})) if (value !== undefined) headers[name] = value;
    const payload = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const attempts = spec.retryable ? this.maxAttempts : 1;

    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        const timeout = AbortSignal.timeout(this.timeoutMs);
        response = await fetch(url, {
          method: spec.method,
          headers,
          body: payload,
          signal: spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout,
        });
      } catch (error) {
        if (spec.signal?.aborted) throw new ApiError("The operation was cancelled.", 0, "cancelled");
        if (attempt < attempts) {
          await sleep(this.delay(attempt), spec.signal);
          continue;
        }
        const reason = (error as Error).name === "TimeoutError" ? `no answer within ${this.timeoutMs / 1000} s` : describeConnectError(error);
        throw new ApiError(`Cannot reach the Keyplane service at ${this.endpoint} (${reason}).`, 0, "unreachable");
      }
      if (RETRY_STATUSES.has(response.status) && attempt < attempts) {
        await response.body?.cancel();
        await sleep(retryAfterMs(response) ?? this.delay(attempt), spec.signal);
        continue;
      }
      const etag = response.headers.get("etag") ?? undefined;
      const text = await response.text();
      const body = text ? (safeJson(text) as T) : (undefined as T);
      if (response.ok || spec.accept?.includes(response.status)) return { status: response.status, body, etag };
      throw toApiError(response.status, body as Partial<Problem> | undefined, etag);
    }
  }

  private delay(attempt: number): number {
    const base = this.backoffMs * 2 ** (attempt - 1);
    return base / 2 + Math.random() * base;
  }
}

function orgPath(org: string): string {
  return `/v1/organizations/${seg(org)}`;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.min(seconds, 30) * 1000 : undefined;
}

function describeConnectError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ?? (error as Error).message;
}

function toApiError(status: number, problem: Partial<Problem> | undefined, etag: string | undefined): ApiError {
  const code = problem?.code ?? `http_${status}`;
  const detail = problem?.detail ?? `The Keyplane service answered HTTP ${status}.`;
  return new ApiError(detail, status, code, problem?.errors ?? [], etag);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
