// The contract between the protocol server and the provider's own code (provider.ts, resources/).
// Everything here is decoded JS values (see cty.ts): resources never see msgpack, protobuf or gRPC.
import type { CtyType, CtyValue, ObjectValue } from "./cty.js";
import type { AttributePath, Diagnostic } from "./diagnostics.js";

export type MaybePromise<T> = T | Promise<T>;

// Schemas ------------------------------------------------------------------------------------

export interface AttributeSchema {
  /** The value type. Give exactly one of `type` and `nested`. */
  type?: CtyType;
  /** Nested attributes (an object, or a list/set/map of objects, written as `attr = {...}`). */
  nested?: NestedAttributes;
  description?: string;
  descriptionKind?: "plain" | "markdown";
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  /** Redacted in plan output and CLI. */
  sensitive?: boolean;
  /**
   * Accepted in configuration but never persisted: the server nulls it in every state and plan it
   * returns, and rejects it for engines that do not support write-only attributes.
   */
  writeOnly?: boolean;
  deprecated?: boolean;
  /**
   * Not sent to the engine: a change of this top-level attribute on an existing resource plans a
   * replacement (the server adds it to requires_replace).
   */
  requiresReplace?: boolean;
  /**
   * Not sent to the engine: a computed value that never changes once set (an id, a creation time).
   * The server's default plan keeps it on updates instead of marking it unknown.
   */
  useStateForUnknown?: boolean;
  /**
   * Not sent to the engine: for an optional, computed top-level attribute, the value planned while
   * the configuration leaves it null, so that removing the argument restores it rather than keeping
   * whatever the object has. A function computes it from the configuration and the prior state
   * (e.g. a catalog default that depends on another attribute). The server applies it to the
   * proposed new state before the resource's `plan` sees it.
   */
  default?: CtyValue | ((req: DefaultRequest) => CtyValue);
}

export interface DefaultRequest {
  /** Has unknown values where the configuration does. */
  config: ObjectValue;
  /** null when creating. */
  priorState: ObjectValue | null;
}

export interface NestedAttributes {
  nesting: "single" | "list" | "set" | "map";
  attributes: Record<string, AttributeSchema>;
}

export interface NestedBlockSchema {
  nesting: "single" | "list" | "set" | "map" | "group";
  block: BlockSchema;
  minItems?: number;
  maxItems?: number;
}

export interface BlockSchema {
  attributes: Record<string, AttributeSchema>;
  blocks?: Record<string, NestedBlockSchema>;
  description?: string;
  descriptionKind?: "plain" | "markdown";
  deprecated?: boolean;
}

export interface Schema {
  /** Bump when stored state must be upgraded (see ManagedResource.upgrade). Defaults to 0. */
  version?: number;
  block: BlockSchema;
}

// Requests and results -----------------------------------------------------------------------

export interface ClientCapabilities {
  /** The engine can handle deferred responses. Keyplane never defers. */
  deferralAllowed: boolean;
  /** The engine supports write-only attributes (Terraform/OpenTofu >= 1.11). */
  writeOnlyAttributesAllowed: boolean;
}

/** Common to every call made after ConfigureProvider. */
export interface ConfiguredRequest<P> {
  /** What `configure` returned as `data` (e.g. the API client). */
  provider: P;
  typeName: string;
  /** Aborted when the engine calls StopProvider (e.g. the user pressed Ctrl-C). */
  signal: AbortSignal;
}

/**
 * Result fields shared by every operation. Provider code reports every expected failure here, with
 * the attribute path where one applies; anything it throws is treated as a bug in the provider
 * (the server still turns it into an error diagnostic, and passes a thrown DiagnosticsError's own).
 */
export interface WithDiagnostics {
  diagnostics?: Diagnostic[];
}

export interface ValidateRequest {
  typeName: string;
  /** May contain unknown values (see isUnknown) and nulls for unset attributes. */
  config: ObjectValue;
  clientCapabilities: ClientCapabilities;
}

export interface PlanResourceRequest<P> extends ConfiguredRequest<P> {
  /** null when creating. */
  priorState: ObjectValue | null;
  /** The engine's proposal (config merged with prior computed values); null when destroying. */
  proposedNewState: ObjectValue | null;
  /** null when destroying. Contains write-only values, which never appear in any state. */
  config: ObjectValue | null;
  priorPrivate: Buffer;
  providerMeta: ObjectValue | null;
  clientCapabilities: ClientCapabilities;
}

export interface PlanResourceResult extends WithDiagnostics {
  plannedState: ObjectValue | null;
  requiresReplace?: AttributePath[];
  /** Kept as is (prior private state) when omitted. */
  plannedPrivate?: Uint8Array;
}

export interface ApplyResourceRequest<P> extends ConfiguredRequest<P> {
  priorState: ObjectValue | null;
  /** null when destroying. */
  plannedState: ObjectValue | null;
  config: ObjectValue | null;
  plannedPrivate: Buffer;
  providerMeta: ObjectValue | null;
}

export interface ApplyResourceResult extends WithDiagnostics {
  /** null after a destroy. Must be wholly known. */
  newState: ObjectValue | null;
  /** Kept as is (planned private state) when omitted. */
  private?: Uint8Array;
}

export interface ReadResourceRequest<P> extends ConfiguredRequest<P> {
  currentState: ObjectValue;
  private: Buffer;
  providerMeta: ObjectValue | null;
  clientCapabilities: ClientCapabilities;
}

export interface ReadResourceResult extends WithDiagnostics {
  /** null when the remote object is gone (the engine then plans to create it again). */
  newState: ObjectValue | null;
  /** Kept as is when omitted. */
  private?: Uint8Array;
}

export interface ImportResourceRequest<P> extends ConfiguredRequest<P> {
  /** The user's import ID, e.g. "ORG_ID/CREDENTIAL_ID". */
  id: string;
  clientCapabilities: ClientCapabilities;
}

export interface ImportResourceResult extends WithDiagnostics {
  /** Enough state for `read` to fill in the rest (the engine calls ReadResource next). */
  state: ObjectValue | null;
  private?: Uint8Array;
}

export interface UpgradeResourceRequest {
  typeName: string;
  /** The schema version the stored state was written with. */
  version: number;
  /** The stored state, parsed from JSON, shaped by that older schema. */
  rawState: unknown;
}

export interface UpgradeResourceResult extends WithDiagnostics {
  /** Shaped by the current schema. */
  state: ObjectValue | null;
}

export interface ReadDataSourceRequest<P> extends ConfiguredRequest<P> {
  config: ObjectValue;
  providerMeta: ObjectValue | null;
  clientCapabilities: ClientCapabilities;
}

export interface ReadDataSourceResult extends WithDiagnostics {
  state: ObjectValue;
}

export interface OpenEphemeralRequest<P> extends ConfiguredRequest<P> {
  config: ObjectValue;
  clientCapabilities: ClientCapabilities;
}

export interface OpenEphemeralResult extends WithDiagnostics {
  /** Never stored anywhere by the engine. */
  result: ObjectValue;
  /** Handed back to renew/close (e.g. a lease ID). Must not hold secrets worth more than the result. */
  private?: Uint8Array;
  /** Ask the engine to call renew at this time. */
  renewAt?: Date;
}

export interface RenewEphemeralRequest<P> extends ConfiguredRequest<P> {
  private: Buffer | undefined;
}

export interface RenewEphemeralResult extends WithDiagnostics {
  private?: Uint8Array;
  renewAt?: Date;
}

export interface CloseEphemeralRequest<P> extends ConfiguredRequest<P> {
  private: Buffer | undefined;
}

// Implementations ----------------------------------------------------------------------------

export interface ManagedResource<P = unknown> {
  schema: Schema;
  validate?(req: ValidateRequest): MaybePromise<Diagnostic[] | void>;
  /**
   * Optional. Receives the proposed new state with declared defaults applied. Without it the server
   * plans: destroy -> null; no change -> the prior state; otherwise the proposed new state with the
   * computed attributes the configuration leaves unset (and that have no default) marked unknown
   * (on updates, except `requiresReplace` and `useStateForUnknown` ones). Either way the server
   * then adds `requiresReplace` attributes to requires_replace and nulls write-only ones.
   */
  plan?(req: PlanResourceRequest<P>): MaybePromise<PlanResourceResult>;
  /** Create (priorState null), update, or delete (plannedState null). */
  apply(req: ApplyResourceRequest<P>): MaybePromise<ApplyResourceResult>;
  read(req: ReadResourceRequest<P>): MaybePromise<ReadResourceResult>;
  /** Without it, `terraform import` reports that the resource cannot be imported. */
  import?(req: ImportResourceRequest<P>): MaybePromise<ImportResourceResult>;
  /**
   * Converts state written by an older schema version. Without it, stored JSON is decoded with the
   * current schema (attributes that no longer exist are dropped).
   */
  upgrade?(req: UpgradeResourceRequest): MaybePromise<UpgradeResourceResult>;
}

export interface DataSource<P = unknown> {
  schema: Schema;
  validate?(req: ValidateRequest): MaybePromise<Diagnostic[] | void>;
  read(req: ReadDataSourceRequest<P>): MaybePromise<ReadDataSourceResult>;
}

export interface EphemeralResource<P = unknown> {
  schema: Schema;
  validate?(req: ValidateRequest): MaybePromise<Diagnostic[] | void>;
  open(req: OpenEphemeralRequest<P>): MaybePromise<OpenEphemeralResult>;
  renew?(req: RenewEphemeralRequest<P>): MaybePromise<RenewEphemeralResult>;
  close?(req: CloseEphemeralRequest<P>): MaybePromise<WithDiagnostics | void>;
}

export interface ConfigureRequest {
  /** The provider block; may contain unknowns when it depends on resources not yet created. */
  config: ObjectValue;
  terraformVersion: string;
  clientCapabilities: ClientCapabilities;
}

export interface ConfigureResult<P> extends WithDiagnostics {
  /** Passed to every later resource call as `provider`. */
  data?: P;
}

/**
 * A provider: its configuration schema plus registries keyed by full type name
 * (e.g. "keyplane_credential"). `P` is whatever `configure` hands to resources.
 */
export interface ProviderImplementation<P = unknown> {
  schema: Schema;
  providerMetaSchema?: Schema;
  resources: Record<string, ManagedResource<P>>;
  dataSources: Record<string, DataSource<P>>;
  ephemeralResources: Record<string, EphemeralResource<P>>;
  /** Ask the engine to call plan for destroys too (plan_destroy capability). */
  planDestroy?: boolean;
  validateConfig?(req: { config: ObjectValue }): MaybePromise<Diagnostic[] | void>;
  configure(req: ConfigureRequest): MaybePromise<ConfigureResult<P>>;
  /** Called on StopProvider after in-flight requests' signals are aborted. */
  stop?(): MaybePromise<void>;
}

export type { CtyType, CtyValue, ObjectValue, Diagnostic, AttributePath };
