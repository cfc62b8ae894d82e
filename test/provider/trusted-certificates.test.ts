/**
 * The plugin reaching a Keyplane service whose certificate a private CA issued (the service
 * terminates TLS itself), trusting that CA through `ca_file` in the provider block or through
 * NODE_EXTRA_CA_CERTS. Node reads NODE_EXTRA_CA_CERTS at process start and the plugin sets its
 * trusted authorities process-wide, so each case launches the plugin executable in a process of
 * its own, as the engine does. SSL_CERT_FILE is covered end to end by the provider-registry e2e.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ObjectValue } from "../../cdktf-provider/src/protocol/cty.js";
import { callApi, serviceEnv, startServiceProcess, type ServiceProcess } from "../support/service-process.js";
import { writeTestCa } from "../support/test-ca.js";
import { ProviderSession, type Diag, type ProviderConfig } from "./resources-harness.js";

const API_KEY = `sk-proj-TrustedCa${randomBytes(24).toString("hex")}`;

describe("the plugin against a service with a private CA's certificate", () => {
  let root: string;
  let caFile: string;
  let service: ServiceProcess;
  let token: string;
  let orgId: string;
  let sessions: ProviderSession[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "kp-trust-"));
    const ca = writeTestCa(root);
    caFile = ca.caFile;
    const env = serviceEnv(join(root, "data"));
    env.extra = { ...ca.serviceTls, KEYPLANE_LOG_LEVEL: "warn" };
    service = await startServiceProcess(env);
    const org = await callApi(service.url, "POST", "/v1/organizations", env.bootstrapToken, { name: "Trust", slug: `trust-${randomBytes(3).toString("hex")}` });
    orgId = org.body.id;
    token = (await callApi(service.url, "POST", `/v1/organizations/${orgId}/tokens`, env.bootstrapToken, { role: "admin", name: "trust" })).body.token;
    const created = await callApi(service.url, "POST", `/v1/organizations/${orgId}/credentials`, token, {
      provider: "openai",
      name: "behind-tls",
      api_key: API_KEY,
    });
    expect(created.status).toBe(201);
  }, 120_000);

  afterEach(() => {
    for (const session of sessions) session.close();
    sessions = [];
  });

  afterAll(async () => {
    service?.child.kill("SIGTERM");
    await service?.exited;
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** ConfigureProvider in a freshly launched plugin; what the engine would show, and the plugin's log. */
  async function configure(config: ProviderConfig, env: Record<string, string> = {}) {
    const { session, diagnostics, stderr } = await ProviderSession.launch({ endpoint: service.url, token, organization_id: orgId, ...config }, env);
    sessions.push(session);
    return { session, diagnostics, stderr };
  }

  function expectNoSecret(...seen: unknown[]) {
    const text = JSON.stringify(seen);
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(token);
  }

  async function expectWorking(session: ProviderSession) {
    const read = await session.readData("keyplane_credentials", {});
    expect(read.diagnostics).toEqual([]);
    expect((read.state?.credentials as ObjectValue[]).map((c) => c.name)).toEqual(["behind-tls"]);
    return read;
  }

  it("is an https endpoint under localhost's name", () => {
    expect(service.url).toMatch(/^https:\/\/localhost:\d+$/);
  });

  /** Configures without diagnostics, reads the credential, and nothing it wrote or sent holds a secret. */
  async function expectTrusted(...args: Parameters<typeof configure>) {
    const { session, diagnostics, stderr } = await configure(...args);
    expect(diagnostics).toEqual([]);
    const read = await expectWorking(session);
    expectNoSecret(
      read,
      stderr(),
      session.wire.map((b) => b.toString("latin1")),
    );
  }

  it("trusts the CA of ca_file", () => expectTrusted({ ca_file: caFile }));

  it("trusts the CA of NODE_EXTRA_CA_CERTS in its environment", () => expectTrusted({}, { NODE_EXTRA_CA_CERTS: caFile }));

  it("without either, refuses at the provider block, naming the untrusted certificate", async () => {
    const { diagnostics, stderr } = await configure({});
    expect(diagnostics).toEqual([
      {
        severity: "ERROR",
        summary: "Keyplane service certificate not trusted",
        detail: expect.stringContaining("ca_file"),
        path: ["endpoint"],
      },
    ] satisfies Diag[]);
    const [{ detail }] = diagnostics;
    expect(detail).toContain(service.url);
    expect(detail).toContain("CN=localhost");
    expect(detail).toContain("CN=Keyplane test CA");
    expect(detail).toContain("NODE_EXTRA_CA_CERTS");
    expectNoSecret(diagnostics, stderr());
  });

  it("refuses a ca_file that does not exist, naming ca_file", async () => {
    const missing = join(root, "no-such-ca.pem");
    const { diagnostics, stderr } = await configure({ ca_file: missing });
    expect(diagnostics).toEqual([
      {
        severity: "ERROR",
        summary: "Unusable ca_file",
        detail: `ca_file names a certificate bundle the plugin cannot use: ${missing} cannot be read (ENOENT).`,
        path: ["ca_file"],
      },
    ]);
    expectNoSecret(diagnostics, stderr());
  });

  it("refuses a ca_file that holds no certificate, naming ca_file", async () => {
    const empty = join(root, "not-a-bundle.pem");
    writeFileSync(empty, "# the bundle is elsewhere\n");
    const { diagnostics, stderr } = await configure({ ca_file: empty });
    expect(diagnostics).toEqual([
      {
        severity: "ERROR",
        summary: "Unusable ca_file",
        detail: `ca_file names a certificate bundle the plugin cannot use: ${empty} holds no PEM certificate.`,
        path: ["ca_file"],
      },
    ]);
    expectNoSecret(diagnostics, stderr());
  });
});
