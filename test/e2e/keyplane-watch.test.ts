/**
 * `keyplane run --watch` and `keyplane env --watch --output FILE` end to end: the built CLI
 * (dist/) as a separate process against a real Keyplane listening on 127.0.0.1, credentials
 * rotated through the API while it watches.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, type TestRuntime } from "../support/runtime.js";
import { startService, type E2eService } from "../support/service.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/service/cli/main.js");

/** A key whose last six characters say which it is: the child prints only those. */
const keyNumber = (n: number) => `sk-proj-WatchKey${"0".repeat(26)}wk${String(n).padStart(4, "0")}`;
const tail = (key: string) => key.slice(-6);

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCli(args: string[], env: Record<string, string>): Cli {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((settle) => child.on("close", (code, signal) => settle({ code, signal })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(10);
  }
  return Date.now() - started;
}

for (const kind of testDatabases()) {
  describe(`keyplane run --watch / env --watch end to end (${kind})`, () => {
    let service: E2eService;
    let t: TestRuntime;
    let orgId: string;
    let credentialId: string;
    let resolverToken: string;
    let admin: Record<string, string>;
    let env: Record<string, string>;
    let tmp: string;
    let rotations = 0;
    const running: Cli[] = [];

    /** Rotates the OpenAI credential to the next numbered key; returns it. */
    const rotate = async () => {
      const key = keyNumber(++rotations);
      const res = await t.api.post(`/v1/organizations/${orgId}/credentials/${credentialId}/rotate`).set(admin).send({ api_key: key });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return key;
    };
    const cli = (args: string[]) => {
      const started = startCli(args, env);
      running.push(started);
      return started;
    };
    const expectNoSecretIn = (text: string) => {
      for (let n = 0; n <= rotations; n++) expect(text).not.toContain(keyNumber(n));
      expect(text).not.toContain(resolverToken);
    };

    beforeAll(async () => {
      service = await startService(kind);
      t = service.runtime;
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      resolverToken = seeded.tokens.resolver;
      admin = bearer(seeded.tokens.admin);
      const res = await t.api
        .post(`/v1/organizations/${orgId}/credentials`)
        .set(admin)
        .send({ provider: "openai", name: "org", api_key: keyNumber(0) });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      credentialId = res.body.id;
      tmp = mkdtempSync(join(tmpdir(), "kp-watch-"));
      env = { KEYPLANE_ENDPOINT: service.url, KEYPLANE_TOKEN: resolverToken, KEYPLANE_ORGANIZATION_ID: orgId };
    }, 180_000);
    afterAll(async () => {
      for (const c of running) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
      await service?.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("run --watch restarts the command with the rotated key within 2 s, and exits with the command's code", async () => {
      // The handlers are installed before the line that tells the test the command is ready.
      const script = `
        process.on("SIGTERM", () => { console.log("stopping"); process.exit(0); });
        process.on("SIGUSR2", () => process.exit(3));
        console.log("key " + process.env.OPENAI_API_KEY.slice(-6));
        setInterval(() => {}, 1000);`;
      const run = cli(["run", "--watch", "--grace-period", "5", "--", process.execPath, "-e", script]);
      const current = keyNumber(rotations);
      await waitFor(() => run.stdout().includes(`key ${tail(current)}`), "the first start");
      for (let i = 0; i < 2; i++) {
        const key = await rotate();
        const seenAfter = await waitFor(() => run.stdout().includes(`key ${tail(key)}`), "the restarted command", 2_000);
        console.info(`keyplane run --watch (${kind}): the command saw the rotated key ${seenAfter} ms after the rotation`);
      }
      expect(run.stdout().match(/stopping/g)).toHaveLength(2);
      // A signal to keyplane reaches the command; it exits on its own and keyplane exits likewise.
      run.child.kill("SIGUSR2");
      expect(await run.done).toEqual({ code: 3, signal: null });
      expect(run.stderr()).toContain("restarting the command");
      expectNoSecretIn(run.stderr());
    });

    it("run --watch stops, rather than starting the command again, when told to stop during a restart", async () => {
      const script = `
        process.on("SIGTERM", () => { console.log("stopping"); setTimeout(() => process.exit(0), 500); });
        console.log("key " + process.env.OPENAI_API_KEY.slice(-6));
        setInterval(() => {}, 1000);`;
      const run = cli(["run", "--watch", "--", process.execPath, "-e", script]);
      await waitFor(() => run.stdout().includes("key "), "the first start");
      await rotate();
      await waitFor(() => run.stdout().includes("stopping"), "the restart to begin", 2_000);
      run.child.kill("SIGTERM");
      expect(await run.done).toEqual({ code: 0, signal: null });
      expect(run.stdout().match(/key /g)).toHaveLength(1);
    });

    it("run --watch --signal sends the signal instead of restarting", async () => {
      const script = `
        process.on("SIGHUP", () => console.log("got SIGHUP"));
        process.on("SIGTERM", () => process.exit(0));
        console.log("started " + process.env.OPENAI_API_KEY.slice(-6));
        setInterval(() => {}, 1000);`;
      const run = cli(["run", "--watch", "--signal", "HUP", "--", process.execPath, "-e", script]);
      await waitFor(() => run.stdout().includes("started"), "the start");
      await rotate();
      await waitFor(() => run.stdout().includes("got SIGHUP"), "the signal", 2_000);
      expect(run.stdout().match(/started/g)).toHaveLength(1);
      run.child.kill("SIGTERM");
      expect(await run.done).toEqual({ code: 0, signal: null });
    });

    it("env --watch --output rewrites the file atomically (mode 0600) on every rotation; a reader never sees a partial file", async () => {
      const dir = join(tmp, "env-out");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const file = join(dir, "keyplane.json");
      const watcher = cli(["env", "--watch", "--format", "json", "--output", file]);
      await waitFor(() => existsSync(file), "the first write");

      const expected = new Set<string>([keyNumber(rotations)]);
      let reads = 0;
      let stop = false;
      const failures: string[] = [];
      const reader = (async () => {
        while (!stop) {
          const text = readFileSync(file, "utf8");
          reads += 1;
          try {
            const key = (JSON.parse(text) as Record<string, string>).OPENAI_API_KEY;
            if (!expected.has(key)) failures.push(`unexpected value ending ${tail(key ?? "")}`);
          } catch {
            failures.push(`a read of ${text.length} characters did not parse`);
          }
          await delay(1);
        }
      })();

      for (let i = 0; i < 5; i++) {
        const next = keyNumber(rotations + 1);
        expected.add(next);
        await rotate();
        await waitFor(() => readFileSync(file, "utf8").includes(next), "the rewritten file", 2_000);
        expect(statSync(file).mode & 0o777).toBe(0o600);
      }
      stop = true;
      await reader;
      expect(failures).toEqual([]);
      expect(reads).toBeGreaterThan(50);

      watcher.child.kill("SIGTERM");
      expect((await watcher.done).code).toBe(0);
      expect(readdirSync(dir)).toEqual(["keyplane.json"]);
      expectNoSecretIn(watcher.stdout() + watcher.stderr());
    });

    it("env --watch refuses to run without --output", async () => {
      const refused = cli(["env", "--watch"]);
      expect((await refused.done).code).toBe(1);
      expect(refused.stderr()).toContain("--watch needs --output FILE");
      expect(refused.stdout()).toBe("");
    });
  });
}
