// The plugin prints its handshake line as soon as its port is bound, before grpc-js is loaded; the
// engine connects at once. Those connections wait in the listener (listener.ts) and must be served,
// over mutual TLS exactly as strict as later ones, once the gRPC server takes the listener over.
import * as grpc from "@grpc/grpc-js";
import { createServer, type Server } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateSelfSignedCertificate, type SelfSignedCertificate } from "../../cdktf-provider/src/protocol/certificate.js";
import { listen, type PluginListener } from "../../cdktf-provider/src/protocol/listener.js";
import { createLogger } from "../../cdktf-provider/src/protocol/logger.js";
import { createPluginServer, loadProtocolPackage, type PluginServer, type TlsConfig } from "../../cdktf-provider/src/protocol/server.js";

const pkg = loadProtocolPackage() as any;
const channelOptions = { "grpc.ssl_target_name_override": "localhost" };

let serverCert: SelfSignedCertificate;
let clientCert: SelfSignedCertificate;
let strangerCert: SelfSignedCertificate;
let tls: TlsConfig;

beforeAll(async () => {
  [serverCert, clientCert, strangerCert] = await Promise.all([
    generateSelfSignedCertificate(),
    generateSelfSignedCertificate(),
    generateSelfSignedCertificate(),
  ]);
  tls = { clientCertPem: clientCert.certPem, certPem: serverCert.certPem, keyPem: serverCert.keyPem };
});

let listener: PluginListener | undefined;
let plugin: PluginServer | undefined;
const clients: grpc.Client[] = [];
const logs: string[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  plugin?.close();
  await listener?.close();
  plugin = listener = undefined;
  logs.length = 0;
});

function health(port: number, credentials: grpc.ChannelCredentials): grpc.Client & Record<string, any> {
  const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials, channelOptions);
  clients.push(client);
  return client;
}

const check = (client: Record<string, any>) =>
  new Promise<unknown>((resolve, reject) =>
    client.Check({ service: "plugin" }, { deadline: Date.now() + 10_000 }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))),
  );

/** Until the client's TCP connection is open (and, this process being both ends, accepted); its TLS handshake cannot complete yet. */
async function connected(client: grpc.Client): Promise<void> {
  const channel = client.getChannel();
  await expect.poll(() => channel.getConnectivityState(true), { timeout: 5000 }).toBe(grpc.connectivityState.CONNECTING);
  await delay(300);
}

/** The gRPC server, created only now (as the plugin does after its line), taking the listener over. */
function serve(served: PluginListener, withTls?: TlsConfig): number {
  plugin = createPluginServer(
    async () => {
      throw new Error("health calls need no provider");
    },
    { log: createLogger({ TF_LOG: "debug" }, (line) => logs.push(line)) },
  );
  plugin.serve(served, withTls);
  const serving = logs.map((line) => JSON.parse(line)).find((entry) => entry["@message"] === "serving");
  return serving.connections_waiting;
}

describe("a connection opened before the gRPC server is ready", () => {
  it("is served over mutual TLS once the server takes the listener over, and later connections too", async () => {
    listener = await listen([0]);
    const credentials = grpc.credentials.createSsl(Buffer.from(serverCert.certPem), Buffer.from(clientCert.keyPem), Buffer.from(clientCert.certPem));
    const early = health(listener.port, credentials);
    const answered = check(early);
    await connected(early);

    expect(serve(listener, tls)).toBe(1);
    expect(await answered).toEqual({ status: "SERVING" });
    // A separate channel (its own options, so its own connection), made after the server is ready.
    const late = new pkg.grpc.health.v1.Health(`127.0.0.1:${listener.port}`, credentials, { ...channelOptions, "grpc.primary_user_agent": "late" });
    clients.push(late);
    expect(await check(late)).toEqual({ status: "SERVING" });
  });

  it("is refused, like any other, without PLUGIN_CLIENT_CERT's certificate", async () => {
    listener = await listen([0]);
    const attempts = [
      grpc.credentials.createSsl(Buffer.from(serverCert.certPem)),
      grpc.credentials.createSsl(Buffer.from(serverCert.certPem), Buffer.from(strangerCert.keyPem), Buffer.from(strangerCert.certPem)),
      grpc.credentials.createInsecure(),
    ].map((credentials) => health(listener!.port, credentials));
    const answers = Promise.allSettled(attempts.map((client) => check(client)));
    for (const client of attempts) await connected(client);

    expect(serve(listener, tls)).toBe(attempts.length);
    for (const answer of await answers) expect(answer).toMatchObject({ status: "rejected", reason: { code: grpc.status.UNAVAILABLE } });
  });

  it("is served in plaintext when the engine sets no PLUGIN_CLIENT_CERT", async () => {
    listener = await listen([0]);
    const early = health(listener.port, grpc.credentials.createInsecure());
    const answered = check(early);
    await connected(early);

    expect(serve(listener)).toBe(1);
    expect(await answered).toEqual({ status: "SERVING" });
  });
});

describe("the listener", () => {
  it("binds the first free port of the engine's range, and says so when none is", async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = (holder.address() as { port: number }).port;
    try {
      listener = await listen([taken, 0]);
      expect(listener.port).not.toBe(taken);
      expect(listener.port).toBeGreaterThan(0);
      await expect(listen([taken])).rejects.toThrow(`could not bind a port on 127.0.0.1 (1 tried)`);
    } finally {
      holder.close();
    }
  });
});
