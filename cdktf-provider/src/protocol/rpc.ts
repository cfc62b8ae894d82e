// tfplugin6.Provider, one handler per RPC: the request's DynamicValues decoded with the schema's
// type, the call made (managed resources through planning.ts, the rest directly), the result
// encoded, with diagnostics and attribute paths in their wire form.
//
// Provider RPCs never fail at the gRPC level for provider-side problems: those become error
// diagnostics, which the engine shows with the attribute path. A response with error diagnostics
// carries nothing else (the engine reads nothing else from it), except ApplyResourceChange, whose
// new state the engine always stores. RPCs not declared in our tfplugin6.proto (list resources,
// actions, state stores, identity upgrades, functions calls…) get gRPC UNIMPLEMENTED from grpc-js,
// which both engines accept for features a provider lacks.
import type * as grpc from "@grpc/grpc-js";
import type { ObjectValue } from "./cty.js";
import { CodecError, decodeDynamicValue, encodeDynamicValue, type DynamicValueMessage } from "./codec.js";
import { diag, DiagnosticsError, hasErrors, toProtoDiagnostic, toProtoPath, type Diagnostic } from "./diagnostics.js";
import type { Logger } from "./logger.js";
import {
  applyResourceChange,
  importable,
  importResourceState,
  planResourceChange,
  readResource,
  upgradeResourceState,
  validateResourceConfig,
} from "./planning.js";
import type { ClientCapabilities, DataSource, EphemeralResource, ManagedResource, ProviderImplementation, Schema, WithDiagnostics } from "./provider-api.js";
import { checkSchema, schemaToProto, schemaType } from "./schema.js";

type Dv = DynamicValueMessage | null;
interface ProtoCapabilities {
  deferral_allowed: boolean;
  write_only_attributes_allowed: boolean;
}

function capabilities(proto: ProtoCapabilities | null | undefined): ClientCapabilities {
  return {
    deferralAllowed: proto?.deferral_allowed ?? false,
    writeOnlyAttributesAllowed: proto?.write_only_attributes_allowed ?? false,
  };
}

function diagnostics(list: readonly Diagnostic[] | void | undefined): object[] {
  return (list ?? []).map(toProtoDiagnostic);
}

/** The response for a result: only its diagnostics when they hold an error, else `fields()` too. */
function respond(result: WithDiagnostics, fields: () => object): object {
  if (hasErrors(result.diagnostics)) return { diagnostics: diagnostics(result.diagnostics) };
  return { ...fields(), diagnostics: diagnostics(result.diagnostics) };
}

/** Turns whatever provider code threw into diagnostics (DiagnosticsError keeps its own). */
function errorDiagnostics(err: unknown, summary: string, log: Logger): Diagnostic[] {
  if (err instanceof DiagnosticsError) return err.diagnostics;
  if (err instanceof CodecError) {
    log.error(summary, { error: err.message });
    return [diag.error(summary, `${err.message}. This is a bug in the Keyplane provider.`, err.path)];
  }
  const message = err instanceof Error ? err.message : String(err);
  log.error(summary, { error: message, stack: err instanceof Error ? err.stack : undefined });
  return [diag.error(summary, message)];
}

function timestamp(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

class Registry<T extends { schema: Schema }> {
  constructor(
    readonly noun: string,
    readonly entries: Record<string, T>,
  ) {}

  /** The entry for a type name; throws the diagnostic the engine shows for an unknown one. */
  get(typeName: string): T {
    const entry = Object.hasOwn(this.entries, typeName) ? this.entries[typeName] : undefined;
    if (entry) return entry;
    throw new DiagnosticsError(
      diag.error(
        `Unknown ${this.noun} type`,
        `The keyplane provider has no ${this.noun} type "${typeName}". Known: ${Object.keys(this.entries).join(", ") || "none"}.`,
      ),
    );
  }

  schemas(): Record<string, object> {
    return Object.fromEntries(Object.entries(this.entries).map(([name, entry]) => [name, schemaToProto(entry.schema)]));
  }
}

export function providerHandlers(provider: ProviderImplementation<unknown>, log: Logger): grpc.UntypedServiceImplementation {
  const resources = new Registry<ManagedResource<unknown>>("resource", provider.resources);
  const dataSources = new Registry<DataSource<unknown>>("data source", provider.dataSources);
  const ephemerals = new Registry<EphemeralResource<unknown>>("ephemeral resource", provider.ephemeralResources);
  const metaType = provider.providerMetaSchema ? schemaType(provider.providerMetaSchema) : undefined;
  const decodeMeta = (dv: Dv) => (metaType ? (decodeDynamicValue(dv, metaType) as ObjectValue | null) : null);
  const decodeObject = (dv: Dv, schema: Schema) => decodeDynamicValue(dv, schemaType(schema)) as ObjectValue | null;
  const encode = (value: ObjectValue | null, schema: Schema) => encodeDynamicValue(value, schemaType(schema));

  let configured: { data: unknown } | undefined;
  let stop = new AbortController();
  const serverCapabilities = {
    plan_destroy: provider.planDestroy ?? false,
    // GetProviderSchema has no side effects, so the engine may reuse a cached copy.
    get_provider_schema_optional: true,
    move_resource_state: false,
    generate_resource_config: false,
  };

  /** Common to every call after ConfigureProvider; throws the diagnostic for calls made before it. */
  const context = (typeName: string) => {
    if (!configured) {
      throw new DiagnosticsError(
        diag.error(
          "Provider not configured",
          "The keyplane provider was asked to work before ConfigureProvider succeeded. Check the provider block and earlier errors.",
        ),
      );
    }
    return { provider: configured.data, typeName, signal: stop.signal };
  };

  let schemaResponse: object | undefined;
  const schemaDiagnostics = (): Diagnostic[] => {
    const problems = [
      ...checkSchema(provider.schema, "provider"),
      ...[resources, dataSources, ephemerals].flatMap((registry: Registry<{ schema: Schema }>) =>
        Object.entries(registry.entries).flatMap(([n, r]) => checkSchema(r.schema, n)),
      ),
    ];
    return problems.map((p) => diag.error("Invalid provider schema", `${p}. This is a bug in the Keyplane provider.`));
  };

  /** Wraps a handler: whatever it throws becomes error diagnostics in the response. */
  const rpc =
    <Req>(name: string, handler: (req: Req) => Promise<object>) =>
    (call: grpc.ServerUnaryCall<Req, object>, callback: grpc.sendUnaryData<object>) => {
      log.trace(`${name} called`);
      handler(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => callback(null, { diagnostics: diagnostics(errorDiagnostics(err, `${name} failed`, log)) }),
      );
    };

  /** Validation of a data source or ephemeral resource, whose requests carry no capabilities. */
  const validateWithoutCapabilities = async (entry: DataSource<unknown> | EphemeralResource<unknown>, req: { type_name: string; config: Dv }) => {
    const config = decodeObject(req.config, entry.schema) ?? {};
    return { diagnostics: diagnostics(await entry.validate?.({ typeName: req.type_name, config, clientCapabilities: capabilities(undefined) })) };
  };

  const ephemeralLease = (result: { private?: Uint8Array; renewAt?: Date }) => ({
    ...(result.private ? { private: result.private } : {}),
    ...(result.renewAt ? { renew_at: timestamp(result.renewAt) } : {}),
  });

  return {
    GetMetadata: rpc("GetMetadata", async () => ({
      server_capabilities: serverCapabilities,
      resources: Object.keys(provider.resources).map((type_name) => ({ type_name })),
      data_sources: Object.keys(provider.dataSources).map((type_name) => ({ type_name })),
      ephemeral_resources: Object.keys(provider.ephemeralResources).map((type_name) => ({ type_name })),
      functions: [],
      diagnostics: [],
    })),

    GetProviderSchema: rpc("GetProviderSchema", async () => {
      schemaResponse ??= {
        provider: schemaToProto(provider.schema),
        ...(provider.providerMetaSchema ? { provider_meta: schemaToProto(provider.providerMetaSchema) } : {}),
        resource_schemas: resources.schemas(),
        data_source_schemas: dataSources.schemas(),
        ephemeral_resource_schemas: ephemerals.schemas(),
        functions: {},
        server_capabilities: serverCapabilities,
        diagnostics: diagnostics(schemaDiagnostics()),
      };
      return schemaResponse;
    }),

    // Terraform asks for these with every schema; Keyplane resources have no identities.
    GetResourceIdentitySchemas: rpc("GetResourceIdentitySchemas", async () => ({ identity_schemas: {}, diagnostics: [] })),
    GetFunctions: rpc("GetFunctions", async () => ({ functions: {}, diagnostics: [] })),

    ValidateProviderConfig: rpc<{ config: Dv }>("ValidateProviderConfig", async (req) => {
      const config = decodeObject(req.config, provider.schema) ?? {};
      return { diagnostics: diagnostics(await provider.validateConfig?.({ config })) };
    }),

    ConfigureProvider: rpc<{ terraform_version: string; config: Dv; client_capabilities: ProtoCapabilities | null }>("ConfigureProvider", async (req) => {
      const config = decodeObject(req.config, provider.schema) ?? {};
      const result = await provider.configure({
        config,
        terraformVersion: req.terraform_version,
        clientCapabilities: capabilities(req.client_capabilities),
      });
      if (!hasErrors(result.diagnostics)) configured = { data: result.data };
      return { diagnostics: diagnostics(result.diagnostics) };
    }),

    ValidateResourceConfig: rpc<{ type_name: string; config: Dv; client_capabilities: ProtoCapabilities | null }>("ValidateResourceConfig", async (req) => {
      const res = resources.get(req.type_name);
      const config = decodeObject(req.config, res.schema) ?? {};
      const caps = capabilities(req.client_capabilities);
      return { diagnostics: diagnostics(await validateResourceConfig(res, { typeName: req.type_name, config, clientCapabilities: caps })) };
    }),

    ValidateDataResourceConfig: rpc<{ type_name: string; config: Dv }>("ValidateDataResourceConfig", async (req) =>
      validateWithoutCapabilities(dataSources.get(req.type_name), req),
    ),

    ValidateEphemeralResourceConfig: rpc<{ type_name: string; config: Dv }>("ValidateEphemeralResourceConfig", async (req) =>
      validateWithoutCapabilities(ephemerals.get(req.type_name), req),
    ),

    UpgradeResourceState: rpc<{ type_name: string; version: number; raw_state: { json: Buffer; flatmap: Record<string, string> } | null }>(
      "UpgradeResourceState",
      async (req) => {
        const res = resources.get(req.type_name);
        const result = await upgradeResourceState(res, {
          typeName: req.type_name,
          version: req.version,
          json: req.raw_state?.json,
          flatmap: req.raw_state?.flatmap,
        });
        return respond(result, () => ({ upgraded_state: encode(result.state, res.schema) }));
      },
    ),

    ReadResource: rpc<{ type_name: string; current_state: Dv; private: Buffer; provider_meta: Dv; client_capabilities: ProtoCapabilities | null }>(
      "ReadResource",
      async (req) => {
        const res = resources.get(req.type_name);
        const result = await readResource(res, {
          ...context(req.type_name),
          currentState: decodeObject(req.current_state, res.schema),
          private: req.private,
          providerMeta: decodeMeta(req.provider_meta),
          clientCapabilities: capabilities(req.client_capabilities),
        });
        return respond(result, () => ({ new_state: encode(result.newState, res.schema), private: result.private ?? req.private }));
      },
    ),

    PlanResourceChange: rpc<{
      type_name: string;
      prior_state: Dv;
      proposed_new_state: Dv;
      config: Dv;
      prior_private: Buffer;
      provider_meta: Dv;
      client_capabilities: ProtoCapabilities | null;
    }>("PlanResourceChange", async (req) => {
      const res = resources.get(req.type_name);
      const result = await planResourceChange(res, {
        ...context(req.type_name),
        priorState: decodeObject(req.prior_state, res.schema),
        proposedNewState: decodeObject(req.proposed_new_state, res.schema),
        config: decodeObject(req.config, res.schema),
        priorPrivate: req.prior_private,
        providerMeta: decodeMeta(req.provider_meta),
        clientCapabilities: capabilities(req.client_capabilities),
      });
      return respond(result, () => ({
        planned_state: encode(result.plannedState, res.schema),
        requires_replace: (result.requiresReplace ?? []).map(toProtoPath),
        planned_private: result.plannedPrivate ?? req.prior_private,
      }));
    }),

    ApplyResourceChange: rpc<{
      type_name: string;
      prior_state: Dv;
      planned_state: Dv;
      config: Dv;
      planned_private: Buffer;
      provider_meta: Dv;
    }>("ApplyResourceChange", async (req) => {
      const res = resources.get(req.type_name);
      const ctx = context(req.type_name);
      const priorState = decodeObject(req.prior_state, res.schema);
      let result;
      try {
        result = await applyResourceChange(res, {
          ...ctx,
          priorState,
          plannedState: decodeObject(req.planned_state, res.schema),
          config: decodeObject(req.config, res.schema),
          plannedPrivate: req.planned_private,
          providerMeta: decodeMeta(req.provider_meta),
        });
      } catch (err) {
        // A failed apply must still return a state: the prior one, so nothing is forgotten.
        return {
          new_state: encode(priorState, res.schema),
          private: req.planned_private,
          diagnostics: diagnostics(errorDiagnostics(err, "ApplyResourceChange failed", log)),
        };
      }
      return {
        new_state: encode(result.newState, res.schema),
        private: result.private ?? req.planned_private,
        diagnostics: diagnostics(result.diagnostics),
      };
    }),

    ImportResourceState: rpc<{ type_name: string; id: string; client_capabilities: ProtoCapabilities | null }>("ImportResourceState", async (req) => {
      const res = resources.get(req.type_name);
      if (!importable(res)) {
        return { diagnostics: diagnostics([diag.error("Import not supported", `${req.type_name} resources cannot be imported.`)]) };
      }
      const result = await importResourceState(res, {
        ...context(req.type_name),
        id: req.id,
        clientCapabilities: capabilities(req.client_capabilities),
      });
      const state = result.state;
      if (state === null) return { diagnostics: diagnostics(result.diagnostics) };
      return respond(result, () => ({
        imported_resources: [{ type_name: req.type_name, state: encode(state, res.schema), private: result.private ?? Buffer.alloc(0) }],
      }));
    }),

    MoveResourceState: rpc<{ source_type_name: string; target_type_name: string }>("MoveResourceState", async (req) => ({
      diagnostics: diagnostics([
        diag.error(
          "Moving resources between types is not supported",
          `The keyplane provider cannot turn a ${req.source_type_name} into a ${req.target_type_name}. Remove the moved block and import the object instead.`,
        ),
      ]),
    })),

    ReadDataSource: rpc<{ type_name: string; config: Dv; provider_meta: Dv; client_capabilities: ProtoCapabilities | null }>("ReadDataSource", async (req) => {
      const ds = dataSources.get(req.type_name);
      const result = await ds.read({
        ...context(req.type_name),
        config: decodeObject(req.config, ds.schema) ?? {},
        providerMeta: decodeMeta(req.provider_meta),
        clientCapabilities: capabilities(req.client_capabilities),
      });
      return respond(result, () => ({ state: encode(result.state, ds.schema) }));
    }),

    OpenEphemeralResource: rpc<{ type_name: string; config: Dv; client_capabilities: ProtoCapabilities | null }>("OpenEphemeralResource", async (req) => {
      const er = ephemerals.get(req.type_name);
      const result = await er.open({
        ...context(req.type_name),
        config: decodeObject(req.config, er.schema) ?? {},
        clientCapabilities: capabilities(req.client_capabilities),
      });
      return respond(result, () => ({ result: encode(result.result, er.schema), ...ephemeralLease(result) }));
    }),

    RenewEphemeralResource: rpc<{ type_name: string; private?: Buffer }>("RenewEphemeralResource", async (req) => {
      const er = ephemerals.get(req.type_name);
      if (!er.renew) return { diagnostics: [] };
      const result = await er.renew({ ...context(req.type_name), private: req.private });
      return { ...ephemeralLease(result), diagnostics: diagnostics(result.diagnostics) };
    }),

    CloseEphemeralResource: rpc<{ type_name: string; private?: Buffer }>("CloseEphemeralResource", async (req) => {
      const er = ephemerals.get(req.type_name);
      if (!er.close) return { diagnostics: [] };
      const result = await er.close({ ...context(req.type_name), private: req.private });
      return { diagnostics: diagnostics(result?.diagnostics) };
    }),

    StopProvider: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      log.debug("StopProvider called");
      // In-flight operations hold the aborted signal; calls the engine still makes get a fresh one.
      const stopped = stop;
      stop = new AbortController();
      stopped.abort(new Error("stopped by OpenTofu/Terraform"));
      Promise.resolve(provider.stop?.()).then(
        () => callback(null, { Error: "" }),
        (err: unknown) => callback(null, { Error: err instanceof Error ? err.message : String(err) }),
      );
    },
  };
}
