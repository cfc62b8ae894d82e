// The plugin executable as the engine launches it: go-plugin handshake, AutoMTLS, health, Shutdown.
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSelfSignedCertificate, type SelfSignedCertificate } from "../../cdktf-provider/src/protocol/certificate.js";
import { parseHandshakeLine } from "../../cdktf-provider/src/protocol/handshake.js";
import { channelOptions, launch, launcher, pkg, pluginEnv, tlsCredentials, unary, type Launched, type Res } from "./plugin-process.js";

let clientCert: SelfSignedCertificate;
let strangerCert: SelfSignedCertificate;
const timings: number[] = [];

beforeAll(async () => {
  [clientCert, strangerCert] = await Promise.all([generateSelfSignedCertificate(), generateSelfSignedCertificate()]);
}, 120_000);

afterAll(() => {
  if (timings.length > 0) {
    console.log(`plugin start to handshake line: ${timings.map((ms) => `${ms.toFixed(0)} ms`).join(", ")}`);
  }
});

describe("launched with AutoMTLS", () => {
  let plugin: Launched;
  let address: string;
  let serverCertPem: string;

  beforeAll(async () => {
    plugin = await launch(pluginEnv(clientCert.certPem));
    timings.push(plugin.ms);
  }, 20_000);

  afterAll(() => {
    plugin?.child.kill("SIGKILL");
  });

  it("prints the handshake line first: core 1, protocol 6, tcp on 127.0.0.1 in the port range, grpc, its certificate", () => {
    const parts = plugin.line.split("|");
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 3)).toEqual(["1", "6", "tcp"]);
    expect(parts[4]).toBe("grpc");
    const match = /^127\.0\.0\.1:(\d+)$/.exec(parts[3]);
    expect(match).not.toBeNull();
    const port = Number(match![1]);
    expect(port).toBeGreaterThanOrEqual(30000);
    expect(port).toBeLessThanOrEqual(40000);
    address = parts[3];

    // Base64 std encoding without padding, as go-plugin's base64.RawStdEncoding.
    expect(parts[5]).toMatch(/^[A-Za-z0-9+/]+$/);
    serverCertPem = parseHandshakeLine(plugin.line).serverCertPem!;
    const cert = new X509Certificate(serverCertPem);
    expect(cert.subject).toContain("CN=localhost");
    expect(cert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1");
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
  });

  it("serves GetProviderSchema and health to a client presenting PLUGIN_CLIENT_CERT", async () => {
    const provider = new pkg.tfplugin6.Provider(address, tlsCredentials(serverCertPem, clientCert), channelOptions);
    const schema = await unary(provider, "GetProviderSchema");
    const attrs = Object.fromEntries((schema.provider.block.attributes as Res[]).map((a) => [a.name, a]));
    expect(Object.keys(attrs).sort()).toEqual(["ca_file", "endpoint", "organization_id", "token"]);
    expect(attrs.token).toMatchObject({ sensitive: true, optional: true });
    expect(attrs.endpoint.type.toString()).toBe('"string"');
    provider.close();

    const health = new pkg.grpc.health.v1.Health(address, tlsCredentials(serverCertPem, clientCert), channelOptions);
    expect(await unary(health, "Check", { service: "plugin" })).toEqual({ status: "SERVING" });
    health.close();
  });

  it("refuses clients without a certificate, with another certificate, or without TLS", async () => {
    const attempts = [tlsCredentials(serverCertPem), tlsCredentials(serverCertPem, strangerCert), grpc.credentials.createInsecure()];
    for (const credentials of attempts) {
      const health = new pkg.grpc.health.v1.Health(address, credentials, channelOptions);
      await expect(unary(health, "Check", { service: "plugin" })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      health.close();
    }
  });

  it("ignores SIGINT (the engine stops providers through the protocol)", async () => {
    plugin.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    const health = new pkg.grpc.health.v1.Health(address, tlsCredentials(serverCertPem, clientCert), channelOptions);
    expect(await unary(health, "Check", { service: "plugin" })).toEqual({ status: "SERVING" });
    health.close();
  });

  it("exits when GRPCController/Shutdown is called, logging only to stderr", async () => {
    const controller = new pkg.plugin.GRPCController(address, tlsCredentials(serverCertPem, clientCert), channelOptions);
    await unary(controller, "Shutdown");
    controller.close();
    expect(await plugin.exited).toBe(0);
    // Every stderr line is a JSON log entry in hclog's shape.
    for (const line of plugin.stderr().split("\n").filter(Boolean)) {
      expect(JSON.parse(line)).toMatchObject({ "@level": expect.any(String), "@message": expect.any(String) });
    }
  });
});

describe("launched without PLUGIN_CLIENT_CERT", () => {
  it("serves plaintext and leaves the certificate field empty", async () => {
    const plugin = await launch({ ...pluginEnv(), PLUGIN_MIN_PORT: undefined, PLUGIN_MAX_PORT: undefined });
    timings.push(plugin.ms);
    try {
      expect(plugin.line).toMatch(/^1\|6\|tcp\|127\.0\.0\.1:\d+\|grpc\|$/);
      const address = plugin.line.split("|")[3];
      const health = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
      expect(await unary(health, "Check", { service: "plugin" })).toEqual({ status: "SERVING" });
      health.close();
      const controller = new pkg.plugin.GRPCController(address, grpc.credentials.createInsecure());
      await unary(controller, "Shutdown");
      controller.close();
      expect(await plugin.exited).toBe(0);
    } finally {
      plugin.child.kill("SIGKILL");
    }
  }, 20_000);

  it("announces protocol 6 even when the engine offers only 5, so the engine reports the mismatch", async () => {
    const plugin = await launch({ ...pluginEnv(), PLUGIN_PROTOCOL_VERSIONS: "5" });
    timings.push(plugin.ms);
    plugin.child.kill("SIGKILL");
    expect(plugin.line.split("|")[1]).toBe("6");
  }, 20_000);
});

/** Runs the launcher with `env` until it exits (a launch that never prints a handshake line). */
async function runToExit(env: NodeJS.ProcessEnv): Promise<{ code: unknown; stdout: string; stderr: string }> {
  const child = spawn(launcher, [], { env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => (stderr += c));
  const code = await new Promise((resolve) => child.on("close", resolve));
  return { code, stdout, stderr };
}

describe("launched with a PLUGIN_CLIENT_CERT that is not a certificate", () => {
  it("fails the launch before any handshake line, naming the variable, instead of failing the engine's connection", async () => {
    const { code, stdout, stderr } = await runToExit({
      ...process.env,
      ...pluginEnv("-----BEGIN CERTIFICATE-----\nnot base64 DER\n-----END CERTIFICATE-----\n"),
    });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("PLUGIN_CLIENT_CERT is not a PEM certificate");
  }, 20_000);
});

describe("launched by hand", () => {
  for (const [label, cookie] of [
    ["without the magic cookie", undefined],
    ["with a wrong magic cookie", "not-the-cookie"],
  ] as const) {
    it(`${label}: explains itself on stderr, prints nothing on stdout, exits 1`, async () => {
      const { code, stdout, stderr } = await runToExit({ PATH: process.env.PATH, TF_PLUGIN_MAGIC_COOKIE: cookie });
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toContain("This binary is a plugin for OpenTofu and Terraform");
      expect(stderr).toContain("not meant to be executed directly");
    }, 20_000);
  }
});
