// tfplugin6.Provider over real gRPC (in-process server, grpc-js client speaking the wire format the
// engine speaks): every RPC, decoded values in and out, private state, write-only, requires_replace.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeMsgpack, encodeMsgpack } from "../../cdktf-provider/src/protocol/codec.js";
import { isUnknown, t, Unknown, type CtyValue, type ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { diag, DiagnosticsError, key } from "../../cdktf-provider/src/protocol/diagnostics.js";
import { createLogger } from "../../cdktf-provider/src/protocol/logger.js";
import type { ManagedResource, ProviderImplementation, Schema } from "../../cdktf-provider/src/protocol/provider-api.js";
import { impliedType } from "../../cdktf-provider/src/protocol/schema.js";
import { createPluginServer, loadProtocolPackage, type PluginServer } from "../../cdktf-provider/src/protocol/server.js";

// A provider written against provider-api.ts the way resource files will be.
interface Data {
  endpoint: string;
}

const secretSchema: Schema = {
  version: 1,
  block: {
    attributes: {
      id: { type: t.string, computed: true, useStateForUnknown: true },
      organization_id: { type: t.string, optional: true, computed: true, requiresReplace: true },
      name: { type: t.string, required: true },
      api_key_wo: { type: t.string, optional: true, sensitive: true, writeOnly: true },
      api_key_wo_version: { type: t.number, optional: true },
      key_hint: { type: t.string, computed: true },
      tags: { type: t.map(t.string), optional: true },
      auth: {
        optional: true,
        nested: {
          nesting: "single",
          attributes: {
            user: { type: t.string, optional: true },
            password_wo: { type: t.string, optional: true, writeOnly: true, sensitive: true },
          },
        },
      },
    },
    blocks: {
      rule: { nesting: "list", block: { attributes: { pattern: { type: t.string, required: true } } } },
    },
  },
};
const secretType = impliedType(secretSchema.block);

const applied: { signalAborted?: boolean } = {};

const secret: ManagedResource<Data> = {
  schema: secretSchema,
  validate({ config }) {
    const out = [];
    if (typeof config.name === "string" && config.name.startsWith("bad")) out.push(diag.error("Invalid name", "Names cannot start with bad.", ["name"]));
    if (typeof config.api_key_wo === "string" && !config.api_key_wo.startsWith("sk-")) {
      out.push(diag.error("Key does not look like an OpenAI key", 'OpenAI keys start with "sk-".', ["api_key_wo"]));
    }
    const tags = config.tags;
    if (tags && typeof tags === "object" && !isUnknown(tags) && "bad" in tags) out.push(diag.warning("Odd tag", undefined, ["tags", key("bad")]));
    return out;
  },
  apply({ plannedState, config, provider }) {
    if (plannedState === null) return { newState: null };
    const key = typeof config?.api_key_wo === "string" ? config.api_key_wo : "";
    return {
      // Deliberately echoes the write-only value: the server must null it before it leaves.
      newState: { ...plannedState, id: "sec_1", organization_id: "org_1", key_hint: `…${key.slice(-4)}`, api_key_wo: key },
      private: Buffer.from(`v1@${provider.endpoint}`),
    };
  },
  read({ currentState, private: priv }) {
    if (currentState.name === "gone") return { newState: null };
    if (!priv.toString().startsWith("v1@")) return { newState: currentState, diagnostics: [diag.error("lost private state")] };
    return { newState: { ...currentState, tags: { refreshed: "yes" } } };
  },
  import({ id }) {
    const [org, sec] = id.split("/");
    if (!sec) throw new DiagnosticsError(diag.error("Invalid import ID", `Expected ORG_ID/CREDENTIAL_ID, got "${id}".`));
    return { state: { id: sec, organization_id: org }, private: Buffer.from("v1@import") };
  },
  upgrade({ version, rawState }) {
    const old = rawState as Record<string, CtyValue>;
    if (version !== 0) throw new Error(`no upgrade from ${version}`);
    return { state: { id: old.id, name: old.title, organization_id: old.org } };
  },
};

const slow: ManagedResource<Data> = {
  schema: { block: { attributes: { id: { type: t.string, computed: true } } } },
  apply: ({ signal }) =>
    new Promise((resolve) =>
      signal.addEventListener("abort", () => {
        applied.signalAborted = true;
        resolve({ newState: null, diagnostics: [diag.error("Interrupted", String(signal.reason))] });
      }),
    ),
  read: ({ currentState }) => ({ newState: currentState }),
};

const broken: ManagedResource<Data> = {
  schema: { block: { attributes: { id: { type: t.string, computed: true }, n: { type: t.number, optional: true } } } },
  plan() {
    throw new DiagnosticsError(diag.error("Cannot plan", "Planning is broken on purpose.", ["n"]));
  },
  apply() {
    throw new Error("boom");
  },
  read({ currentState }) {
    return { newState: { ...currentState, n: "not a number" } };
  },
};

const renewed: string[] = [];
const closed: string[] = [];

const testProvider: ProviderImplementation<Data> = {
  schema: { block: { attributes: { endpoint: { type: t.string, optional: true } } } },
  resources: { kptest_secret: secret, kptest_slow: slow, kptest_broken: broken },
  dataSources: {
    kptest_echo: {
      schema: { block: { attributes: { input: { type: t.string, required: true }, output: { type: t.string, computed: true } } } },
      read: ({ config, provider }) => ({ state: { input: config.input, output: `${String(config.input).toUpperCase()}@${provider.endpoint}` } }),
    },
  },
  ephemeralResources: {
    kptest_token: {
      schema: { block: { attributes: { name: { type: t.string, required: true }, value: { type: t.string, computed: true, sensitive: true } } } },
      open: ({ config }) => ({
        result: { name: config.name, value: `tok-${config.name}` },
        private: Buffer.from("lease-1"),
        renewAt: new Date(1_900_000_000_123),
      }),
      renew: ({ private: p }) => {
        renewed.push(String(p));
        return { private: Buffer.from("lease-2"), renewAt: new Date(1_900_000_100_000) };
      },
      close: ({ private: p }) => {
        closed.push(String(p));
      },
    },
  },
  configure({ config }) {
    if (config.endpoint === "bad") return { diagnostics: [diag.error("Invalid endpoint", "Not a URL.", ["endpoint"])] };
    return { data: { endpoint: String(config.endpoint ?? "default") } };
  },
};

// Client side -----------------------------------------------------------------------------------

let plugin: PluginServer;
let address: string;
let client: grpc.Client;
let shutdownCalled = false;
const logLines: string[] = [];

type Res = Record<string, any>;
function rpc(method: string, request: object = {}): Promise<Res> {
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, (request: object, callback: (err: grpc.ServiceError | null, res: Res) => void) => void>)[method](
      request,
      (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

const dv = (value: CtyValue, type = secretType) => ({ msgpack: Buffer.from(encodeMsgpack(value, type)) });
const val = (message: { msgpack: Buffer } | null, type = secretType) => decodeMsgpack(message!.msgpack, type) as ObjectValue | null;
const caps = { deferral_allowed: true, write_only_attributes_allowed: true };
const summaries = (res: Res) => (res.diagnostics as Res[]).map((d) => `${d.severity}: ${d.summary}`);

function secretValue(overrides: ObjectValue = {}): ObjectValue {
  return {
    id: null,
    organization_id: null,
    name: "prod",
    api_key_wo: null,
    api_key_wo_version: null,
    key_hint: null,
    tags: null,
    auth: null,
    rule: [],
    ...overrides,
  };
}

beforeAll(async () => {
  plugin = createPluginServer(testProvider, {
    log: createLogger({ TF_LOG: "trace" }, (line) => logLines.push(line)),
    onShutdown: () => {
      shutdownCalled = true;
    },
  });
  address = `127.0.0.1:${await plugin.listen([0])}`;
  const pkg = loadProtocolPackage() as any;
  client = new pkg.tfplugin6.Provider(address, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  plugin?.close();
});

describe("schema and metadata", () => {
  it("serves the provider schema in the engine's shape", async () => {
    const res = await rpc("GetProviderSchema");
    expect(res.diagnostics).toEqual([]);
    expect(res.server_capabilities).toMatchObject({ plan_destroy: false, get_provider_schema_optional: true });
    const schema = res.resource_schemas.kptest_secret;
    expect(schema.version).toBe(1);
    const attrs = Object.fromEntries((schema.block.attributes as Res[]).map((a) => [a.name, a]));
    expect(attrs.api_key_wo).toMatchObject({ write_only: true, sensitive: true, optional: true });
    expect(attrs.api_key_wo.type.toString()).toBe('"string"');
    expect(attrs.tags.type.toString()).toBe('["map","string"]');
    expect(attrs.auth.type.length).toBe(0);
    expect(attrs.auth.nested_type.nesting).toBe("SINGLE");
    expect(attrs.auth.nested_type.attributes.map((a: Res) => [a.name, a.write_only])).toEqual([
      ["user", false],
      ["password_wo", true],
    ]);
    expect(schema.block.block_types[0]).toMatchObject({ type_name: "rule", nesting: "LIST" });
    expect(Object.keys(res.data_source_schemas)).toEqual(["kptest_echo"]);
    expect(Object.keys(res.ephemeral_resource_schemas)).toEqual(["kptest_token"]);
    expect(res.provider.block.attributes[0].name).toBe("endpoint");
    expect(res.provider_meta).toBeNull();
  });

  it("answers the metadata and identity calls the engines make", async () => {
    const meta = await rpc("GetMetadata");
    expect(meta.resources.map((r: Res) => r.type_name)).toEqual(["kptest_secret", "kptest_slow", "kptest_broken"]);
    expect(meta.ephemeral_resources).toEqual([{ type_name: "kptest_token" }]);
    expect(await rpc("GetResourceIdentitySchemas")).toMatchObject({ identity_schemas: {}, diagnostics: [] });
    expect(await rpc("GetFunctions")).toMatchObject({ functions: {}, diagnostics: [] });
  });

  it("answers UNIMPLEMENTED for protocol features Keyplane does not serve", async () => {
    for (const method of ["ValidateListResourceConfig", "ListResource", "UpgradeResourceIdentity", "CallFunction", "PlanAction"]) {
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        client.makeUnaryRequest(
          `/tfplugin6.Provider/${method}`,
          () => Buffer.alloc(0),
          (b) => b,
          {},
          (e) => resolve(e!),
        ),
      );
      expect(err.code, method).toBe(grpc.status.UNIMPLEMENTED);
    }
  });

  it('reports the health of service "plugin" as SERVING', async () => {
    const pkg = loadProtocolPackage() as any;
    const health = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<Res>((resolve, reject) => health.Check({ service }, (e: Error | null, r: Res) => (e ? reject(e) : resolve(r))));
    expect(await check("plugin")).toEqual({ status: "SERVING" });
    await expect(check("other")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    health.close();
  });
});

describe("before and during configuration", () => {
  it("refuses resource work before ConfigureProvider", async () => {
    const res = await rpc("ReadDataSource", {
      type_name: "kptest_echo",
      config: dv({ input: "x", output: null }, t.object({ input: t.string, output: t.string })),
    });
    expect(summaries(res)).toEqual(["ERROR: Provider not configured"]);
  });

  it("returns configuration errors with the attribute path", async () => {
    const res = await rpc("ConfigureProvider", {
      terraform_version: "1.11.0",
      config: dv({ endpoint: "bad" }, t.object({ endpoint: t.string })),
      client_capabilities: caps,
    });
    expect(res.diagnostics).toEqual([
      {
        severity: "ERROR",
        summary: "Invalid endpoint",
        detail: "Not a URL.",
        attribute: { steps: [{ attribute_name: "endpoint", selector: "attribute_name" }] },
      },
    ]);
  });

  it("configures, passing what configure returned to every resource call", async () => {
    const res = await rpc("ConfigureProvider", {
      terraform_version: "1.11.0",
      config: dv({ endpoint: "http://kp" }, t.object({ endpoint: t.string })),
      client_capabilities: caps,
    });
    expect(res.diagnostics).toEqual([]);
  });
});

describe("validation", () => {
  it("rejects a write-only value for engines without write-only support, with its path", async () => {
    const config = dv(secretValue({ api_key_wo: "sk-1234", auth: { user: "u", password_wo: "p" } }));
    const old = await rpc("ValidateResourceConfig", {
      type_name: "kptest_secret",
      config,
      client_capabilities: { deferral_allowed: false, write_only_attributes_allowed: false },
    });
    expect(old.diagnostics.map((d: Res) => [d.summary, d.attribute.steps.map((s: Res) => s.attribute_name)])).toEqual([
      ["Write-only attribute not supported", ["api_key_wo"]],
      ["Write-only attribute not supported", ["auth", "password_wo"]],
    ]);
    const current = await rpc("ValidateResourceConfig", { type_name: "kptest_secret", config, client_capabilities: caps });
    expect(current.diagnostics).toEqual([]);
  });

  it("returns the resource's own diagnostics with attribute and map-key paths", async () => {
    const res = await rpc("ValidateResourceConfig", {
      type_name: "kptest_secret",
      config: dv(secretValue({ name: "bad-name", api_key_wo: "pk-1", tags: { bad: "x" } })),
      client_capabilities: caps,
    });
    expect(res.diagnostics.map((d: Res) => [d.severity, d.summary, d.attribute?.steps.map((s: Res) => s[s.selector])])).toEqual([
      ["ERROR", "Invalid name", ["name"]],
      ["ERROR", "Key does not look like an OpenAI key", ["api_key_wo"]],
      ["WARNING", "Odd tag", ["tags", "bad"]],
    ]);
  });

  it("accepts unknown values in configuration", async () => {
    const res = await rpc("ValidateResourceConfig", {
      type_name: "kptest_secret",
      config: dv(secretValue({ name: Unknown, api_key_wo: Unknown, tags: Unknown })),
      client_capabilities: caps,
    });
    expect(res.diagnostics).toEqual([]);
  });

  it("names unknown types clearly", async () => {
    const res = await rpc("ValidateResourceConfig", { type_name: "kptest_nope", config: dv({}, t.object({})), client_capabilities: caps });
    expect(summaries(res)).toEqual(["ERROR: Unknown resource type"]);
    expect(res.diagnostics[0].detail).toContain("kptest_secret");
  });
});

describe("managed resource lifecycle", () => {
  it("plans a create: computed attributes unknown, write-only values never in the plan, private kept", async () => {
    const config = secretValue({ api_key_wo: "sk-abcd1234", api_key_wo_version: 1, auth: { user: "u", password_wo: "pw" } });
    const res = await rpc("PlanResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(null),
      proposed_new_state: dv(config),
      config: dv(config),
      prior_private: Buffer.from("p0"),
      client_capabilities: caps,
    });
    expect(res.diagnostics).toEqual([]);
    const planned = val(res.planned_state)!;
    expect(planned.id).toBe(Unknown);
    expect(planned.organization_id).toBe(Unknown);
    expect(planned.key_hint).toBe(Unknown);
    expect(planned.api_key_wo).toBeNull();
    expect(planned.auth).toEqual({ user: "u", password_wo: null });
    expect(planned.name).toBe("prod");
    expect(res.requires_replace).toEqual([]);
    expect(res.planned_private.toString()).toBe("p0");
    expect(res.planned_state.msgpack.includes(Buffer.from("sk-abcd1234"))).toBe(false);
  });

  it("applies a create: the state carries no write-only value, private state comes back", async () => {
    const config = secretValue({ api_key_wo: "sk-abcd1234", api_key_wo_version: 1, auth: { user: "u", password_wo: "pw" } });
    const planned = { ...config, id: Unknown, organization_id: Unknown, key_hint: Unknown, api_key_wo: null, auth: { user: "u", password_wo: null } };
    const res = await rpc("ApplyResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(null),
      planned_state: dv(planned),
      config: dv(config),
      planned_private: Buffer.from("p0"),
    });
    expect(res.diagnostics).toEqual([]);
    const state = val(res.new_state)!;
    expect(state).toMatchObject({ id: "sec_1", organization_id: "org_1", key_hint: "…1234", api_key_wo: null, auth: { user: "u", password_wo: null } });
    expect(res.new_state.msgpack.includes(Buffer.from("sk-abcd1234"))).toBe(false);
    expect(res.private.toString()).toBe("v1@http://kp");
  });

  const stored = () => secretValue({ id: "sec_1", organization_id: "org_1", key_hint: "…1234", api_key_wo_version: 1 });

  it("plans no change when only a write-only value differs", async () => {
    const config = secretValue({ api_key_wo: "sk-other9999", api_key_wo_version: 1 });
    const proposed = { ...stored(), api_key_wo: "sk-other9999" };
    const res = await rpc("PlanResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(stored()),
      proposed_new_state: dv(proposed),
      config: dv(config),
      prior_private: Buffer.from("v1@x"),
      client_capabilities: caps,
    });
    expect(val(res.planned_state)).toEqual(stored());
    expect(res.requires_replace).toEqual([]);
    expect(res.planned_private.toString()).toBe("v1@x");
  });

  it("plans an update with unknown computed values, and a replacement when a requiresReplace attribute changes", async () => {
    const config = secretValue({ api_key_wo_version: 2 });
    const proposed = { ...stored(), api_key_wo_version: 2 };
    const update = await rpc("PlanResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(stored()),
      proposed_new_state: dv(proposed),
      config: dv(config),
      prior_private: Buffer.alloc(0),
      client_capabilities: caps,
    });
    // id never changes, organization_id can only change by replacement; key_hint may change.
    expect(val(update.planned_state)).toMatchObject({ id: "sec_1", api_key_wo_version: 2, key_hint: Unknown, organization_id: "org_1" });
    expect(update.requires_replace).toEqual([]);

    const moved = secretValue({ organization_id: "org_2" });
    const replace = await rpc("PlanResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(stored()),
      proposed_new_state: dv({ ...stored(), organization_id: "org_2" }),
      config: dv(moved),
      prior_private: Buffer.alloc(0),
      client_capabilities: caps,
    });
    expect(replace.requires_replace).toEqual([{ steps: [{ attribute_name: "organization_id", selector: "attribute_name" }] }]);
  });

  it("plans a destroy as null and applies it", async () => {
    const plan = await rpc("PlanResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(stored()),
      proposed_new_state: dv(null),
      config: dv(null),
      prior_private: Buffer.alloc(0),
      client_capabilities: caps,
    });
    expect(val(plan.planned_state)).toBeNull();
    const apply = await rpc("ApplyResourceChange", {
      type_name: "kptest_secret",
      prior_state: dv(stored()),
      planned_state: dv(null),
      config: dv(null),
      planned_private: Buffer.alloc(0),
    });
    expect(val(apply.new_state)).toBeNull();
  });

  it("reads with private state passed through, and reports a vanished object as null", async () => {
    const res = await rpc("ReadResource", {
      type_name: "kptest_secret",
      current_state: dv(stored()),
      private: Buffer.from("v1@kp"),
      client_capabilities: caps,
    });
    expect(res.diagnostics).toEqual([]);
    expect(val(res.new_state)).toEqual({ ...stored(), tags: { refreshed: "yes" } });
    expect(res.private.toString()).toBe("v1@kp");

    const gone = await rpc("ReadResource", {
      type_name: "kptest_secret",
      current_state: dv({ ...stored(), name: "gone" }),
      private: Buffer.from("v1@kp"),
      client_capabilities: caps,
    });
    expect(val(gone.new_state)).toBeNull();

    const lost = await rpc("ReadResource", { type_name: "kptest_secret", current_state: dv(stored()), private: Buffer.alloc(0), client_capabilities: caps });
    expect(summaries(lost)).toEqual(["ERROR: lost private state"]);
  });

  it("imports by ID, and turns DiagnosticsError into diagnostics", async () => {
    const res = await rpc("ImportResourceState", { type_name: "kptest_secret", id: "org_9/sec_9", client_capabilities: caps });
    expect(res.imported_resources).toHaveLength(1);
    expect(res.imported_resources[0].type_name).toBe("kptest_secret");
    expect(val(res.imported_resources[0].state)).toMatchObject({ id: "sec_9", organization_id: "org_9", name: null });
    expect(res.imported_resources[0].private.toString()).toBe("v1@import");

    const bad = await rpc("ImportResourceState", { type_name: "kptest_secret", id: "nonsense", client_capabilities: caps });
    expect(summaries(bad)).toEqual(["ERROR: Invalid import ID"]);
    const none = await rpc("ImportResourceState", { type_name: "kptest_slow", id: "x", client_capabilities: caps });
    expect(summaries(none)).toEqual(["ERROR: Import not supported"]);
  });

  it("upgrades stored JSON state: through upgrade() from old versions, dropping removed attributes otherwise", async () => {
    const old = await rpc("UpgradeResourceState", {
      type_name: "kptest_secret",
      version: 0,
      raw_state: { json: Buffer.from('{"id":"sec_1","title":"legacy","org":"org_1"}') },
    });
    expect(old.diagnostics).toEqual([]);
    expect(val(old.upgraded_state)).toEqual(secretValue({ id: "sec_1", name: "legacy", organization_id: "org_1", rule: null }));

    const current = await rpc("UpgradeResourceState", {
      type_name: "kptest_secret",
      version: 1,
      raw_state: { json: Buffer.from(JSON.stringify({ ...stored(), api_key_wo: "sk-leaked", removed_attr: true })) },
    });
    expect(val(current.upgraded_state)).toEqual(stored());

    const newer = await rpc("UpgradeResourceState", { type_name: "kptest_secret", version: 7, raw_state: { json: Buffer.from("{}") } });
    expect(summaries(newer)).toEqual(["ERROR: State written by a newer provider"]);
    const flat = await rpc("UpgradeResourceState", { type_name: "kptest_secret", version: 0, raw_state: { flatmap: { id: "x" } } });
    expect(summaries(flat)).toEqual(["ERROR: Unsupported state format"]);
  });

  it("turns exceptions into error diagnostics and keeps the prior state on a failed apply", async () => {
    const brokenType = t.object({ id: t.string, n: t.number });
    const plan = await rpc("PlanResourceChange", {
      type_name: "kptest_broken",
      prior_state: dv(null, brokenType),
      proposed_new_state: dv({ id: null, n: 1 }, brokenType),
      config: dv({ id: null, n: 1 }, brokenType),
      client_capabilities: caps,
    });
    expect(plan.diagnostics).toMatchObject([{ severity: "ERROR", summary: "Cannot plan", attribute: { steps: [{ attribute_name: "n" }] } }]);

    const prior = { id: "b1", n: 1 };
    const apply = await rpc("ApplyResourceChange", {
      type_name: "kptest_broken",
      prior_state: dv(prior, brokenType),
      planned_state: dv({ id: "b1", n: 2 }, brokenType),
      config: dv({ id: null, n: 2 }, brokenType),
    });
    expect(apply.diagnostics).toMatchObject([{ severity: "ERROR", summary: "ApplyResourceChange failed", detail: "boom" }]);
    expect(val(apply.new_state, brokenType)).toEqual(prior);

    // A provider bug (a value of the wrong type) is a diagnostic with the path, not a crash.
    const read = await rpc("ReadResource", { type_name: "kptest_broken", current_state: dv(prior, brokenType), client_capabilities: caps });
    expect(read.diagnostics).toMatchObject([{ severity: "ERROR", summary: "ReadResource failed", attribute: { steps: [{ attribute_name: "n" }] } }]);
    expect(logLines.some((l) => l.includes("ReadResource failed"))).toBe(true);
  });

  it("refuses moves from other resource types with an explanation", async () => {
    const res = await rpc("MoveResourceState", { source_type_name: "other_thing", target_type_name: "kptest_secret" });
    expect(summaries(res)).toEqual(["ERROR: Moving resources between types is not supported"]);
  });
});

describe("data sources and ephemeral resources", () => {
  it("reads a data source", async () => {
    const type = t.object({ input: t.string, output: t.string });
    const res = await rpc("ReadDataSource", { type_name: "kptest_echo", config: dv({ input: "abc", output: null }, type), client_capabilities: caps });
    expect(val(res.state, type)).toEqual({ input: "abc", output: "ABC@http://kp" });
  });

  it("opens, renews and closes an ephemeral resource with its private data", async () => {
    const type = t.object({ name: t.string, value: t.string });
    const validate = await rpc("ValidateEphemeralResourceConfig", { type_name: "kptest_token", config: dv({ name: "x", value: null }, type) });
    expect(validate.diagnostics).toEqual([]);
    const open = await rpc("OpenEphemeralResource", { type_name: "kptest_token", config: dv({ name: "x", value: null }, type), client_capabilities: caps });
    expect(val(open.result, type)).toEqual({ name: "x", value: "tok-x" });
    expect(open.private.toString()).toBe("lease-1");
    expect(open.renew_at).toEqual({ seconds: 1_900_000_000, nanos: 123_000_000 });

    const renew = await rpc("RenewEphemeralResource", { type_name: "kptest_token", private: open.private });
    expect(renew.private.toString()).toBe("lease-2");
    expect(renew.renew_at.seconds).toBe(1_900_000_100);
    await rpc("CloseEphemeralResource", { type_name: "kptest_token", private: renew.private });
    expect(renewed).toEqual(["lease-1"]);
    expect(closed).toEqual(["lease-2"]);
  });
});

describe("stopping", () => {
  it("StopProvider aborts the signal of in-flight operations", async () => {
    const type = t.object({ id: t.string });
    const pending = rpc("ApplyResourceChange", {
      type_name: "kptest_slow",
      prior_state: dv(null, type),
      planned_state: dv({ id: Unknown }, type),
      config: dv({ id: null }, type),
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(await rpc("StopProvider")).toEqual({ Error: "" });
    const res = await pending;
    expect(applied.signalAborted).toBe(true);
    expect(summaries(res)).toEqual(["ERROR: Interrupted"]);
  });

  it("GRPCController/Shutdown stops the server", async () => {
    const pkg = loadProtocolPackage() as any;
    const controller = new pkg.plugin.GRPCController(address, grpc.credentials.createInsecure());
    await new Promise<void>((resolve, reject) => controller.Shutdown({}, (e: Error | null) => (e ? reject(e) : resolve())));
    await expect.poll(() => shutdownCalled, { timeout: 3000 }).toBe(true);
    controller.close();
  });
});
