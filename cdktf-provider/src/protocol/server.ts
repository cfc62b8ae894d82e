// The plugin's gRPC server: tfplugin6.Provider (delegating to a ProviderImplementation with
// decoded values), go-plugin's GRPCStdio / GRPCController / GRPCBroker, and grpc.health.v1.
//
// Provider RPCs never fail at the gRPC level for provider-side problems: those become error
// diagnostics, which the engine shows with the attribute path. RPCs not declared in our
// tfplugin6.proto (list resources, actions, state stores, identity upgrades, functions calls…)
// get gRPC UNIMPLEMENTED from grpc-js, which both engines accept for features a provider lacks.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import protobuf from "protobufjs/light.js";
import { ctyEqual, type CtyType, type CtyValue, type ObjectValue } from "./cty.js";
import { CodecError, decodeDynamicValue, decodeJsonValue, encodeDynamicValue, type DynamicValueMessage } from "./codec.js";
import { diag, DiagnosticsError, hasErrors, toProtoDiagnostic, toProtoPath, type AttributePath, type Diagnostic } from "./diagnostics.js";
import type { Logger } from "./logger.js";
import type { ClientCapabilities, DataSource, EphemeralResource, ManagedResource, PlanResourceResult, ProviderImplementation, Schema } from "./provider-api.js";
import { attributeType, checkSchema, impliedType, markComputedUnknown, nullWriteOnly, schemaToProto, writeOnlyPathsSet } from "./schema.js";

// The .proto files as a protobufjs JSON descriptor (cdktf-provider/scripts/gen-protocol-json.mjs):
// parsing the .proto text and building @grpc/proto-loader's reflection descriptors, which this
// server never uses, took about a third of each plugin start (three starts per plan).
const PROTOCOL_JSON = new URL("./proto/protocol.json", import.meta.url);
const SERVICES = ["tfplugin6.Provider", "plugin.GRPCStdio", "plugin.GRPCController", "plugin.GRPCBroker", "grpc.health.v1.Health"];

/**
 * Decoded messages are plain objects with the .proto field names, enums as names, bytes as
 * Buffers and every field present. int64 fields (schema versions, min/max items, list indexes in
 * attribute paths) are read as JS numbers: they never come near 2^53, and numbers keep provider
 * code free of Long objects.
 */
const MESSAGE_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true };

// In Node protobufjs writes into Buffers, which is what grpc-js sends.
const serialize = (type: protobuf.Type) => (value: object) => type.encode(type.fromObject(value)).finish() as Buffer;
const deserialize = (type: protobuf.Type) => (bytes: Buffer) => type.toObject(type.decode(bytes), MESSAGE_OPTIONS);

/** What @grpc/proto-loader would make of the method, less the reflection data nothing here reads. */
function methodDefinition(serviceName: string, method: protobuf.Method): grpc.MethodDefinition<object, object> {
  method.resolve();
  const request = method.resolvedRequestType!;
  const response = method.resolvedResponseType!;
  return {
    path: `/${serviceName}/${method.name}`,
    requestStream: Boolean(method.requestStream),
    responseStream: Boolean(method.responseStream),
    requestSerialize: serialize(request),
    requestDeserialize: deserialize(request),
    responseSerialize: serialize(response),
    responseDeserialize: deserialize(response),
  };
}

export function loadProtocolPackage(): grpc.GrpcObject {
  const root = protobuf.Root.fromJSON(JSON.parse(readFileSync(PROTOCOL_JSON, "utf8")) as protobuf.INamespace);
  const definition: Parameters<typeof grpc.loadPackageDefinition>[0] = {};
  for (const name of SERVICES) {
    const service = root.lookupService(name);
    definition[name] = Object.fromEntries(service.methodsArray.map((method) => [method.name, methodDefinition(name, method)]));
  }
  return grpc.loadPackageDefinition(definition);
}

type ServiceClient = grpc.ServiceClientConstructor;

function service(pkg: grpc.GrpcObject, path: string): grpc.ServiceDefinition {
  let node: unknown = pkg;
  for (const part of path.split(".")) node = (node as Record<string, unknown>)[part];
  return (node as ServiceClient).service;
}

export interface TlsConfig {
  /** PLUGIN_CLIENT_CERT: the only certificate clients may present. */
  clientCertPem: string;
  certPem: string;
  keyPem: string;
}

export interface PluginServer {
  readonly grpcServer: grpc.Server;
  /** Binds 127.0.0.1 on the first free port of `ports` (0 = any) and returns the port. */
  listen(ports: number[], tls?: TlsConfig): Promise<number>;
  /** Ends open streams, stops the server, then calls onShutdown. */
  shutdown(): Promise<void>;
}

export interface PluginServerOptions {
  log: Logger;
  /** Called once the server has stopped after GRPCController/Shutdown (the process exits there). */
  onShutdown?: () => void;
}

export function createPluginServer(provider: ProviderImplementation<unknown>, options: PluginServerOptions): PluginServer {
  const { log } = options;
  const pkg = loadProtocolPackage();
  const server = new grpc.Server({
    // Matches terraform-plugin-go: schemas and states can be large.
    "grpc.max_receive_message_length": 256 << 20,
    "grpc.max_send_message_length": 256 << 20,
    // Nobody queries channelz in a plugin; its per-call bookkeeping is pure overhead here.
    "grpc.enable_channelz": 0,
  });
  const openStreams = new Set<grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>>();
  const track = (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => {
    openStreams.add(call);
    call.on("cancelled", () => openStreams.delete(call));
    call.on("close", () => openStreams.delete(call));
  };

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      for (const call of openStreams) call.end();
      openStreams.clear();
      const force = setTimeout(() => server.forceShutdown(), 2000);
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }).then(() => options.onShutdown?.());
    return stopping;
  };

  server.addService(service(pkg, "tfplugin6.Provider"), providerHandlers(provider, log));
  server.addService(service(pkg, "plugin.GRPCStdio"), {
    // Our output goes to the real stderr, which go-plugin also reads; the stream only stays open.
    StreamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => track(call),
  });
  server.addService(service(pkg, "plugin.GRPCController"), {
    Shutdown: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
      log.debug("shutdown requested");
      callback(null, {});
      setImmediate(() => void shutdown());
    },
  });
  server.addService(service(pkg, "plugin.GRPCBroker"), {
    // Providers open no extra connections; the engine still opens the broker stream.
    StartStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      track(call);
      call.on("data", () => {});
      call.on("end", () => call.end());
    },
  });
  const healthy = (name: string) => name === "" || name === "plugin";
  server.addService(service(pkg, "grpc.health.v1.Health"), {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, object>, callback: grpc.sendUnaryData<object>) => {
      if (healthy(call.request.service)) callback(null, { status: "SERVING" });
      else callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, object>) => {
      track(call);
      call.write({ status: healthy(call.request.service) ? "SERVING" : "SERVICE_UNKNOWN" });
    },
  });

  return {
    grpcServer: server,
    async listen(ports, tls) {
      const credentials = tls
        ? grpc.ServerCredentials.createSsl(
            Buffer.from(tls.clientCertPem),
            [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }],
            true, // require and verify the client's certificate against PLUGIN_CLIENT_CERT
          )
        : grpc.ServerCredentials.createInsecure();
      let lastError: Error | undefined;
      for (const port of ports) {
        try {
          return await new Promise<number>((resolve, reject) =>
            server.bindAsync(`127.0.0.1:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
          );
        } catch (err) {
          lastError = err as Error;
        }
      }
      throw new Error(`could not bind a port on 127.0.0.1 (${ports.length} tried): ${lastError?.message}`);
    },
    shutdown,
  };
}

// ---------------------------------------------------------------------------------------------
// tfplugin6.Provider

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

class Kind<T extends { schema: Schema }> {
  constructor(
    readonly noun: string,
    readonly registry: Record<string, T>,
  ) {}

  lookup(typeName: string): T | Diagnostic {
    const entry = Object.hasOwn(this.registry, typeName) ? this.registry[typeName] : undefined;
    if (entry) return entry;
    return diag.error(
      `Unknown ${this.noun} type`,
      `The keyplane provider has no ${this.noun} type "${typeName}". Known: ${Object.keys(this.registry).join(", ") || "none"}.`,
    );
  }
}

function isDiagnostic(x: unknown): x is Diagnostic {
  return typeof x === "object" && x !== null && "severity" in x && "summary" in x;
}

function providerHandlers(provider: ProviderImplementation<unknown>, log: Logger): grpc.UntypedServiceImplementation {
  const resources = new Kind<ManagedResource<unknown>>("resource", provider.resources);
  const dataSources = new Kind<DataSource<unknown>>("data source", provider.dataSources);
  const ephemerals = new Kind<EphemeralResource<unknown>>("ephemeral resource", provider.ephemeralResources);
  const types = new WeakMap<Schema, CtyType>();
  const typeOf = (schema: Schema): CtyType => {
    let type = types.get(schema);
    if (!type) types.set(schema, (type = impliedType(schema.block)));
    return type;
  };
  const metaType = provider.providerMetaSchema ? typeOf(provider.providerMetaSchema) : undefined;
  const decodeMeta = (dv: Dv) => (metaType ? (decodeDynamicValue(dv, metaType) as ObjectValue | null) : null);
  const decodeObject = (dv: Dv, schema: Schema) => decodeDynamicValue(dv, typeOf(schema)) as ObjectValue | null;
  const encode = (value: CtyValue, schema: Schema) => encodeDynamicValue(value, typeOf(schema));

  let configured: { data: unknown } | undefined;
  let stop = new AbortController();
  const serverCapabilities = {
    plan_destroy: provider.planDestroy ?? false,
    // GetProviderSchema has no side effects, so the engine may reuse a cached copy.
    get_provider_schema_optional: true,
    move_resource_state: false,
    generate_resource_config: false,
  };

  const notConfigured = diag.error(
    "Provider not configured",
    "The keyplane provider was asked to work before ConfigureProvider succeeded. Check the provider block and earlier errors.",
  );
  const context = (typeName: string) => ({ provider: configured!.data, typeName, signal: stop.signal });

  let schemaResponse: object | undefined;
  const schemaDiagnostics = (): Diagnostic[] => {
    const problems = [
      ...checkSchema(provider.schema, "provider"),
      ...Object.entries(provider.resources).flatMap(([n, r]) => checkSchema(r.schema, n)),
      ...Object.entries(provider.dataSources).flatMap(([n, r]) => checkSchema(r.schema, n)),
      ...Object.entries(provider.ephemeralResources).flatMap(([n, r]) => checkSchema(r.schema, n)),
    ];
    return problems.map((p) => diag.error("Invalid provider schema", `${p}. This is a bug in the Keyplane provider.`));
  };
  const schemaMap = (registry: Record<string, { schema: Schema }>) =>
    Object.fromEntries(Object.entries(registry).map(([name, entry]) => [name, schemaToProto(entry.schema)]));

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

  const writeOnlyNotAllowed = (schema: Schema, config: ObjectValue | null, caps: ClientCapabilities): Diagnostic[] =>
    caps.writeOnlyAttributesAllowed
      ? []
      : writeOnlyPathsSet(schema.block, config).map((path) =>
          diag.error(
            "Write-only attribute not supported",
            "This attribute is write-only, which needs OpenTofu or Terraform 1.11 or later. Upgrade, or remove the attribute.",
            path,
          ),
        );

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
        resource_schemas: schemaMap(provider.resources),
        data_source_schemas: schemaMap(provider.dataSources),
        ephemeral_resource_schemas: schemaMap(provider.ephemeralResources),
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
      const res = resources.lookup(req.type_name);
      if (isDiagnostic(res)) return { diagnostics: diagnostics([res]) };
      const config = decodeObject(req.config, res.schema) ?? {};
      const caps = capabilities(req.client_capabilities);
      const own = (await res.validate?.({ typeName: req.type_name, config, clientCapabilities: caps })) ?? [];
      return { diagnostics: diagnostics([...writeOnlyNotAllowed(res.schema, config, caps), ...own]) };
    }),

    ValidateDataResourceConfig: rpc<{ type_name: string; config: Dv }>("ValidateDataResourceConfig", async (req) => {
      const ds = dataSources.lookup(req.type_name);
      if (isDiagnostic(ds)) return { diagnostics: diagnostics([ds]) };
      const config = decodeObject(req.config, ds.schema) ?? {};
      const caps = capabilities(undefined); // this request carries none
      return { diagnostics: diagnostics(await ds.validate?.({ typeName: req.type_name, config, clientCapabilities: caps })) };
    }),

    ValidateEphemeralResourceConfig: rpc<{ type_name: string; config: Dv }>("ValidateEphemeralResourceConfig", async (req) => {
      const er = ephemerals.lookup(req.type_name);
      if (isDiagnostic(er)) return { diagnostics: diagnostics([er]) };
      const config = decodeObject(req.config, er.schema) ?? {};
      const caps = capabilities(undefined); // this request carries none
      return { diagnostics: diagnostics(await er.validate?.({ typeName: req.type_name, config, clientCapabilities: caps })) };
    }),

    UpgradeResourceState: rpc<{ type_name: string; version: number; raw_state: { json: Buffer; flatmap: Record<string, string> } | null }>(
      "UpgradeResourceState",
      async (req) => {
        const res = resources.lookup(req.type_name);
        if (isDiagnostic(res)) return { diagnostics: diagnostics([res]) };
        const current = res.schema.version ?? 0;
        const json = req.raw_state?.json;
        if (!json || json.length === 0) {
          if (Object.keys(req.raw_state?.flatmap ?? {}).length > 0) {
            return {
              diagnostics: diagnostics([
                diag.error("Unsupported state format", "This state uses the flatmap format of Terraform 0.11, which the keyplane provider never wrote."),
              ]),
            };
          }
          return { upgraded_state: encode(null, res.schema), diagnostics: [] };
        }
        if (req.version > current) {
          return {
            diagnostics: diagnostics([
              diag.error(
                "State written by a newer provider",
                `This ${req.type_name} was stored by a keyplane provider with schema version ${req.version}; this one knows version ${current}. Upgrade the provider.`,
              ),
            ]),
          };
        }
        const rawState: unknown = JSON.parse(json.toString("utf8"));
        let state: ObjectValue | null;
        let own: Diagnostic[] = [];
        if (req.version < current && res.upgrade) {
          const result = await res.upgrade({ typeName: req.type_name, version: req.version, rawState });
          state = result.state;
          own = result.diagnostics ?? [];
        } else {
          state = decodeJsonValue(rawState, typeOf(res.schema), { ignoreUndefinedAttributes: true }) as ObjectValue | null;
        }
        if (hasErrors(own)) return { diagnostics: diagnostics(own) };
        return { upgraded_state: encode(nullWriteOnly(res.schema.block, state), res.schema), diagnostics: diagnostics(own) };
      },
    ),

    ReadResource: rpc<{ type_name: string; current_state: Dv; private: Buffer; provider_meta: Dv; client_capabilities: ProtoCapabilities | null }>(
      "ReadResource",
      async (req) => {
        const res = resources.lookup(req.type_name);
        if (isDiagnostic(res)) return { diagnostics: diagnostics([res]) };
        if (!configured) return { diagnostics: diagnostics([notConfigured]) };
        const currentState = decodeObject(req.current_state, res.schema);
        if (currentState === null) return { new_state: encode(null, res.schema), private: req.private, diagnostics: [] };
        const result = await res.read({
          ...context(req.type_name),
          currentState,
          private: req.private,
          providerMeta: decodeMeta(req.provider_meta),
          clientCapabilities: capabilities(req.client_capabilities),
        });
        if (hasErrors(result.diagnostics)) return { diagnostics: diagnostics(result.diagnostics) };
        return {
          new_state: encode(nullWriteOnly(res.schema.block, result.newState), res.schema),
          private: result.private ?? req.private,
          diagnostics: diagnostics(result.diagnostics),
        };
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
      const res = resources.lookup(req.type_name);
      if (isDiagnostic(res)) return { diagnostics: diagnostics([res]) };
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
      const block = res.schema.block;
      const type = typeOf(res.schema);
      const priorState = decodeObject(req.prior_state, res.schema);
      const proposedNewState = decodeObject(req.proposed_new_state, res.schema);
      const config = decodeObject(req.config, res.schema);

      let result: PlanResourceResult;
      if (res.plan) {
        result = await res.plan({
          ...context(req.type_name),
          priorState,
          proposedNewState,
          config,
          priorPrivate: req.prior_private,
          providerMeta: decodeMeta(req.provider_meta),
          clientCapabilities: capabilities(req.client_capabilities),
        });
      } else if (proposedNewState === null) {
        result = { plannedState: null };
      } else if (priorState !== null && ctyEqual(nullWriteOnly(block, proposedNewState), priorState, type)) {
        result = { plannedState: priorState };
      } else {
        result = { plannedState: markComputedUnknown(block, proposedNewState, config ?? {}, priorState !== null) };
      }
      if (hasErrors(result.diagnostics)) return { diagnostics: diagnostics(result.diagnostics) };

      const planned = result.plannedState;
      const requiresReplace: AttributePath[] = [...(result.requiresReplace ?? [])];
      if (priorState !== null && planned !== null) {
        for (const [name, attr] of Object.entries(block.attributes)) {
          if (!attr.requiresReplace || requiresReplace.some((p) => p.length === 1 && p[0] === name)) continue;
          if (!ctyEqual(priorState[name] ?? null, planned[name] ?? null, attributeType(attr))) requiresReplace.push([name]);
        }
      }
      return {
        planned_state: encode(nullWriteOnly(block, planned), res.schema),
        requires_replace: requiresReplace.map(toProtoPath),
        planned_private: result.plannedPrivate ?? req.prior_private,
        diagnostics: diagnostics(result.diagnostics),
      };
    }),

    ApplyResourceChange: rpc<{
      type_name: string;
      prior_state: Dv;
      planned_state: Dv;
      config: Dv;
      planned_private: Buffer;
      provider_meta: Dv;
    }>("ApplyResourceChange", async (req) => {
      const res = resources.lookup(req.type_name);
      if (isDiagnostic(res)) return { diagnostics: diagnostics([res]) };
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
      const priorState = decodeObject(req.prior_state, res.schema);
      let result;
      try {
        result = await res.apply({
          ...context(req.type_name),
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
        new_state: encode(nullWriteOnly(res.schema.block, result.newState), res.schema),
        private: result.private ?? req.planned_private,
        diagnostics: diagnostics(result.diagnostics),
      };
    }),

    ImportResourceState: rpc<{ type_name: string; id: string; client_capabilities: ProtoCapabilities | null }>("ImportResourceState", async (req) => {
      const res = resources.lookup(req.type_name);
      if (isDiagnostic(res)) return { diagnostics: diagnostics([res]) };
      if (!res.import) {
        return {
          diagnostics: diagnostics([diag.error("Import not supported", `${req.type_name} resources cannot be imported.`)]),
        };
      }
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
      const result = await res.import({
        ...context(req.type_name),
        id: req.id,
        clientCapabilities: capabilities(req.client_capabilities),
      });
      if (hasErrors(result.diagnostics) || result.state === null) return { diagnostics: diagnostics(result.diagnostics) };
      return {
        imported_resources: [
          {
            type_name: req.type_name,
            state: encode(nullWriteOnly(res.schema.block, result.state), res.schema),
            private: result.private ?? Buffer.alloc(0),
          },
        ],
        diagnostics: diagnostics(result.diagnostics),
      };
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
      const ds = dataSources.lookup(req.type_name);
      if (isDiagnostic(ds)) return { diagnostics: diagnostics([ds]) };
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
      const result = await ds.read({
        ...context(req.type_name),
        config: decodeObject(req.config, ds.schema) ?? {},
        providerMeta: decodeMeta(req.provider_meta),
        clientCapabilities: capabilities(req.client_capabilities),
      });
      if (hasErrors(result.diagnostics)) return { diagnostics: diagnostics(result.diagnostics) };
      return { state: encode(result.state, ds.schema), diagnostics: diagnostics(result.diagnostics) };
    }),

    OpenEphemeralResource: rpc<{ type_name: string; config: Dv; client_capabilities: ProtoCapabilities | null }>("OpenEphemeralResource", async (req) => {
      const er = ephemerals.lookup(req.type_name);
      if (isDiagnostic(er)) return { diagnostics: diagnostics([er]) };
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
      const result = await er.open({
        ...context(req.type_name),
        config: decodeObject(req.config, er.schema) ?? {},
        clientCapabilities: capabilities(req.client_capabilities),
      });
      if (hasErrors(result.diagnostics)) return { diagnostics: diagnostics(result.diagnostics) };
      return {
        result: encode(result.result, er.schema),
        ...(result.private ? { private: result.private } : {}),
        ...(result.renewAt ? { renew_at: timestamp(result.renewAt) } : {}),
        diagnostics: diagnostics(result.diagnostics),
      };
    }),

    RenewEphemeralResource: rpc<{ type_name: string; private?: Buffer }>("RenewEphemeralResource", async (req) => {
      const er = ephemerals.lookup(req.type_name);
      if (isDiagnostic(er)) return { diagnostics: diagnostics([er]) };
      if (!er.renew) return { diagnostics: [] };
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
      const result = await er.renew({ ...context(req.type_name), private: req.private });
      return {
        ...(result.private ? { private: result.private } : {}),
        ...(result.renewAt ? { renew_at: timestamp(result.renewAt) } : {}),
        diagnostics: diagnostics(result.diagnostics),
      };
    }),

    CloseEphemeralResource: rpc<{ type_name: string; private?: Buffer }>("CloseEphemeralResource", async (req) => {
      const er = ephemerals.lookup(req.type_name);
      if (isDiagnostic(er)) return { diagnostics: diagnostics([er]) };
      if (!er.close) return { diagnostics: [] };
      if (!configured) return { diagnostics: diagnostics([notConfigured]) };
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

function timestamp(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
