/**
 * A port that is already taken: `keyplane serve` exits non-zero with a message naming the port
 * and address, never says it is listening, and does not spend the one-time bootstrap token (the
 * next start on a free port still prints it).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgTestDatabase, testDatabases } from "../support/db.js";
import { CLI, freePort } from "../support/service-process.js";

interface Run {
  code: number | null;
  output: string;
}

/** `keyplane serve` on the given port: resolves when it exits, or kills it after `waitMs`. */
function serveUntilExit(port: number, env: Record<string, string>, waitMs = 20_000): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", KEYPLANE_LOG_LEVEL: "info", ...env };
  delete childEnv.KEYPLANE_BOOTSTRAP_TOKEN;
  if (!env.DATABASE_URL) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, [CLI, "serve"], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), waitMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Starts `keyplane serve` on a free port, waits until it answers /readyz, then stops it. */
async function serveOnce(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", ...env };
  delete childEnv.KEYPLANE_BOOTSTRAP_TOKEN;
  if (!env.DATABASE_URL) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, [CLI, "serve"], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((r) => child.once("exit", r));
  try {
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${output}`);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) {
        // The log line reaches the pipe asynchronously: /readyz can answer before it arrives.
        for (let j = 0; j < 50 && !/listening/i.test(output); j++) await delay(100);
        return output;
      }
      await delay(100);
    }
    throw new Error(`service not ready after 30 s: ${output}`);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

for (const kind of testDatabases()) {
  describe(`a taken port (${kind})`, () => {
    let holder: Server;
    let port: number;
    const dataDir = mkdtempSync(join(tmpdir(), "kp-port-"));
    let env: Record<string, string>;
    let dropDatabase: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      holder = createServer();
      await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
      port = (holder.address() as { port: number }).port;
      env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_MASTER_KEY: randomBytes(32).toString("base64") };
      if (kind === "pg") {
        const database = await createPgTestDatabase();
        env.DATABASE_URL = database.url;
        dropDatabase = database.drop;
      }
    }, 60_000);
    afterAll(async () => {
      await new Promise((r) => holder?.close(r));
      await dropDatabase?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("exits non-zero naming the port and address, without claiming to listen or printing the one-time token", async () => {
      const run = await serveUntilExit(port, env);
      expect(run.code, run.output).not.toBe(0);
      expect(run.code, "the process was still running and had to be killed").not.toBeNull();
      expect(run.output).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(run.output).not.toMatch(/listening/i);
      expect(run.output).not.toContain("shown only this once");
      expect(run.output).not.toMatch(/kp_[A-Za-z0-9_-]{43}/);
    }, 60_000);

    it("prints the one-time token on the next start on a free port, so it was not spent", async () => {
      const output = await serveOnce(env);
      expect(output).toContain("shown only this once");
      expect(output).toMatch(/kp_[A-Za-z0-9_-]{43}/);
      expect(output).toMatch(/listening/i);
    }, 60_000);
  });
}
