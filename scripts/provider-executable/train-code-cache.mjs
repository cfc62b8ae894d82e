// Runs a built executable as the engine does (cookie, AutoMTLS) through the calls of a plan —
// schema, provider validation and configuration, a credential's validation, state upgrade, read
// and plan — then Shutdown: to record the V8 code cache of its late parts (late-parts.mjs), which
// the plugin writes as it exits, and to check that the finished executable uses its caches. The
// service endpoint is a closed port: failing calls compile the same code paths up to the request,
// and the build needs no service.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { encode } from "@msgpack/msgpack";

const MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/**
 * Records the code cache: runs `executable` (built without one) through a plan's calls with the
 * variable that makes the plugin write it at exit.
 * @param {string} root the repository (the built dist/ supplies the protocol helpers)
 * @param {string} executable an executable whose late parts have no recorded cache
 * @param {string} output where the cache goes
 */
export async function trainCodeCache(root, executable, output) {
  await runPlanCalls(root, executable, { KEYPLANE_PLUGIN_CODE_CACHE_OUTPUT: output });
  if (!existsSync(output)) throw new Error("training the plugin's code cache: the plugin wrote no code cache");
}

/**
 * Runs the finished executable through the same calls and fails when V8 refused either of its
 * code caches (Node's for the main script, or the recorded one): both say so on stderr, and a
 * refused cache would cost every start the time it exists to save.
 * @param {string} root
 * @param {string} executable
 */
export async function checkCodeCaches(root, executable) {
  const stderr = await runPlanCalls(root, executable, {});
  if (/code cache/i.test(stderr)) throw new Error(`the executable did not use its code caches:\n${stderr}`);
}

/**
 * Launches `executable` as the engine does and makes a plan's calls through it, then Shutdown.
 * @param {string} root
 * @param {string} executable
 * @param {Record<string, string>} env
 * @returns {Promise<string>} what the plugin wrote on stderr
 */
async function runPlanCalls(root, executable, env) {
  const dist = (path) => import(join(root, "dist/cdktf-provider/src/protocol", path));
  const [{ generateSelfSignedCertificate }, { parseHandshakeLine }, { loadProtocolPackage }] = await Promise.all([
    dist("certificate.js"),
    dist("handshake.js"),
    dist("server.js"),
  ]);
  const engine = await generateSelfSignedCertificate("localhost");
  const child = spawn(executable, [], {
    env: { PATH: process.env.PATH, TF_PLUGIN_MAGIC_COOKIE: MAGIC_COOKIE, PLUGIN_PROTOCOL_VERSIONS: "6", PLUGIN_CLIENT_CERT: engine.certPem, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  /** @param {string} message */
  const failed = (message) => new Error(`running the built plugin through a plan's calls: ${message}\n${stderr}`);
  // A plugin that hangs must not hang the build.
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(failed("no end within 60 s")), 60_000);
  });
  /** @type {import("@grpc/grpc-js").Client[]} */
  const clients = [];
  try {
    const line = await Promise.race([
      deadline,
      new Promise((resolve, reject) => {
        let stdout = "";
        child.stdout.on("data", (chunk) => {
          stdout += chunk;
          if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
        });
        void exited.then((status) => reject(failed(`the plugin exited (${status}) before its handshake line`)));
      }),
    ]);
    const { address, serverCertPem } = parseHandshakeLine(/** @type {string} */ (line));
    const credentials = grpc.credentials.createSsl(Buffer.from(serverCertPem), Buffer.from(engine.keyPem), Buffer.from(engine.certPem));
    const options = { "grpc.ssl_target_name_override": "localhost" };
    const services = loadProtocolPackage();
    const [health, provider, controller] = [
      new services.grpc.health.v1.Health(address, credentials, options),
      new services.tfplugin6.Provider(address, credentials, options),
      new services.plugin.GRPCController(address, credentials, options),
    ];
    clients.push(health, provider, controller);
    const call = (client, method, request) =>
      Promise.race([
        deadline,
        new Promise((resolve, reject) =>
          client[method](request, { deadline: Date.now() + 30_000 }, (err, response) =>
            err ? reject(failed(`${method}: ${err.message}`)) : resolve(response),
          ),
        ),
      ]);

    await call(health, "Check", { service: "plugin" });
    const schema = await call(provider, "GetProviderSchema", {});
    const capabilities = { deferral_allowed: false, write_only_attributes_allowed: true };
    const providerConfig = { ...nulls(schema.provider.block), endpoint: `http://127.0.0.1:${await closedPort()}`, token: "kp_training" };
    await call(provider, "ValidateProviderConfig", { config: { msgpack: encode(providerConfig) } });
    await call(provider, "ConfigureProvider", { terraform_version: "1.11.0", config: { msgpack: encode(providerConfig) }, client_capabilities: capabilities });

    const typeName = "keyplane_credential";
    const credential = schema.resource_schemas[typeName];
    const config = { ...nulls(credential.block), provider_type: "openai", name: "training", api_key_wo: "sk-training", api_key_wo_version: 1 };
    const state = { ...config, api_key_wo: null, id: "cred_training" };
    const value = (object) => ({ msgpack: encode(object) });
    await call(provider, "ValidateResourceConfig", { type_name: typeName, config: value(config), client_capabilities: capabilities });
    await call(provider, "UpgradeResourceState", { type_name: typeName, version: credential.version, raw_state: { json: Buffer.from(JSON.stringify(state)) } });
    await call(provider, "ReadResource", { type_name: typeName, current_state: value(state), client_capabilities: capabilities });
    await call(provider, "PlanResourceChange", {
      type_name: typeName,
      prior_state: value(null),
      proposed_new_state: value(config),
      config: value(config),
      client_capabilities: capabilities,
    });
    await call(controller, "Shutdown", {});
    const status = await Promise.race([exited, deadline]);
    if (status !== 0) throw failed(`the plugin did not exit cleanly after Shutdown (${status})`);
    return stderr;
  } finally {
    clearTimeout(timer);
    for (const client of clients) client.close();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** Every attribute null and every nested block empty: a configuration the engine could send. */
function nulls(block) {
  const value = Object.fromEntries((block.attributes ?? []).map((attribute) => [attribute.name, null]));
  for (const nested of block.block_types ?? []) {
    value[nested.type_name] = nested.nesting === "LIST" || nested.nesting === "SET" ? [] : nested.nesting === "MAP" ? {} : null;
  }
  return value;
}

/** A port on 127.0.0.1 that nothing listens on: the configured service refuses at once. */
function closedPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}
