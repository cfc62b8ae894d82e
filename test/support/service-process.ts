/**
 * The built service as a separate process (`node dist/service/cli/main.js serve`), for tests that
 * kill it, restart it or send it signals. dist/ is built by test/support/build.global.ts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

export const CLI = join(process.cwd(), "dist/service/cli/main.js");

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface ServiceEnv {
  dataDir: string;
  masterKey: string;
  bootstrapToken: string;
  databaseUrl?: string;
  extra?: Record<string, string>;
}

export function serviceEnv(dataDir: string, databaseUrl?: string): ServiceEnv {
  return {
    dataDir,
    databaseUrl,
    masterKey: randomBytes(32).toString("base64"),
    bootstrapToken: `kp_${randomBytes(32).toString("base64url")}`,
  };
}

export async function startServiceProcess(env: ServiceEnv): Promise<ServiceProcess> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    KEYPLANE_DATA_DIR: env.dataDir,
    KEYPLANE_MASTER_KEY: env.masterKey,
    KEYPLANE_BOOTSTRAP_TOKEN: env.bootstrapToken,
    KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: "0",
    ...env.extra,
  };
  delete childEnv.DATABASE_URL;
  if (env.databaseUrl) childEnv.DATABASE_URL = env.databaseUrl;
  const child = spawn(process.execPath, [CLI, "serve"], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  // With KEYPLANE_TLS_*: https, under the name its test certificate is for (the test process trusts its CA).
  const url = env.extra?.KEYPLANE_TLS_CERT_FILE ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${output}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { url, child, output: () => output, exited };
    } catch {
      // not listening yet
    }
    await delay(100);
  }
  child.kill("SIGKILL");
  throw new Error(`service not ready after 30 s: ${output}`);
}

export async function callApi(url: string, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}
