// A short pass over what a user runs first, for the oldest Node line the project supports: .ci/run
// runs the whole suite on Node 24, then builds with Node 22 and runs this file alone on it. The built
// service starts on PGlite and on PostgreSQL, answers /readyz, creates, resolves and rotates a
// credential; the built plugin completes the go-plugin handshake and answers a health check over
// AutoMTLS. In the whole suite it runs like any other file.
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSelfSignedCertificate } from "../../cdktf-provider/src/protocol/certificate.js";
import { MAGIC_COOKIE_VALUE, parseHandshakeLine } from "../../cdktf-provider/src/protocol/handshake.js";
import { loadProtocolPackage } from "../../cdktf-provider/src/protocol/server.js";
import { createPgTestDatabase, testDatabases } from "../support/db.js";
import { callApi, serviceEnv, startServiceProcess, type ServiceEnv, type ServiceProcess } from "../support/service-process.js";

for (const kind of testDatabases()) {
  describe(`the built service on ${kind === "pg" ? "PostgreSQL" : "PGlite"}, Node ${process.versions.node}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "kp-smoke-"));
    let dropDatabase: (() => Promise<void>) | undefined;
    let env: ServiceEnv;
    let service: ServiceProcess;

    beforeAll(async () => {
      let databaseUrl: string | undefined;
      if (kind === "pg") ({ url: databaseUrl, drop: dropDatabase } = await createPgTestDatabase());
      env = serviceEnv(dataDir, databaseUrl);
      service = await startServiceProcess(env);
    }, 60_000);

    afterAll(async () => {
      service?.child.kill("SIGTERM");
      await service?.exited;
      await dropDatabase?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("creates, resolves and rotates a credential", async () => {
      const api = (method: string, path: string, token: string, body?: unknown) => callApi(service.url, method, path, token, body);
      const org = await api("POST", "/v1/organizations", env.bootstrapToken, { name: "Smoke", slug: "smoke" });
      expect(org.status, JSON.stringify(org.body)).toBe(201);
      const token = async (role: string) => (await api("POST", `/v1/organizations/${org.body.id}/tokens`, env.bootstrapToken, { role, name: role })).body.token;
      const [admin, resolver] = [await token("admin"), await token("resolver")];
      const keys = [1, 2].map(() => `sk-proj-smoke${randomBytes(16).toString("hex")}`);

      const created = await api("POST", `/v1/organizations/${org.body.id}/credentials`, admin, { provider: "openai", name: "smoke", api_key: keys[0] });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const resolve = () => api("POST", `/v1/organizations/${org.body.id}/resolve`, resolver, { provider: "openai" });
      expect((await resolve()).body).toMatchObject({ secret: keys[0], credential_id: created.body.id, key_version: 1 });

      const rotated = await api("POST", `/v1/organizations/${org.body.id}/credentials/${created.body.id}/rotate`, admin, { api_key: keys[1] });
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect((await resolve()).body).toMatchObject({ secret: keys[1], key_version: 2 });
    });
  });
}

describe(`the built plugin, Node ${process.versions.node}`, () => {
  it("completes the go-plugin handshake and answers a health check over AutoMTLS", async () => {
    const clientCert = await generateSelfSignedCertificate();
    const launcher = join(process.cwd(), "cdktf-provider/bin/terraform-provider-keyplane");
    const plugin = spawn(launcher, [], {
      env: {
        PATH: process.env.PATH,
        KEYPLANE_NODE: process.execPath,
        TF_PLUGIN_MAGIC_COOKIE: MAGIC_COOKIE_VALUE,
        PLUGIN_PROTOCOL_VERSIONS: "6",
        PLUGIN_CLIENT_CERT: clientCert.certPem,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const exited = new Promise<never>((_, reject) => plugin.once("exit", (code) => reject(new Error(`plugin exited (${code}) before the handshake`))));
      const [line] = (await Promise.race([once(createInterface({ input: plugin.stdout }), "line"), exited])) as string[];
      const [core, protocol, network, , kind] = line.split("|");
      expect([core, protocol, network, kind]).toEqual(["1", "6", "tcp", "grpc"]);
      const { address, serverCertPem } = parseHandshakeLine(line);
      const credentials = grpc.credentials.createSsl(Buffer.from(serverCertPem!), Buffer.from(clientCert.keyPem), Buffer.from(clientCert.certPem));
      const health = new (loadProtocolPackage() as any).grpc.health.v1.Health(address, credentials, { "grpc.ssl_target_name_override": "localhost" });
      try {
        const status = await new Promise((resolve, reject) =>
          health.Check({ service: "plugin" }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))),
        );
        expect(status).toEqual({ status: "SERVING" });
      } finally {
        health.close();
      }
    } finally {
      plugin.kill("SIGKILL");
    }
  }, 30_000);
});
