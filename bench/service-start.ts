// `npm start` on this (built) checkout to a healthy /readyz on the embedded database: what someone
// who runs the service locally waits for. A new data directory's first start also creates the
// database and runs every migration; later starts open it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

const STARTS = 5;

async function startOnce(root: string, port: number, dataDir: string, masterKey: string): Promise<number> {
  const started = process.hrtime.bigint();
  // Its own process group: npm runs the service as a child, and both must go at the end.
  const child = spawn("npm", ["start", "--silent"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", KEYPLANE_DATA_DIR: dataDir, KEYPLANE_MASTER_KEY: masterKey },
    stdio: "ignore",
    detached: true,
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode} before /readyz was healthy`);
      if (Number(process.hrtime.bigint() - started) > 120e9) throw new Error("npm start: /readyz not healthy after 120 s");
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return Number(process.hrtime.bigint() - started) / 1e6;
      } catch {
        // not listening yet
      }
      await delay(10);
    }
  } finally {
    if (child.exitCode === null && child.pid) process.kill(-child.pid, "SIGTERM");
    await exited;
    // npm's exit does not wait for the service's; the next start needs the data directory free.
    while (child.pid && groupAlive(child.pid)) await delay(20);
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Median of later starts on one data directory, and the first start that created it. */
export async function serviceStart(root: string, freePort: () => Promise<number>) {
  const dataDir = mkdtempSync(join(tmpdir(), "kp-bench-start-"));
  // The same key every start: the data directory's credentials are sealed with it.
  const masterKey = randomBytes(32).toString("base64");
  try {
    const first = await startOnce(root, await freePort(), dataDir, masterKey);
    const later: number[] = [];
    for (let i = 0; i < STARTS; i++) later.push(await startOnce(root, await freePort(), dataDir, masterKey));
    later.sort((a, b) => a - b);
    return { start_ms: Math.round(later[Math.floor(later.length / 2)]), first_start_ms: Math.round(first), starts: STARTS };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
