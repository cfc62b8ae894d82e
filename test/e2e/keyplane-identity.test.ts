/**
 * `keyplane run` and `keyplane env` with `--identity-token-file`: the built CLI (dist/) as a
 * separate process trades the identity token a local OIDC issuer (test/support/oidc-issuer.ts)
 * signed for a short-lived Keyplane token, against a real Keyplane on 127.0.0.1. Neither the
 * identity token nor the issued token may appear in anything the CLI prints.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { TestOidcIssuer } from "../support/oidc-issuer.js";
import { bearer, seedOrganization, type TestRuntime } from "../support/runtime.js";
import { startService, type E2eService } from "../support/service.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/service/cli/main.js");

const KEY_A = "sk-proj-IdentityProjectA000000000000000000000a01";
const KEY_B = "sk-proj-IdentityProjectB000000000000000000000b02";
const rotatedKey = (n: number) => `sk-proj-IdentityRotated0000000000000000000r${String(n).padStart(4, "0")}`;
const SUBJECT = (n: number) => `system:serviceaccount:agents:worker-${n}`;
/** The shortest lifetime a binding allows: the CLI renews at 80% of it, 48 s in. */
const TTL_SECONDS = 60;

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

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(50);
  }
}

interface Exchange {
  subject: string;
  token_id: string;
  expires_at: string;
  at: number;
}

const kinds = testDatabases();
for (const kind of kinds) {
  describe(`keyplane run / env --identity-token-file end to end (${kind})`, () => {
    let service: E2eService;
    let t: TestRuntime;
    const issuer = new TestOidcIssuer();
    let orgId: string;
    let projectA: string;
    let projectB: string;
    let credentialA: string;
    let bindingId: string;
    let admin: Record<string, string>;
    let tmp: string;
    let tokenFile: string;
    const identityTokens: string[] = [];
    const running: Cli[] = [];

    const sign = async (subject: string, lifetimeSeconds = 3600) => {
      const jwt = await issuer.sign({ aud: "keyplane", sub: subject }, { lifetimeSeconds });
      identityTokens.push(jwt);
      return jwt;
    };
    const cli = (args: string[], extra: Record<string, string> = {}) => {
      const started = startCli(args, { KEYPLANE_ENDPOINT: service.url, KEYPLANE_ORGANIZATION_ID: orgId, ...extra });
      running.push(started);
      return started;
    };
    /** Successful exchanges through the binding, oldest first. */
    const exchanges = async (): Promise<Exchange[]> => {
      const res = await t.api.get(`/v1/organizations/${orgId}/audit-events`).query({ target_id: bindingId, limit: 200 }).set(admin);
      expect(res.status).toBe(200);
      return (res.body.data as { action: string; outcome: string; seq: number; created_at: string; details: Exchange }[])
        .filter((e) => e.action === "identity.exchange" && e.outcome === "success")
        .sort((a, b) => a.seq - b.seq)
        .map((e) => ({ ...e.details, at: Date.parse(e.created_at) }));
    };
    /** Neither identity token, nor any Keyplane token, nor a key of the other project. */
    const expectNothingSecretIn = (text: string) => {
      for (const jwt of identityTokens) {
        expect(text).not.toContain(jwt);
        expect(text).not.toContain(jwt.split(".")[2]);
      }
      expect(text).not.toMatch(/kp_[A-Za-z0-9_-]{20,}/);
      expect(text).not.toContain(KEY_B);
    };

    beforeAll(async () => {
      await issuer.start();
      service = await startService(kind, {
        KEYPLANE_ALLOW_INSECURE_ISSUERS: "1",
        KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
        KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "100000",
      });
      t = service.runtime;
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      admin = bearer(seeded.tokens.admin);
      const post = async (path: string, body: Record<string, unknown>) => {
        const res = await t.api.post(`/v1/organizations/${orgId}${path}`).set(admin).send(body);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.id as string;
      };
      projectA = await post("/projects", { name: "agents" });
      projectB = await post("/projects", { name: "elsewhere" });
      credentialA = await post("/credentials", { provider: "openai", name: "agents", api_key: KEY_A, project_id: projectA });
      await post("/credentials", { provider: "openai", name: "elsewhere", api_key: KEY_B, project_id: projectB });
      bindingId = await post("/identity-bindings", {
        name: "agents",
        issuer: issuer.url,
        audience: "keyplane",
        subject: "system:serviceaccount:agents:*",
        project_id: projectA,
        ttl_seconds: TTL_SECONDS,
      });
      tmp = mkdtempSync(join(tmpdir(), "kp-identity-"));
      tokenFile = join(tmp, "token");
    }, 180_000);
    afterAll(async () => {
      for (const c of running) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
      await service?.close();
      await issuer.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("run exchanges the token in the file; the child gets its project's key and neither token", async () => {
      writeFileSync(tokenFile, `${await sign(SUBJECT(1))}\n`);
      const script = `
        const pick = ["OPENAI_API_KEY", "KEYPLANE_TOKEN", "KEYPLANE_IDENTITY_TOKEN_FILE"];
        console.log(JSON.stringify(Object.fromEntries(pick.map((k) => [k, process.env[k] ?? null]))));`;
      const run = cli(["run", "--", process.execPath, "-e", script], { KEYPLANE_IDENTITY_TOKEN_FILE: tokenFile });
      expect(await run.done, run.stderr()).toEqual({ code: 0, signal: null });
      expect(JSON.parse(run.stdout())).toEqual({ OPENAI_API_KEY: KEY_A, KEYPLANE_TOKEN: null, KEYPLANE_IDENTITY_TOKEN_FILE: null });
      expect(run.stderr()).toBe("");
      expectNothingSecretIn(run.stderr());
      const [exchange] = (await exchanges()).slice(-1);
      expect(exchange.subject).toBe(SUBJECT(1));
    });

    it("env exchanges through the named binding and resolves only in the binding's project", async () => {
      const env = cli(["env", "--format", "json", "--identity-token-file", tokenFile, "--identity-binding", bindingId]);
      expect(await env.done, env.stderr()).toEqual({ code: 0, signal: null });
      expect(JSON.parse(env.stdout())).toEqual({ OPENAI_API_KEY: KEY_A });
      expectNothingSecretIn(env.stdout() + env.stderr());

      const elsewhere = cli(["env", "--format", "json", "--identity-token-file", tokenFile, "--project", projectB]);
      expect((await elsewhere.done).code).toBe(1);
      expect(elsewhere.stdout()).toBe("");
      expect(elsewhere.stderr()).toContain("HTTP 404");
      expectNothingSecretIn(elsewhere.stderr());
    });

    it("says which file and which check failed, runs nothing, and prints no token", async () => {
      const marker = join(tmp, "ran");
      const touch = [process.execPath, "-e", `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "")`];

      const missing = cli(["run", "--identity-token-file", join(tmp, "absent"), "--", ...touch]);
      expect((await missing.done).code).toBe(125);
      expect(missing.stderr()).toContain(`cannot read the identity token file ${join(tmp, "absent")} (ENOENT)`);

      const expiredFile = join(tmp, "expired");
      const expiredJwt = await issuer.sign({ aud: "keyplane", sub: SUBJECT(1) }, { issuedAtOffsetSeconds: -600 });
      identityTokens.push(expiredJwt);
      writeFileSync(expiredFile, expiredJwt);
      const expired = cli(["run", "--identity-token-file", expiredFile, "--", ...touch]);
      expect((await expired.done).code).toBe(125);
      expect(expired.stderr()).toContain(`the identity token in ${expiredFile} was not exchanged`);
      expect(expired.stderr()).toContain("HTTP 401 expired");

      const wrongSubject = join(tmp, "wrong-subject");
      writeFileSync(wrongSubject, await sign("system:serviceaccount:other:worker"));
      const refused = cli(["env", "--identity-token-file", wrongSubject]);
      expect((await refused.done).code).toBe(1);
      expect(refused.stderr()).toContain("HTTP 401 subject_mismatch");

      const both = cli(["env", "--identity-token-file", tokenFile], { KEYPLANE_TOKEN: `kp_${"z".repeat(43)}` });
      expect((await both.done).code).toBe(1);
      expect(both.stderr()).toContain("not both");

      expect(existsSync(marker)).toBe(false);
      for (const c of [missing, expired, refused, both]) {
        expect(c.stdout()).toBe("");
        expectNothingSecretIn(c.stderr());
      }
    });

    // The CLI's renewal does not depend on the database, and waiting out 80% of the shortest
    // lifetime a binding allows takes 48 s: once is enough.
    it.runIf(kind === kinds[0])(
      "env --watch re-reads the rewritten file, exchanges again on a 401 and before the token expires",
      async () => {
        writeFileSync(tokenFile, await sign(SUBJECT(1)));
        const output = join(tmp, "watched.json");
        const before = (await exchanges()).length;
        const watcher = cli(["env", "--watch", "--format", "json", "--output", output, "--identity-token-file", tokenFile]);
        await waitFor(() => existsSync(output), "the first write", 15_000);
        expect(JSON.parse(readFileSync(output, "utf8"))).toEqual({ OPENAI_API_KEY: KEY_A });
        const [first] = (await exchanges()).slice(before);
        expect(first.subject).toBe(SUBJECT(1));

        // Kubernetes rewrites the projected token; then the issued token is revoked. The next
        // request is refused and the CLI exchanges the file's new content.
        writeFileSync(tokenFile, await sign(SUBJECT(2)));
        const revoked = await t.api.delete(`/v1/organizations/${orgId}/tokens/${first.token_id}`).set(admin);
        expect(revoked.status, JSON.stringify(revoked.body)).toBe(204);
        let rotations = 0;
        const rotate = async () => {
          const key = rotatedKey(++rotations);
          const res = await t.api.post(`/v1/organizations/${orgId}/credentials/${credentialA}/rotate`).set(admin).send({ api_key: key });
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          return key;
        };
        const key1 = await rotate();
        await waitFor(async () => (await exchanges()).length >= before + 2, "the exchange after the 401", 40_000);
        await waitFor(() => readFileSync(output, "utf8").includes(key1), "the rotated key in the file", 40_000);
        const second = (await exchanges())[before + 1];
        expect(second.subject).toBe(SUBJECT(2));

        // Renewed at 80% of the issued lifetime: after 48 s, before the 60 s are up.
        await waitFor(async () => (await exchanges()).length >= before + 3, "the renewal", (TTL_SECONDS + 10) * 1000);
        const third = (await exchanges())[before + 2];
        const issuedAt = Date.parse(second.expires_at) - TTL_SECONDS * 1000;
        expect(third.at - issuedAt).toBeGreaterThanOrEqual(TTL_SECONDS * 1000 * 0.8 - 1000);
        expect(third.at).toBeLessThan(Date.parse(second.expires_at));
        expect(third.subject).toBe(SUBJECT(2));

        // The renewed token works: the next rotation still reaches the file.
        const key2 = await rotate();
        await waitFor(() => readFileSync(output, "utf8").includes(key2), "the second rotated key in the file", 40_000);

        watcher.child.kill("SIGTERM");
        expect((await watcher.done).code).toBe(0);
        expect(watcher.stdout()).toBe("");
        expectNothingSecretIn(watcher.stderr());
      },
      150_000,
    );
  });
}
