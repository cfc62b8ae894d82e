/**
 * For the resources-*.test.ts suites: a real Keyplane service listening on 127.0.0.1 (port 0) and
 * the real keyplane provider served over gRPC, driven the way OpenTofu/Terraform drive it
 * (ConfigureProvider, then plan/apply/read/import, data source reads, ephemeral opens).
 */
import * as grpc from "@grpc/grpc-js";
import { decodeMsgpack, encodeMsgpack } from "../../cdktf-provider/src/protocol/codec.js";
import { isUnknown, type CtyValue, type ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { createLogger } from "../../cdktf-provider/src/protocol/logger.js";
import type { Schema } from "../../cdktf-provider/src/protocol/provider-api.js";
import { impliedType } from "../../cdktf-provider/src/protocol/schema.js";
import { generateSelfSignedCertificate } from "../../cdktf-provider/src/protocol/certificate.js";
import { createPluginServer, loadProtocolPackage } from "../../cdktf-provider/src/protocol/server.js";
import { provider } from "../../cdktf-provider/src/provider.js";
import { startService as startLoopbackService } from "../support/service.js";
import { bearer, type TestRuntime } from "../support/runtime.js";
import { launch, pluginEnv, providerClient } from "./plugin-process.js";

type Res = Record<string, any>;

export interface Diag {
  severity: string;
  summary: string;
  detail: string;
  path: (string | number)[] | undefined;
}

export interface ServiceUnderTest {
  t: TestRuntime;
  endpoint: string;
  org: { id: string };
  tokens: Record<"admin" | "member" | "resolver", string>;
  /** Every provider log line (for leak scans). */
  providerLogs: string[];
  close(): Promise<void>;
}

export async function startService(): Promise<ServiceUnderTest> {
  const service = await startLoopbackService("pglite");
  const { id, tokens } = await service.seedOrganization();
  return { t: service.runtime, endpoint: service.url, org: { id }, tokens, providerLogs: [], close: () => service.close() };
}

/** Creates another API token in the organization through the platform token. */
export async function createToken(s: ServiceUnderTest, role: "admin" | "member" | "resolver"): Promise<{ id: string; token: string }> {
  const res = await s.t.api
    .post(`/v1/organizations/${s.org.id}/tokens`)
    .set(bearer(s.t.platformToken))
    .send({ role, name: `${role} extra` });
  if (res.status !== 201) throw new Error(`token create failed: ${res.status}`);
  return { id: res.body.id, token: res.body.token };
}

/** The provider block; unset attributes are null. */
export type ProviderConfig = { endpoint?: string | null; token?: string | null; organization_id?: string | null; ca_file?: string | null };

const caps = { deferral_allowed: false, write_only_attributes_allowed: true };

function decodeDiagnostics(list: Res[] | undefined): Diag[] {
  return (list ?? []).map((d) => ({
    severity: d.severity,
    summary: d.summary,
    detail: d.detail,
    path: d.attribute?.steps.map((s: Res) => s[s.selector]),
  }));
}

export interface Planned {
  planned: ObjectValue | null;
  private: Buffer;
  requiresReplace: (string | number)[][];
  diagnostics: Diag[];
}

/** One configured provider instance, as the engine holds one per provider block. */
export class ProviderSession {
  private constructor(
    private readonly client: grpc.Client,
    /** Ends the plugin. */
    private readonly stop: () => void,
    /** Raw response bytes, for leak scans. */
    readonly wire: Buffer[],
  ) {}

  /** A plugin served in the test process. */
  static async start(s: ServiceUnderTest, config: ProviderConfig): Promise<{ session: ProviderSession; diagnostics: Diag[] }> {
    const plugin = createPluginServer(provider, { log: createLogger({ TF_LOG: "trace" }, (line) => s.providerLogs.push(line)) });
    const address = `127.0.0.1:${await plugin.listen([0])}`;
    const pkg = loadProtocolPackage() as any;
    const client = new pkg.tfplugin6.Provider(address, grpc.credentials.createInsecure());
    return new ProviderSession(client, () => plugin.close(), []).configure(config);
  }

  /**
   * The plugin executable in a process of its own, launched as the engine launches it (AutoMTLS)
   * with `env` as its environment: for what a process reads at start or sets process-wide.
   */
  static async launch(
    config: ProviderConfig,
    env: Record<string, string> = {},
  ): Promise<{ session: ProviderSession; diagnostics: Diag[]; stderr: () => string }> {
    const clientCert = await generateSelfSignedCertificate();
    const plugin = await launch({ ...pluginEnv(clientCert.certPem), TF_LOG: "trace", ...env });
    const session = new ProviderSession(providerClient(plugin, clientCert), () => plugin.child.kill("SIGKILL"), []);
    return { ...(await session.configure(config)), stderr: plugin.stderr };
  }

  private async configure(config: ProviderConfig): Promise<{ session: ProviderSession; diagnostics: Diag[] }> {
    const providerType = impliedType(provider.schema.block);
    const res = await this.rpc("ConfigureProvider", {
      terraform_version: "1.11.0",
      config: { msgpack: Buffer.from(encodeMsgpack({ endpoint: null, token: null, organization_id: null, ca_file: null, ...config }, providerType)) },
      client_capabilities: caps,
    });
    return { session: this, diagnostics: decodeDiagnostics(res.diagnostics) };
  }

  rpc(method: string, request: object): Promise<Res> {
    return new Promise((resolve, reject) =>
      (this.client as unknown as Record<string, (request: object, callback: (err: grpc.ServiceError | null, res: Res) => void) => void>)[method](
        request,
        (err: grpc.ServiceError | null, res: Res) => {
          if (err) return reject(err);
          for (const v of Object.values(res)) if (v && typeof v === "object" && Buffer.isBuffer(v.msgpack)) this.wire.push(v.msgpack);
          if (Buffer.isBuffer(res.private)) this.wire.push(res.private);
          if (Buffer.isBuffer(res.planned_private)) this.wire.push(res.planned_private);
          resolve(res);
        },
      ),
    );
  }

  close(): void {
    this.client.close();
    this.stop();
  }

  async schema(): Promise<Res> {
    return this.rpc("GetProviderSchema", {});
  }

  async validateResource(type: string, config: ObjectValue): Promise<Diag[]> {
    const res = await this.rpc("ValidateResourceConfig", {
      type_name: type,
      config: dv(full(resourceSchema(type), config), resourceSchema(type)),
      client_capabilities: caps,
    });
    return decodeDiagnostics(res.diagnostics);
  }

  async validateEphemeral(type: string, config: ObjectValue): Promise<Diag[]> {
    const schema = ephemeralSchema(type);
    const res = await this.rpc("ValidateEphemeralResourceConfig", { type_name: type, config: dv(full(schema, config), schema) });
    return decodeDiagnostics(res.diagnostics);
  }

  /** Plans like the engine: the proposed state is the config with prior values for unset computed attributes. */
  async plan(type: string, prior: ObjectValue | null, config: ObjectValue | null, priorPrivate: Buffer = Buffer.alloc(0)): Promise<Planned> {
    const schema = resourceSchema(type);
    const cfg = config === null ? null : full(schema, config);
    const res = await this.rpc("PlanResourceChange", {
      type_name: type,
      prior_state: dv(prior, schema),
      proposed_new_state: dv(cfg === null ? null : proposed(schema, prior, cfg), schema),
      config: dv(cfg, schema),
      prior_private: priorPrivate,
      client_capabilities: caps,
    });
    return {
      planned: res.planned_state ? (decodeMsgpack(res.planned_state.msgpack, impliedType(schema.block)) as ObjectValue | null) : null,
      private: res.planned_private ?? Buffer.alloc(0),
      requiresReplace: (res.requires_replace ?? []).map((p: Res) => p.steps.map((s: Res) => s[s.selector])),
      diagnostics: decodeDiagnostics(res.diagnostics),
    };
  }

  async apply(type: string, prior: ObjectValue | null, planned: ObjectValue | null, config: ObjectValue | null, plannedPrivate: Buffer = Buffer.alloc(0)) {
    const schema = resourceSchema(type);
    const res = await this.rpc("ApplyResourceChange", {
      type_name: type,
      prior_state: dv(prior, schema),
      planned_state: dv(planned, schema),
      config: dv(config === null ? null : full(schema, config), schema),
      planned_private: plannedPrivate,
    });
    return {
      state: res.new_state ? (decodeMsgpack(res.new_state.msgpack, impliedType(schema.block)) as ObjectValue | null) : null,
      private: (res.private ?? Buffer.alloc(0)) as Buffer,
      diagnostics: decodeDiagnostics(res.diagnostics),
    };
  }

  /** plan + apply of a configuration, failing loudly on diagnostics. */
  async converge(type: string, prior: ObjectValue | null, config: ObjectValue | null, priorPrivate: Buffer = Buffer.alloc(0)) {
    const plan = await this.plan(type, prior, config, priorPrivate);
    if (plan.diagnostics.some((d) => d.severity === "ERROR")) return { ...plan, state: prior, private: priorPrivate };
    const applied = await this.apply(type, prior, plan.planned, config, plan.private);
    return { ...plan, ...applied, diagnostics: [...plan.diagnostics, ...applied.diagnostics] };
  }

  async read(type: string, state: ObjectValue, priv: Buffer = Buffer.alloc(0)) {
    const schema = resourceSchema(type);
    const res = await this.rpc("ReadResource", { type_name: type, current_state: dv(state, schema), private: priv, client_capabilities: caps });
    return {
      state: res.new_state ? (decodeMsgpack(res.new_state.msgpack, impliedType(schema.block)) as ObjectValue | null) : undefined,
      private: (res.private ?? Buffer.alloc(0)) as Buffer,
      diagnostics: decodeDiagnostics(res.diagnostics),
    };
  }

  async importState(type: string, id: string) {
    const schema = resourceSchema(type);
    const res = await this.rpc("ImportResourceState", { type_name: type, id, client_capabilities: caps });
    const imported = res.imported_resources?.[0];
    return {
      state: imported ? (decodeMsgpack(imported.state.msgpack, impliedType(schema.block)) as ObjectValue) : undefined,
      private: (imported?.private ?? Buffer.alloc(0)) as Buffer,
      diagnostics: decodeDiagnostics(res.diagnostics),
    };
  }

  async readData(type: string, config: ObjectValue) {
    const schema = dataSchema(type);
    const res = await this.rpc("ReadDataSource", { type_name: type, config: dv(full(schema, config), schema), client_capabilities: caps });
    return {
      state: res.state ? (decodeMsgpack(res.state.msgpack, impliedType(schema.block)) as ObjectValue) : undefined,
      raw: res.state?.msgpack as Buffer | undefined,
      diagnostics: decodeDiagnostics(res.diagnostics),
    };
  }

  async openEphemeral(type: string, config: ObjectValue) {
    const schema = ephemeralSchema(type);
    const res = await this.rpc("OpenEphemeralResource", { type_name: type, config: dv(full(schema, config), schema), client_capabilities: caps });
    const result = res.result ? (decodeMsgpack(res.result.msgpack, impliedType(schema.block)) as ObjectValue) : undefined;
    if (res.result) await this.rpc("CloseEphemeralResource", { type_name: type, private: res.private });
    return { result, diagnostics: decodeDiagnostics(res.diagnostics) };
  }
}

function resourceSchema(type: string): Schema {
  return provider.resources[type].schema;
}
function dataSchema(type: string): Schema {
  return provider.dataSources[type].schema;
}
function ephemeralSchema(type: string): Schema {
  return provider.ephemeralResources[type].schema;
}

function dv(value: CtyValue, schema: Schema) {
  return { msgpack: Buffer.from(encodeMsgpack(value, impliedType(schema.block))) };
}

/** Every attribute present: unset ones null, as the engine sends them. */
function full(schema: Schema, values: ObjectValue): ObjectValue {
  return Object.fromEntries(Object.keys(schema.block.attributes).map((name) => [name, values[name] ?? null]));
}

function proposed(schema: Schema, prior: ObjectValue | null, config: ObjectValue): ObjectValue {
  const out: ObjectValue = {};
  for (const [name, attr] of Object.entries(schema.block.attributes)) {
    const value = config[name];
    out[name] = (value === null || value === undefined) && attr.computed && !isUnknown(value) ? (prior?.[name] ?? null) : (value ?? null);
  }
  return out;
}
