// The transport: the gRPC server the engine connects to (127.0.0.1, mutual TLS when the engine
// asks for it), serving tfplugin6.Provider (rpc.ts) beside go-plugin's GRPCStdio / GRPCController /
// GRPCBroker and grpc.health.v1, and shutting down when GRPCController/Shutdown says so. It does
// not bind a port itself: it serves the connections of a listener (listener.ts) that was bound,
// and announced in the handshake line, before this module and grpc-js were loaded.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import * as sea from "node:sea";
import type { IConversionOptions, IMethod, INamespace, IService } from "protobufjs";
import { listen, type PluginListener } from "./listener.js";
import codecs from "./proto/protocol-codec.cjs";
import type { Logger } from "./logger.js";
import type { ProviderImplementation } from "./provider-api.js";
import { providerHandlers } from "./rpc.js";

// The .proto files as a protobufjs JSON descriptor (cdktf-provider/scripts/gen-protocol.mjs), for
// the services' methods: parsing the .proto text and building @grpc/proto-loader's reflection
// descriptors, which this server never uses, took about a third of each plugin start (three
// starts per plan). The packaged executable (npm run build:provider) carries it as an asset.
function protocolDescriptor(): string {
  return sea.isSea() ? sea.getAsset("protocol.json", "utf8") : readFileSync(new URL("./proto/protocol.json", import.meta.url), "utf8");
}
const SERVICES = ["tfplugin6.Provider", "plugin.GRPCStdio", "plugin.GRPCController", "plugin.GRPCBroker", "grpc.health.v1.Health"];

/**
 * Decoded messages are plain objects with the .proto field names, enums as names, bytes as
 * Buffers and every field present. int64 fields (schema versions, min/max items, list indexes in
 * attribute paths) are read as JS numbers: they never come near 2^53, and numbers keep provider
 * code free of Long objects.
 */
const MESSAGE_OPTIONS: IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true };

/** A message class of protocol-codec.cjs: protobufjs static code, generated with the descriptor. */
interface MessageCodec {
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  fromObject(value: object): object;
  toObject(message: object, options: IConversionOptions): object;
}

/**
 * The message class a method names, looked up as protobufjs resolves a type name: in the
 * service's package, then in each enclosing one. Static code instead of protobufjs reflection:
 * building the reflection and generating its (de)serializers took ~10 ms of each plugin start, and
 * functions generated at run time are out of reach of the executable's code cache.
 */
function messageCodec(packagePath: string[], typeName: string): MessageCodec {
  const absolute = typeName.startsWith(".");
  const name = (absolute ? typeName.slice(1) : typeName).split(".");
  for (let depth = absolute ? 0 : packagePath.length; depth >= 0; depth--) {
    let node: unknown = codecs;
    for (const part of [...packagePath.slice(0, depth), ...name]) node = (node as Record<string, unknown> | undefined)?.[part];
    if (typeof node === "function" && "decode" in node) return node as unknown as MessageCodec;
  }
  throw new Error(`protocol-codec.cjs has no message ${typeName} (regenerate with node cdktf-provider/scripts/gen-protocol.mjs)`);
}

// In Node protobufjs writes into Buffers, which is what grpc-js sends.
const serialize = (codec: MessageCodec) => (value: object) => codec.encode(codec.fromObject(value)).finish() as Buffer;
const deserialize = (codec: MessageCodec) => (bytes: Buffer) => codec.toObject(codec.decode(bytes), MESSAGE_OPTIONS);

/** What @grpc/proto-loader would make of the method, less the reflection data nothing here reads. */
function methodDefinition(serviceName: string, methodName: string, json: IMethod): grpc.MethodDefinition<object, object> {
  const packagePath = serviceName.split(".").slice(0, -1);
  const [request, response] = [messageCodec(packagePath, json.requestType), messageCodec(packagePath, json.responseType)];
  return {
    path: `/${serviceName}/${methodName}`,
    requestStream: Boolean(json.requestStream),
    responseStream: Boolean(json.responseStream),
    requestSerialize: serialize(request),
    requestDeserialize: deserialize(request),
    responseSerialize: serialize(response),
    responseDeserialize: deserialize(response),
  };
}

/** The services' definitions, from the descriptor's JSON and the static codecs (no protobufjs reflection). */
function serviceDefinitions(): Record<string, grpc.ServiceDefinition> {
  const descriptor = JSON.parse(protocolDescriptor()) as INamespace;
  const definitions: Record<string, grpc.ServiceDefinition> = {};
  for (const name of SERVICES) {
    let node = descriptor;
    for (const part of name.split(".")) node = node.nested![part];
    const methods = (node as IService).methods;
    definitions[name] = Object.fromEntries(Object.entries(methods).map(([method, json]) => [method, methodDefinition(name, method, json)]));
  }
  return definitions;
}

/** The services as client constructors (what tests connect with). */
export function loadProtocolPackage(): grpc.GrpcObject {
  return grpc.loadPackageDefinition(serviceDefinitions());
}

/** Handlers that load the provider on their first call, or when load() is called. Every tfplugin6.Provider method is unary. */
function deferredProviderHandlers(
  loadProvider: () => Promise<ProviderImplementation<unknown>>,
  methods: string[],
  log: Logger,
): { handlers: grpc.UntypedServiceImplementation; load: () => Promise<unknown> } {
  let loaded: Promise<grpc.UntypedServiceImplementation> | undefined;
  const load = () => (loaded ??= loadProvider().then((provider) => providerHandlers(provider, log)));
  const handlers = Object.fromEntries(
    methods.map((name) => [
      name,
      (call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) =>
        void load().then(
          (loadedHandlers) => (loadedHandlers[name] as grpc.handleUnaryCall<object, object>)(call, callback),
          (err: unknown) => callback({ code: grpc.status.UNAVAILABLE, details: `the provider failed to load: ${(err as Error).message}` }),
        ),
    ]),
  );
  return { handlers, load };
}

export interface TlsConfig {
  /** PLUGIN_CLIENT_CERT: the only certificate clients may present. */
  clientCertPem: string;
  certPem: string;
  keyPem: string;
}

export interface PluginServer {
  /** Serves the listener's connections, those that arrived before this call first, with mutual TLS when `tls` is given. */
  serve(listener: PluginListener, tls?: TlsConfig): void;
  /** Binds 127.0.0.1 on the first free port of `ports` (0 = any), serves it and returns the port. */
  listen(ports: number[], tls?: TlsConfig): Promise<number>;
  /** Ends open streams, stops the server and the listener, then calls onShutdown. */
  shutdown(): Promise<void>;
  /** Stops the listener and the server at once, dropping its connections (what a test does when done). */
  close(): void;
  /** Loads what the first provider call needs (the provider), which it would otherwise load itself. */
  prepare(): Promise<void>;
}

/** A provider, or how to load it: then it is loaded by prepare() or the first provider call, after the handshake line. */
export type ProviderSource = ProviderImplementation<unknown> | (() => Promise<ProviderImplementation<unknown>>);

export interface PluginServerOptions {
  log: Logger;
  /** Called once the server has stopped after GRPCController/Shutdown (the process exits there). */
  onShutdown?: () => void;
}

export function createPluginServer(provider: ProviderSource, options: PluginServerOptions): PluginServer {
  const { log } = options;
  const services = serviceDefinitions();
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

  let served: PluginListener | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= Promise.all([
      served?.close(),
      new Promise<void>((resolve) => {
        for (const call of openStreams) call.end();
        openStreams.clear();
        const force = setTimeout(() => server.forceShutdown(), 2000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
    ]).then(() => options.onShutdown?.());
    return stopping;
  };
  const serve = (listener: PluginListener, tls?: TlsConfig) => {
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(
          Buffer.from(tls.clientCertPem),
          [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }],
          true, // require and verify the client's certificate against PLUGIN_CLIENT_CERT
        )
      : grpc.ServerCredentials.createInsecure();
    const injector = server.createConnectionInjector(credentials);
    served = listener;
    const waited = listener.serve((socket) => injector.injectConnection(socket));
    log.debug("serving", { tls: Boolean(tls), connections_waiting: waited });
  };

  const providerService =
    typeof provider === "function"
      ? deferredProviderHandlers(provider, Object.keys(services["tfplugin6.Provider"]), log)
      : { handlers: providerHandlers(provider, log), load: () => Promise.resolve() };
  server.addService(services["tfplugin6.Provider"], providerService.handlers);
  server.addService(services["plugin.GRPCStdio"], {
    // Our output goes to the real stderr, which go-plugin also reads; the stream only stays open.
    StreamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => track(call),
  });
  server.addService(services["plugin.GRPCController"], {
    Shutdown: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
      log.debug("shutdown requested");
      callback(null, {});
      setImmediate(() => void shutdown());
    },
  });
  server.addService(services["plugin.GRPCBroker"], {
    // Providers open no extra connections; the engine still opens the broker stream.
    StartStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      track(call);
      call.on("data", () => {});
      call.on("end", () => call.end());
    },
  });
  const healthy = (name: string) => name === "" || name === "plugin";
  server.addService(services["grpc.health.v1.Health"], {
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
    serve,
    async listen(ports, tls) {
      const listener = await listen(ports);
      serve(listener, tls);
      return listener.port;
    },
    shutdown,
    close() {
      void served?.close();
      server.forceShutdown();
    },
    async prepare() {
      await providerService.load();
    },
  };
}
