// The one REST client of the Keyplane API, shared by the Terraform plugin, the CLI and the bench:
// openapi-fetch over the paths generated from openapi.yaml, so every path, parameter and body is
// checked against the contract. On top of it, what every caller needs: a timeout per attempt,
// retries of what is safe to repeat (on connection failures, 429 and 5xx gateway answers, with
// exponential backoff and jitter), and failures as ApiError, whose message never holds a secret.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "../generated/openapi.js";

export type ApiSchemas = components["schemas"];
/** openapi-fetch typed by the contract: `client.GET("/v1/providers", …)` knows the path, its parameters and its answers. */
export type PathsClient = Client<paths>;
type Problem = ApiSchemas["Problem"];

export interface KeyplaneApiOptions {
  /** Base URL of the service; a path prefix is kept, a user name, password, query or fragment dropped. */
  endpoint: string;
  token: string | undefined;
  userAgent: string;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Attempts for retryable calls (first try included). */
  maxAttempts?: number;
  /** Base delay of the exponential backoff. */
  backoffMs?: number;
}

export interface ApiErrorDetails {
  /** 0 when the service could not be reached (or the call was cancelled). */
  status: number;
  /** The problem document's code; `http_<status>` when the answer was not a problem document. */
  code: string;
  fieldErrors?: ApiSchemas["FieldError"][];
  /** The current ETag the server reported (412 answers carry it). */
  etag?: string;
  /** Why the service could not be reached, e.g. `ECONNREFUSED`. */
  reason?: string;
}

/** A request that did not succeed. `message` is safe to show: it never holds a secret. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly fieldErrors: ApiSchemas["FieldError"][];
  readonly etag: string | undefined;
  readonly reason: string | undefined;

  constructor(message: string, details: ApiErrorDetails) {
    super(message);
    this.status = details.status;
    this.code = details.code;
    this.fieldErrors = details.fieldErrors ?? [];
    this.etag = details.etag;
    this.reason = details.reason;
  }

  get unreachable(): boolean {
    return this.status === 0;
  }

  /** The answer was not a Keyplane problem document (another server, a proxy, a wrong path). */
  get notProblem(): boolean {
    return this.code === `http_${this.status}`;
  }
}

/** The body of a 2xx answer and its ETag. */
export interface Versioned<T> {
  body: T;
  /** Strong ETag, e.g. `"v3"`. */
  etag: string | undefined;
}

/** What an openapi-fetch call settles with; `data` is the typed body of the success answer. */
interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** One request made with the typed client and the signal of the attempt; run again for each retry. */
export type ApiCall<T> = (client: PathsClient, signal: AbortSignal) => Promise<FetchResult<T>>;

interface SendOptions {
  /** Safe to send again after a failure whose outcome is unknown. */
  retryable: boolean;
  signal?: AbortSignal;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);

export class KeyplaneApi {
  /** The base URL the requests go to, as shown in messages. */
  readonly endpoint: string;
  private readonly client: PathsClient;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(options: KeyplaneApiOptions) {
    const url = new URL(options.endpoint);
    this.endpoint = url.origin + url.pathname.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxAttempts = options.maxAttempts ?? 4;
    this.backoffMs = options.backoffMs ?? 250;
    this.client = createClient<paths>({
      baseUrl: this.endpoint,
      headers: {
        Accept: "application/json",
        "User-Agent": options.userAgent,
        Authorization: options.token ? `Bearer ${options.token}` : undefined,
      },
      fetch: (request) => this.fetchJson(request),
    });
  }

  /**
   * Sends one operation. The signal `call` gets is the caller's plus the per-attempt timeout.
   * Resolves with the body of a 2xx answer; anything else rejects with an ApiError.
   */
  async send<T>(call: ApiCall<T>, options: SendOptions): Promise<Versioned<T>> {
    const { signal } = options;
    const attempts = options.retryable ? this.maxAttempts : 1;
    for (let attempt = 1; ; attempt++) {
      let result: FetchResult<T>;
      try {
        const timeout = AbortSignal.timeout(this.timeoutMs);
        result = await call(this.client, signal ? AbortSignal.any([signal, timeout]) : timeout);
      } catch (error) {
        if (error instanceof ApiError) throw error;
        if (signal?.aborted) throw new ApiError("The operation was cancelled.", { status: 0, code: "cancelled" });
        if (attempt < attempts) {
          await sleep(this.delay(attempt), signal);
          continue;
        }
        const reason = (error as Error).name === "TimeoutError" ? `no answer within ${this.timeoutMs / 1000} s` : connectErrorCode(error);
        throw new ApiError(`Cannot reach the Keyplane service at ${this.endpoint} (${reason}).`, { status: 0, code: "unreachable", reason });
      }
      const { response } = result;
      if (RETRY_STATUSES.has(response.status) && attempt < attempts) {
        await sleep(retryAfterMs(response) ?? this.delay(attempt), signal);
        continue;
      }
      const etag = response.headers.get("etag") ?? undefined;
      if (response.ok) return { body: result.data as T, etag };
      throw problemError(response.status, result.error, etag);
    }
  }

  /**
   * openapi-fetch parses every 2xx body as JSON; one that is not (a web server or proxy at the
   * endpoint answering for any path) becomes an ApiError here rather than a SyntaxError there.
   */
  private async fetchJson(request: Request): Promise<Response> {
    const response = await fetch(request);
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || response.status === 204 || /[/+]json\b/.test(type)) return response;
    await response.body?.cancel();
    const code = `http_${response.status}`;
    throw new ApiError(`The service at ${this.endpoint} answered HTTP ${response.status} with ${type || "a body of no type"}, not JSON.`, {
      status: response.status,
      code,
    });
  }

  private delay(attempt: number): number {
    const base = this.backoffMs * 2 ** (attempt - 1);
    return base / 2 + Math.random() * base;
  }
}

/** A 404 answer as null, for reads and deletes where absence is an answer; other failures rethrown. */
export function absentOn404(error: unknown): null {
  if (error instanceof ApiError && error.status === 404) return null;
  throw error;
}

function problemError(status: number, body: unknown, etag: string | undefined): ApiError {
  const problem = typeof body === "object" && body !== null ? (body as Partial<Problem>) : {};
  const detail = typeof problem.detail === "string" ? problem.detail : `The Keyplane service answered HTTP ${status}.`;
  const code = typeof problem.code === "string" ? problem.code : `http_${status}`;
  const fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  return new ApiError(detail, { status, code, fieldErrors, etag });
}

function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.min(seconds, 30) * 1000 : undefined;
}

/** The system error code (ECONNREFUSED, ENOTFOUND…); never the error's message, which may quote the URL. */
function connectErrorCode(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === "string" ? code : "connection failed";
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
