// The console's only way to the service: the public REST API, typed from the contract's generated
// types. The Keyplane token is read from the session on every request and is the one thing the
// console keeps; provider secrets pass through a request body once and are never kept.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../../generated/openapi";

type Schemas = components["schemas"];
export type Credential = Schemas["Credential"];
export type CredentialCreate = Schemas["CredentialCreate"];
export type CredentialUpdate = Schemas["CredentialUpdate"];
export type Provider = Schemas["ProviderCatalogEntry"];
export type Project = Schemas["Project"];
export type Token = Schemas["Token"];
export type TokenCreated = Schemas["TokenCreated"];
export type AuditVerifyResult = Schemas["AuditVerifyResult"];
export type VerifyResult = Schemas["VerifyResult"];
export type Whoami = Schemas["Whoami"];
export type ModelAlias = Schemas["ModelAlias"];
export type ModelAliasCreate = Schemas["ModelAliasCreate"];
export type ModelAliasUpdate = Schemas["ModelAliasUpdate"];
export type Problem = Schemas["Problem"];
type CredentialInUseProblem = Schemas["CredentialInUseProblem"];

const TOKEN_KEY = "keyplane.token";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Fired when the service no longer accepts the session's token (revoked, expired). */
export const SESSION_ENDED = "keyplane:session-ended";

const authenticate: Middleware = {
  onRequest({ request }) {
    const token = session.token();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(authenticate);

/** A problem answer (RFC 9457) from the service. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
  get status() {
    return this.problem.status;
  }
  get code() {
    return this.problem.code;
  }
}

function asProblem(body: unknown, response: Response): Problem {
  if (body && typeof body === "object" && "detail" in body && "status" in body) return body as Problem;
  return {
    type: "about:blank",
    title: response.statusText || "Request failed",
    status: response.status,
    detail: `The service answered ${response.status} ${response.statusText}.`.trim(),
    code: "unexpected_response",
    request_id: response.headers.get("X-Request-Id") ?? "",
  };
}

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's body, or an ApiError carrying the service's problem. */
export async function call<T>(request: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await request;
  } catch {
    throw new ApiError(asProblem(undefined, new Response(null, { status: 503, statusText: "Service unreachable" })));
  }
  const { data, error, response } = result;
  if (!response.ok) {
    const failure = new ApiError(asProblem(error, response));
    if (response.status === 401 && session.token()) window.dispatchEvent(new Event(SESSION_ENDED));
    throw failure;
  }
  return data as T;
}

/** The most items a picker or a whole-list view reads, page after page: all of any organization we
 * expect, yet bounded so a very large one cannot stall the browser. */
export const LIST_CAP = 1000;

/** A list read to its end, or to LIST_CAP items (`more`: the service has others). */
export interface Listed<T> {
  items: T[];
  more: boolean;
}

/** Reads a cursor-paged list in the contract's largest pages, following `next_cursor` up to LIST_CAP items. */
export async function allPages<T>(page: (query: { limit: number; cursor?: string }) => Promise<{ data: T[]; next_cursor: string | null }>): Promise<Listed<T>> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const list = await page({ limit: 200, cursor });
    items.push(...list.data);
    cursor = list.next_cursor ?? undefined;
  } while (cursor !== undefined && items.length < LIST_CAP);
  return { items, more: cursor !== undefined };
}

/** The If-Match value for a resource last seen at `version` (its ETag is "v<version>"). */
export const ifMatch = (resource: { version: number }) => ({ "If-Match": `"v${resource.version}"` });

/** Problems and their field errors, for forms; anything thrown that is not a problem is rethrown. */
export function problemOf(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem;
  throw error;
}

/**
 * The messages the service gave for `path`; with `nested`, also those for paths below it (e.g.
 * `body.params.temperature` under `body.params`), each led by the rest of its path.
 */
export function fieldError(problem: Problem | null, path: string, { nested = false } = {}): string | undefined {
  const messages = problem?.errors?.flatMap((e) => {
    if (e.path === path) return [e.message];
    if (nested && e.path.startsWith(`${path}.`)) return [`${e.path.slice(path.length + 1)}: ${e.message}`];
    return [];
  });
  return messages && messages.length > 0 ? messages.join("; ") : undefined;
}

/** A 409 `credential_in_use`, with the members that code adds: the active aliases that pin it and its last use (when and by whom). */
type CredentialInUse = CredentialInUseProblem & Required<Pick<CredentialInUseProblem, "aliases" | "last_used_at" | "last_used_by">>;

/** The problem as a `credential_in_use` one, or null for any other problem. */
export function inUseOf(problem: Problem | null): CredentialInUse | null {
  if (problem?.code !== "credential_in_use") return null;
  const { aliases = [], last_used_at = null, last_used_by = null, ...rest } = problem as CredentialInUseProblem;
  return { ...rest, aliases, last_used_at, last_used_by };
}
