// The go-plugin handshake, as OpenTofu/Terraform expect it from a provider executable:
//
//   1. The engine starts the plugin with TF_PLUGIN_MAGIC_COOKIE (proof it was launched as a plugin),
//      PLUGIN_PROTOCOL_VERSIONS (e.g. "5,6"), PLUGIN_MIN_PORT/PLUGIN_MAX_PORT, and with AutoMTLS
//      PLUGIN_CLIENT_CERT (its own throwaway certificate, PEM).
//   2. The plugin listens on 127.0.0.1 and prints ONE line on stdout:
//        1|6|tcp|127.0.0.1:PORT|grpc|<server certificate DER, base64 std without padding>
//      (core protocol 1, app protocol 6). Without PLUGIN_CLIENT_CERT the last field is empty and
//      the connection is plaintext.
//   3. The engine connects with TLS (ServerName "localhost", trusting only that certificate and
//      presenting its own, which the plugin requires), pings grpc.health.v1 for "plugin", and
//      ends the process through plugin.GRPCController/Shutdown.
//
// This module stays free of heavy imports so a wrong launch fails fast. Before the line the plugin
// loads only node:net (the listener) and node:crypto (the certificate); the gRPC server and the
// provider load after it, while the engine connects.
import { writeSync } from "node:fs";
import type { PluginListener } from "./listener.js";
import type { ProviderImplementation } from "./provider-api.js";

export const MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE";
export const MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
export const CORE_PROTOCOL_VERSION = 1;
export const PROTOCOL_VERSION = 6;

export const NOT_A_PLUGIN_MESSAGE =
  "This binary is a plugin for OpenTofu and Terraform (the Keyplane provider, keyplane/keyplane).\n" +
  "It is not meant to be executed directly: OpenTofu or Terraform start it themselves.\n" +
  "Install it with a filesystem mirror or dev_overrides (see the README), then run `tofu init`.\n";

export function hasMagicCookie(env: NodeJS.ProcessEnv): boolean {
  return env[MAGIC_COOKIE_KEY] === MAGIC_COOKIE_VALUE;
}

/**
 * The protocol version to announce. Only 6 is served; when the engine offers only others, 6 is
 * announced anyway (as go-plugin does) so the engine reports the incompatibility itself.
 */
export function negotiateProtocolVersion(env: NodeJS.ProcessEnv): { version: number; offered: number[]; compatible: boolean } {
  const offered = (env.PLUGIN_PROTOCOL_VERSIONS ?? "")
    .split(",")
    .map((s) => Number.parseInt(s.trim(), 10))
    .filter((n) => Number.isInteger(n));
  return { version: PROTOCOL_VERSION, offered, compatible: offered.length === 0 || offered.includes(PROTOCOL_VERSION) };
}

/** Ports to try, from PLUGIN_MIN_PORT..PLUGIN_MAX_PORT; [0] (any free port) when unset or 0..0. */
export function candidatePorts(env: NodeJS.ProcessEnv, random: () => number = Math.random): number[] {
  const parse = (name: string): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return 0;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} is not a port number: ${raw}`);
    return n;
  };
  const min = parse("PLUGIN_MIN_PORT");
  const max = parse("PLUGIN_MAX_PORT");
  if (min > max) throw new Error(`PLUGIN_MIN_PORT (${min}) is greater than PLUGIN_MAX_PORT (${max})`);
  if (max === 0) return [0];
  // Start at a random offset: several plugins start at once and would all race for the lowest port.
  const size = max - min + 1;
  const offset = Math.floor(random() * size);
  return Array.from({ length: size }, (_, i) => min + ((offset + i) % size));
}

export function handshakeLine(port: number, serverCertDer?: Buffer): string {
  const cert = serverCertDer ? serverCertDer.toString("base64").replace(/=+$/, "") : "";
  return `${CORE_PROTOCOL_VERSION}|${PROTOCOL_VERSION}|tcp|127.0.0.1:${port}|grpc|${cert}`;
}

/**
 * The engine's side of the line: the address to dial and, with AutoMTLS, the one certificate to
 * trust, as PEM (the line carries DER in unpadded base64, go-plugin's RawStdEncoding).
 */
export function parseHandshakeLine(line: string): { address: string; serverCertPem?: string } {
  const [, , , address, , certificate] = line.trim().split("|");
  if (!certificate) return { address };
  const body = Buffer.from(certificate, "base64")
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n");
  return { address, serverCertPem: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n` };
}

export interface RunPluginOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the handshake line goes (stdout). */
  writeLine?: (line: string) => void;
  exit?: (code: number) => void;
}

/**
 * Runs the plugin process: checks the cookie, binds the port, prints the handshake line, then
 * starts the gRPC server on that port and loads the provider. Resolves once it is loaded (rejects
 * if it cannot be); the process then lives until Shutdown.
 */
export async function runPlugin(loadProvider: () => Promise<ProviderImplementation<unknown>>, options: RunPluginOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  // Straight to the descriptor: setting up process.stdout's stream would cost the line a millisecond.
  const writeLine = options.writeLine ?? ((line: string) => writeSync(1, line + "\n"));

  if (!hasMagicCookie(env)) {
    process.stderr.write(NOT_A_PLUGIN_MESSAGE);
    exit(1);
    return;
  }
  // The engine stops providers with StopProvider and Shutdown; a Ctrl-C reaches the whole process
  // group, and dying on it would abort an apply mid-way without the engine's say.
  process.on("SIGINT", () => {});
  // Anything on stdout before the handshake line breaks the handshake; keep stray logs on stderr.
  console.log = console.info = console.debug = console.error;

  const clientCertPem = env.PLUGIN_CLIENT_CERT?.trim() ? env.PLUGIN_CLIENT_CERT : undefined;
  const [{ createLogger }, { listen }, certificates] = await Promise.all([
    import("./logger.js"),
    import("./listener.js"),
    clientCertPem ? import("./certificate.js") : undefined,
  ]);
  const log = createLogger(env);
  // Checked before the line, as go-plugin does: once the line is out the engine dials, and a
  // certificate that TLS cannot load would fail the connection instead of the launch.
  const unusableClientCert = clientCertPem && certificates?.clientCertificateProblem(clientCertPem);
  if (unusableClientCert) {
    log.error("plugin init error", { error: `PLUGIN_CLIENT_CERT is not a PEM certificate: ${unusableClientCert}` });
    exit(1);
    return;
  }
  const certificate = await certificates?.generateSelfSignedCertificate();
  const negotiated = negotiateProtocolVersion(env);
  if (!negotiated.compatible) {
    log.warn("engine does not offer plugin protocol 6", { offered: negotiated.offered });
  }

  let listener: PluginListener;
  try {
    listener = await listen(candidatePorts(env));
  } catch (err) {
    log.error("plugin init error", { error: (err as Error).message });
    exit(1);
    return;
  }
  log.debug("plugin address", { network: "tcp", address: `127.0.0.1:${listener.port}`, tls: Boolean(certificate) });
  writeLine(handshakeLine(listener.port, certificate?.certDer));

  // The gRPC server (grpc-js, Node's HTTP/2 and TLS) loads while the engine reads the line and
  // connects; the listener keeps the connections that arrive meanwhile and hands them over.
  const { createPluginServer } = await import("./server.js");
  const plugin = createPluginServer(loadProvider, { log, onShutdown: () => exit(0) });
  plugin.serve(listener, certificate && clientCertPem ? { clientCertPem, certPem: certificate.certPem, keyPem: certificate.keyPem } : undefined);
  // The provider is only needed by the engine's first provider calls; the connections' TLS
  // handshakes go first.
  await new Promise((resolve) => setImmediate(resolve));
  await plugin.prepare();
}
