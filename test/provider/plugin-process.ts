/**
 * The plugin executable as the engine launches it (go-plugin handshake line, AutoMTLS), and gRPC
 * clients that reach it as go-plugin's client does: trusting only the handshake's certificate,
 * presenting the client certificate given in PLUGIN_CLIENT_CERT, ServerName "localhost".
 */
import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { SelfSignedCertificate } from "../../cdktf-provider/src/protocol/certificate.js";
import { MAGIC_COOKIE_VALUE, parseHandshakeLine } from "../../cdktf-provider/src/protocol/handshake.js";
import { loadProtocolPackage } from "../../cdktf-provider/src/protocol/server.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
export const launcher = join(root, "cdktf-provider/bin/terraform-provider-keyplane");

export interface Launched {
  child: ChildProcessWithoutNullStreams;
  /** The handshake line. */
  line: string;
  /** From spawn to the handshake line. */
  ms: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts the plugin with PATH, HOME and `env` only: nothing else of the test's environment reaches it. */
export async function launch(env: Record<string, string | undefined>): Promise<Launched> {
  const started = performance.now();
  const child = spawn(launcher, [], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  const line = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`plugin exited (${code}) before the handshake: ${stderr}`)));
  });
  return { child, line, ms: performance.now() - started, stderr: () => stderr, exited };
}

/** What the engine sets for the plugin; with `clientCert`, AutoMTLS. */
export const pluginEnv = (clientCert?: string) => ({
  TF_PLUGIN_MAGIC_COOKIE: MAGIC_COOKIE_VALUE,
  PLUGIN_PROTOCOL_VERSIONS: "5,6",
  PLUGIN_MIN_PORT: "30000",
  PLUGIN_MAX_PORT: "40000",
  PLUGIN_CLIENT_CERT: clientCert,
});

export const pkg = loadProtocolPackage() as any;
export type Res = Record<string, any>;
export const unary = (client: any, method: string, req: object = {}) =>
  new Promise<Res>((resolve, reject) => client[method](req, { deadline: Date.now() + 5000 }, (e: Error | null, r: Res) => (e ? reject(e) : resolve(r))));

export function tlsCredentials(serverCertPem: string, clientCert?: SelfSignedCertificate) {
  return grpc.credentials.createSsl(
    Buffer.from(serverCertPem),
    clientCert ? Buffer.from(clientCert.keyPem) : null,
    clientCert ? Buffer.from(clientCert.certPem) : null,
  );
}
export const channelOptions = { "grpc.ssl_target_name_override": "localhost" };

/** A tfplugin6.Provider client of a plugin launched with AutoMTLS under `clientCert`. */
export function providerClient(plugin: Launched, clientCert: SelfSignedCertificate): grpc.Client {
  const { address, serverCertPem } = parseHandshakeLine(plugin.line);
  return new pkg.tfplugin6.Provider(address, tlsCredentials(serverCertPem!, clientCert), channelOptions);
}
