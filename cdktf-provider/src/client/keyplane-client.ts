// The plugin's view of the Keyplane API: one method per operation the resources use, over the
// shared typed client (service/client/keyplane-api.ts). Everything is retried after a timeout or a
// lost connection: reads (resolve included) and deletes are safe to repeat, and every create and
// update carries an Idempotency-Key made once per call, so its retries get the first attempt's
// answer from the service rather than doing the write twice (a second rotation) or meeting their
// own first attempt as a 412.
import { randomUUID } from "node:crypto";
import type { operations } from "../../../service/generated/openapi.js";
import {
  absentOn404,
  KeyplaneApi,
  type ApiCall,
  type ApiSchemas,
  type KeyplaneApiOptions,
  type PathsClient,
  type Versioned,
} from "../../../service/client/keyplane-api.js";

export { ApiError, type Versioned } from "../../../service/client/keyplane-api.js";

export type Credential = ApiSchemas["Credential"];
export type CredentialCreate = ApiSchemas["CredentialCreate"];
export type CredentialUpdate = ApiSchemas["CredentialUpdate"];
export type CredentialRotate = ApiSchemas["CredentialRotate"];
export type CredentialVersion = ApiSchemas["CredentialVersion"];
export type Project = ApiSchemas["Project"];
export type ProjectCreate = ApiSchemas["ProjectCreate"];
export type ProjectUpdate = ApiSchemas["ProjectUpdate"];
export type ProviderCatalogEntry = ApiSchemas["ProviderCatalogEntry"];
export type Whoami = ApiSchemas["Whoami"];
export type ResolveRequest = ApiSchemas["ResolveRequest"];
export type ResolveResponse = ApiSchemas["ResolveResponse"];
export type CredentialListQuery = NonNullable<operations["listCredentials"]["parameters"]["query"]>;
export type ModelAlias = ApiSchemas["ModelAlias"];
export type ModelAliasCreate = ApiSchemas["ModelAliasCreate"];
export type ModelAliasUpdate = ApiSchemas["ModelAliasUpdate"];
export type ModelAliasListQuery = Omit<NonNullable<operations["listModelAliases"]["parameters"]["query"]>, "limit" | "cursor">;

export type IdentityBinding = ApiSchemas["IdentityBinding"];
export type IdentityBindingCreate = ApiSchemas["IdentityBindingCreate"];
export type IdentityBindingUpdate = ApiSchemas["IdentityBindingUpdate"];

export type ClientOptions = Omit<KeyplaneApiOptions, "userAgent"> & { userAgent?: string };

const CREDENTIAL = "/v1/organizations/{org}/credentials/{id}";
const PROJECT = "/v1/organizations/{org}/projects/{project}";
const MODEL_ALIAS = "/v1/organizations/{org}/model-aliases/{id}";
const IDENTITY_BINDING = "/v1/organizations/{org}/identity-bindings/{id}";

interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}

export class KeyplaneClient {
  private readonly api: KeyplaneApi;

  constructor(options: ClientOptions) {
    this.api = new KeyplaneApi({ ...options, userAgent: options.userAgent ?? "terraform-provider-keyplane" });
  }

  // Catalog -------------------------------------------------------------------------------

  async listProviders(signal?: AbortSignal): Promise<ProviderCatalogEntry[]> {
    const res = await this.api.send((api, attempt) => api.GET("/v1/providers", { signal: attempt }), { retryable: true, signal });
    return res.body.data;
  }

  /** The calling token: its role and organization (null for platform admins). */
  async whoami(signal?: AbortSignal): Promise<Whoami> {
    const res = await this.api.send((api, attempt) => api.GET("/v1/whoami", { signal: attempt }), { retryable: true, signal });
    return res.body;
  }

  // Credentials ---------------------------------------------------------------------------

  async listCredentials(org: string, query: CredentialListQuery = {}, signal?: AbortSignal): Promise<Credential[]> {
    return this.listAll(
      (api, attempt, cursor) =>
        api.GET("/v1/organizations/{org}/credentials", { params: { path: { org }, query: { ...query, limit: 200, cursor } }, signal: attempt }),
      signal,
    );
  }

  /** null when the credential does not exist (or was deleted out of band). */
  async getCredential(org: string, id: string, signal?: AbortSignal): Promise<Versioned<Credential> | null> {
    return this.api
      .send((api, attempt) => api.GET(CREDENTIAL, { params: { path: { org, id } }, signal: attempt }), { retryable: true, signal })
      .catch(absentOn404);
  }

  /** `idempotencyKey`: the caller's, when it must outlive this call; one is made otherwise. */
  async createCredential(org: string, body: CredentialCreate, idempotencyKey: string, signal?: AbortSignal): Promise<Versioned<Credential>> {
    return this.write(
      (api, attempt, key) =>
        api.POST("/v1/organizations/{org}/credentials", { params: { path: { org }, header: { "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
      idempotencyKey,
    );
  }

  async updateCredential(org: string, id: string, body: CredentialUpdate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.write(
      (api, attempt, key) =>
        api.PATCH(CREDENTIAL, { params: { path: { org, id }, header: { "If-Match": ifMatch, "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  async rotateCredential(org: string, id: string, body: CredentialRotate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.write(
      (api, attempt, key) =>
        api.POST(`${CREDENTIAL}/rotate`, { params: { path: { org, id }, header: { "If-Match": ifMatch, "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  /** `force` deactivates even a credential in use (pinned by an alias or resolved in the last day). */
  async setCredentialActive(org: string, id: string, active: boolean, ifMatch: string | undefined, signal?: AbortSignal, opts: { force?: boolean } = {}) {
    return this.write((api, attempt, key) => {
      const header = { "If-Match": ifMatch, "Idempotency-Key": key };
      return active
        ? api.POST(`${CREDENTIAL}/activate`, { params: { path: { org, id }, header }, signal: attempt })
        : api.POST(`${CREDENTIAL}/deactivate`, { params: { path: { org, id }, header, query: { force: opts.force || undefined } }, signal: attempt });
    }, signal);
  }

  /** Deleting something already gone counts as success. */
  async deleteCredential(org: string, id: string, opts: { force?: boolean; ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.api
      .send(
        (api, attempt) =>
          api.DELETE(CREDENTIAL, {
            params: { path: { org, id }, query: { force: opts.force || undefined }, header: { "If-Match": opts.ifMatch } },
            signal: attempt,
          }),
        { retryable: true, signal: opts.signal },
      )
      .catch(absentOn404);
  }

  async listCredentialVersions(org: string, id: string, signal?: AbortSignal): Promise<CredentialVersion[]> {
    const res = await this.api.send((api, attempt) => api.GET(`${CREDENTIAL}/versions`, { params: { path: { org, id } }, signal: attempt }), {
      retryable: true,
      signal,
    });
    return res.body.data;
  }

  // Projects ------------------------------------------------------------------------------

  async createProject(org: string, body: ProjectCreate, signal?: AbortSignal): Promise<Versioned<Project>> {
    return this.write(
      (api, attempt, key) =>
        api.POST("/v1/organizations/{org}/projects", { params: { path: { org }, header: { "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  async getProject(org: string, id: string, signal?: AbortSignal): Promise<Versioned<Project> | null> {
    return this.api
      .send((api, attempt) => api.GET(PROJECT, { params: { path: { org, project: id } }, signal: attempt }), { retryable: true, signal })
      .catch(absentOn404);
  }

  async updateProject(org: string, id: string, body: ProjectUpdate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.write(
      (api, attempt, key) =>
        api.PATCH(PROJECT, { params: { path: { org, project: id }, header: { "If-Match": ifMatch, "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  async deleteProject(org: string, id: string, opts: { ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.api
      .send((api, attempt) => api.DELETE(PROJECT, { params: { path: { org, project: id }, header: { "If-Match": opts.ifMatch } }, signal: attempt }), {
        retryable: true,
        signal: opts.signal,
      })
      .catch(absentOn404);
  }

  // Model aliases -------------------------------------------------------------------------

  async listModelAliases(org: string, query: ModelAliasListQuery = {}, signal?: AbortSignal): Promise<ModelAlias[]> {
    return this.listAll(
      (api, attempt, cursor) =>
        api.GET("/v1/organizations/{org}/model-aliases", { params: { path: { org }, query: { ...query, limit: 200, cursor } }, signal: attempt }),
      signal,
    );
  }

  async createModelAlias(org: string, body: ModelAliasCreate, signal?: AbortSignal): Promise<Versioned<ModelAlias>> {
    return this.write(
      (api, attempt, key) =>
        api.POST("/v1/organizations/{org}/model-aliases", { params: { path: { org }, header: { "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  /** null when the alias does not exist (or was deleted out of band). */
  async getModelAlias(org: string, id: string, signal?: AbortSignal): Promise<Versioned<ModelAlias> | null> {
    return this.api
      .send((api, attempt) => api.GET(MODEL_ALIAS, { params: { path: { org, id } }, signal: attempt }), { retryable: true, signal })
      .catch(absentOn404);
  }

  async updateModelAlias(org: string, id: string, body: ModelAliasUpdate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.write(
      (api, attempt, key) =>
        api.PATCH(MODEL_ALIAS, { params: { path: { org, id }, header: { "If-Match": ifMatch, "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  /** Deleting something already gone counts as success. */
  async deleteModelAlias(org: string, id: string, opts: { force?: boolean; ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.api
      .send(
        (api, attempt) =>
          api.DELETE(MODEL_ALIAS, {
            params: { path: { org, id }, query: { force: opts.force || undefined }, header: { "If-Match": opts.ifMatch } },
            signal: attempt,
          }),
        { retryable: true, signal: opts.signal },
      )
      .catch(absentOn404);
  }

  // Identity bindings ---------------------------------------------------------------------

  async createIdentityBinding(org: string, body: IdentityBindingCreate, signal?: AbortSignal): Promise<Versioned<IdentityBinding>> {
    return this.write(
      (api, attempt, key) =>
        api.POST("/v1/organizations/{org}/identity-bindings", { params: { path: { org }, header: { "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  /** null when the binding does not exist (or was deleted out of band). */
  async getIdentityBinding(org: string, id: string, signal?: AbortSignal): Promise<Versioned<IdentityBinding> | null> {
    return this.api
      .send((api, attempt) => api.GET(IDENTITY_BINDING, { params: { path: { org, id } }, signal: attempt }), { retryable: true, signal })
      .catch(absentOn404);
  }

  async updateIdentityBinding(org: string, id: string, body: IdentityBindingUpdate, ifMatch: string | undefined, signal?: AbortSignal) {
    return this.write(
      (api, attempt, key) =>
        api.PATCH(IDENTITY_BINDING, { params: { path: { org, id }, header: { "If-Match": ifMatch, "Idempotency-Key": key } }, body, signal: attempt }),
      signal,
    );
  }

  /** Deleting something already gone counts as success. */
  async deleteIdentityBinding(org: string, id: string, opts: { ifMatch?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.api
      .send((api, attempt) => api.DELETE(IDENTITY_BINDING, { params: { path: { org, id }, header: { "If-Match": opts.ifMatch } }, signal: attempt }), {
        retryable: true,
        signal: opts.signal,
      })
      .catch(absentOn404);
  }

  // Resolution ----------------------------------------------------------------------------

  async resolve(org: string, body: ResolveRequest, signal?: AbortSignal): Promise<ResolveResponse> {
    const res = await this.api.send((api, attempt) => api.POST("/v1/organizations/{org}/resolve", { params: { path: { org } }, body, signal: attempt }), {
      retryable: true,
      signal,
    });
    return res.body;
  }

  /** Every page of a cursor-paginated list. */
  private async listAll<T>(
    page: (api: Parameters<ApiCall<Page<T>>>[0], signal: AbortSignal, cursor: string | undefined) => ReturnType<ApiCall<Page<T>>>,
    signal?: AbortSignal,
  ): Promise<T[]> {
    const all: T[] = [];
    let cursor: string | undefined;
    do {
      const res = await this.api.send((api, attempt) => page(api, attempt, cursor), { retryable: true, signal });
      all.push(...res.body.data);
      cursor = res.body.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }

  /**
   * One logical write: its Idempotency-Key is made here, once, and sent again by every retry, so a
   * retry after a lost answer gets the answer the first attempt's commit produced.
   */
  private async write<T>(
    call: (api: PathsClient, signal: AbortSignal, idempotencyKey: string) => ReturnType<ApiCall<T>>,
    signal: AbortSignal | undefined,
    idempotencyKey: string = randomUUID(),
  ): Promise<Versioned<T>> {
    return this.api.send((api, attempt) => call(api, attempt, idempotencyKey), { retryable: true, signal });
  }
}
