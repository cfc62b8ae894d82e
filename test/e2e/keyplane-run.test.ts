/**
 * `keyplane run` and `keyplane env` end to end: the built CLI (dist/) as a separate process
 * against a real Keyplane listening on 127.0.0.1, with a real child command.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { bearer, seedOrganization, type TestRuntime } from "../support/runtime.js";
import { startService, type E2eService } from "../support/service.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "dist/service/cli/main.js");

const OPENAI = "sk-proj-RunOpenAI000000000000000000000000000d01";
const PROJECT_OPENAI = "sk-proj-RunProjectOpenAI00000000000000000000d02";
const ANTHROPIC = "sk-ant-api03-RunAnthropic0000000000000000000000d03";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYRUNSECRETKEY";
// Quotes, a dollar sign, a backslash and spaces: what shell quoting must survive.
const TRICKY = `it's a "$HOME" \\ test; rm -rf / #d04`;
// Everything a shell would act on when sourcing an unquoted or double-quoted value: command
// substitutions that would create files in the working directory, quotes of both kinds, `\`,
// newlines (a trailing one too), a carriage return, a tab and non-ASCII text.
const HOSTILE = `a'b"c $(touch pwned-dollar) \`touch pwned-backtick\` \${HOME} $HOME \\ \\' '\\'' #x !x\nsecond line\r\nthird\ttab é ✓\n`;
const SECRETS = [OPENAI, PROJECT_OPENAI, ANTHROPIC, AWS_SECRET, TRICKY, HOSTILE];

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function startCli(args: string[], env: Record<string, string | undefined>): { child: ChildProcess; done: Promise<CliResult>; stdout: () => string } {
  const baseEnv: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
  const child = spawn(process.execPath, [CLI, ...args], { env: baseEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<CliResult>((settle) => child.on("close", (code, signal) => settle({ code, signal, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

const runCli = (args: string[], env: Record<string, string | undefined>) => startCli(args, env).done;

/** A node one-liner as the child command. */
const nodeChild = (script: string) => [process.execPath, "-e", script];

for (const kind of testDatabases()) {
  describe(`keyplane run / env end to end (${kind})`, () => {
    let service: E2eService;
    let t: TestRuntime;
    let endpoint: string;
    let orgId: string;
    let projectId: string;
    let resolverToken: string;
    let tmp: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      service = await startService(kind);
      t = service.runtime;
      endpoint = service.url;
      const seeded = await seedOrganization(t);
      orgId = seeded.org.id;
      resolverToken = seeded.tokens.resolver;
      const admin = bearer(seeded.tokens.admin);
      const create = async (body: Record<string, unknown>) => {
        const res = await t.api.post(`/v1/organizations/${orgId}/credentials`).set(admin).send(body);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      };
      await create({ provider: "openai", name: "org", api_key: OPENAI });
      await create({ provider: "anthropic", name: "org", api_key: ANTHROPIC });
      await create({
        provider: "bedrock",
        name: "aws",
        fields: { access_key_id: "AKIARUN0000000000001", secret_access_key: AWS_SECRET },
        settings: { region: "eu-central-1" },
      });
      await create({ provider: "custom", name: "tricky", api_key: TRICKY, env_var: "TRICKY_SECRET" });
      await create({ provider: "litellm", name: "hostile", api_key: HOSTILE, env_var: "HOSTILE_SECRET" });
      projectId = (await t.api.post(`/v1/organizations/${orgId}/projects`).set(admin).send({ name: "run", inherit_organization_credentials: true })).body.id;
      await create({ provider: "openai", name: "project", api_key: PROJECT_OPENAI, project_id: projectId });
      tmp = mkdtempSync(join(tmpdir(), "kp-run-"));
      env = { KEYPLANE_ENDPOINT: endpoint, KEYPLANE_TOKEN: resolverToken };
    }, 180_000);
    afterAll(async () => {
      await service?.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("injects the variables into the child, prints none of them, and returns the child's exit code", async () => {
      const out = join(tmp, "seen.json");
      const script = `
        const fs = require("node:fs");
        const pick = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "TRICKY_SECRET", "KEYPLANE_TOKEN"];
        fs.writeFileSync(process.argv[1], JSON.stringify(Object.fromEntries(pick.map((k) => [k, process.env[k] ?? null]))));
        console.log("child ran with", Object.keys(process.env).length, "variables");
        console.error("child stderr line");
        process.exit(7);`;
      const result = await runCli(["run", "--org", orgId, "--", ...nodeChild(script), out], env);
      expect(result.code).toBe(7);
      expect(result.stdout).toContain("child ran with");
      expect(result.stderr).toContain("child stderr line");
      const seen = JSON.parse(readFileSync(out, "utf8"));
      expect(seen).toEqual({
        OPENAI_API_KEY: OPENAI,
        ANTHROPIC_API_KEY: ANTHROPIC,
        AWS_ACCESS_KEY_ID: "AKIARUN0000000000001",
        AWS_SECRET_ACCESS_KEY: AWS_SECRET,
        AWS_REGION: "eu-central-1",
        TRICKY_SECRET: TRICKY,
        KEYPLANE_TOKEN: null,
      });
      for (const secret of [...SECRETS, resolverToken]) {
        expect(result.stdout).not.toContain(secret);
        expect(result.stderr).not.toContain(secret);
      }
    });

    it("overrides existing variables unless --preserve-env; flags beat KEYPLANE_* defaults", async () => {
      const print = nodeChild(
        `process.stdout.write(String(process.env.OPENAI_API_KEY === ${JSON.stringify(PROJECT_OPENAI)} ? "project" : process.env.OPENAI_API_KEY === ${JSON.stringify(OPENAI)} ? "organization" : process.env.OPENAI_API_KEY))`,
      );
      const overridden = await runCli(["run", "--org", orgId, "--", ...print], { ...env, OPENAI_API_KEY: "mine" });
      expect(overridden.stdout).toBe("organization");
      const preserved = await runCli(["run", "--org", orgId, "--preserve-env", "--", ...print], { ...env, OPENAI_API_KEY: "mine" });
      expect(preserved.stdout).toBe("mine");

      const defaults = await runCli(["run", "--", ...print], { ...env, KEYPLANE_ORGANIZATION_ID: orgId, KEYPLANE_PROJECT_ID: projectId });
      expect(defaults.code).toBe(0);
      expect(defaults.stdout).toBe("project");
      const flagsWin = await runCli(["run", "--org", orgId, "--", ...print], { ...env, KEYPLANE_ORGANIZATION_ID: "org_00000000000000000000000000" });
      expect(flagsWin.stdout).toBe("organization");
      const environment = await runCli(["run", "--org", orgId, "--environment", "staging", "--", ...print], env);
      expect(environment.stdout).toBe("undefined");

      // Options after the command name belong to the command.
      const echo = join(tmp, "echo-args.cjs");
      writeFileSync(echo, "console.log(process.argv.slice(2).join(' '))");
      const passthrough = await runCli(["run", "--org", orgId, process.execPath, echo, "--org", "x"], env);
      expect(passthrough.stdout.trim()).toBe("--org x");
    });

    it("forwards signals to the child and exits the way the child did", async () => {
      const handles = startCli(
        [
          "run",
          "--org",
          orgId,
          "--",
          ...nodeChild(
            `process.on("SIGTERM", () => { console.log("child got SIGTERM"); process.exit(42); }); console.log("ready"); setInterval(() => {}, 1000);`,
          ),
        ],
        env,
      );
      await waitFor(() => handles.stdout().includes("ready"));
      handles.child.kill("SIGTERM");
      const handled = await handles.done;
      expect(handled.stdout).toContain("child got SIGTERM");
      expect(handled.code).toBe(42);

      const killed = startCli(["run", "--org", orgId, "--", ...nodeChild(`console.log("ready"); setInterval(() => {}, 1000);`)], env);
      await waitFor(() => killed.stdout().includes("ready"));
      killed.child.kill("SIGINT");
      const result = await killed.done;
      expect(result.signal).toBe("SIGINT");
    });

    it("fails with 125 without running the command when Keyplane refuses, and 127 for a missing command", async () => {
      const marker = join(tmp, "must-not-exist");
      const touch = nodeChild(`require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran")`);
      const badToken = await runCli(["run", "--org", orgId, "--", ...touch], { ...env, KEYPLANE_TOKEN: `kp_${"y".repeat(43)}` });
      expect(badToken.code).toBe(125);
      expect(badToken.stderr).toContain("A valid bearer token is required. (HTTP 401 unauthenticated)");
      expect(badToken.stderr).not.toContain("y".repeat(43));
      expect(existsSync(marker)).toBe(false);

      const noOrg = await runCli(["run", "--", ...touch], env);
      expect(noOrg.code).toBe(125);
      expect(noOrg.stderr).toContain("--org");

      const down = await runCli(["run", "--org", orgId, "--endpoint", "http://127.0.0.1:1", "--", ...touch], env);
      expect(down.code).toBe(125);
      expect(down.stderr).toContain("cannot reach Keyplane");

      const missing = await runCli(["run", "--org", orgId, "--", "keyplane-no-such-command-xyz"], env);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toContain("ENOENT");
    });

    it("keyplane env prints json, dotenv and shell exports that read back exactly", async () => {
      const json = await runCli(["env", "--org", orgId, "--format", "json"], env);
      expect(json.code).toBe(0);
      const variables = JSON.parse(json.stdout);
      expect(variables).toMatchObject({ OPENAI_API_KEY: OPENAI, ANTHROPIC_API_KEY: ANTHROPIC, AWS_SECRET_ACCESS_KEY: AWS_SECRET, TRICKY_SECRET: TRICKY });

      const dotenv = await runCli(["env", "--org", orgId, "--project", projectId], env);
      expect(dotenv.stdout).toContain(`OPENAI_API_KEY='${PROJECT_OPENAI}'\n`);
      expect(dotenv.stdout).toContain(`TRICKY_SECRET='it'\\''s a "$HOME" \\ test; rm -rf / #d04'\n`);

      const shell = await runCli(["env", "--org", orgId, "--format", "shell"], env);
      expect(shell.stdout).toContain(`export OPENAI_API_KEY='${OPENAI}'\n`);
      const file = join(tmp, "exports.sh");
      writeFileSync(file, shell.stdout);
      const readBack = execFileSync("sh", ["-c", `. "$0"; printf '%s' "$TRICKY_SECRET"`, file], { env: { PATH: process.env.PATH } }).toString();
      expect(readBack).toBe(TRICKY);

      const refused = await runCli(["env", "--org", orgId, "--format", "yaml"], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout).toBe("");
    });

    it("keyplane env dotenv and shell output, sourced by bash and sh, reproduces $(…), backticks, quotes, newlines and \\ byte for byte and runs nothing", async () => {
      const work = mkdtempSync(join(tmp, "source-"));
      const readBack = (shell: string, script: string, file: string) =>
        execFileSync(shell, ["-c", script, file], { cwd: work, env: { PATH: process.env.PATH } }).toString("utf8");
      // The child sees what `set -a` exported, not only a shell variable.
      const printExported = `${JSON.stringify(process.execPath)} -e 'process.stdout.write(process.env.HOSTILE_SECRET)'`;

      const dotenv = await runCli(["env", "--org", orgId, "--format", "dotenv"], env);
      expect(dotenv.code).toBe(0);
      const dotenvFile = join(work, ".env");
      writeFileSync(dotenvFile, dotenv.stdout);
      for (const shell of ["bash", "sh"]) {
        expect(readBack(shell, `set -a; . "$0"; ${printExported}`, dotenvFile), shell).toBe(HOSTILE);
        expect(readBack(shell, `set -a; . "$0"; printf '%s' "$TRICKY_SECRET"`, dotenvFile), shell).toBe(TRICKY);
      }

      const shellExports = await runCli(["env", "--org", orgId, "--format", "shell"], env);
      expect(shellExports.code).toBe(0);
      const shellFile = join(work, "exports.sh");
      writeFileSync(shellFile, shellExports.stdout);
      for (const shell of ["bash", "sh"]) {
        expect(readBack(shell, `. "$0"; ${printExported}`, shellFile), shell).toBe(HOSTILE);
        expect(readBack(shell, `eval "$(cat "$0")"; ${printExported}`, shellFile), shell).toBe(HOSTILE);
      }
      expect(existsSync(join(work, "pwned-dollar"))).toBe(false);
      expect(existsSync(join(work, "pwned-backtick"))).toBe(false);
    });
  });
}

describe("keyplane run / env against a server that sends names it must not", () => {
  let server: Server;
  let endpoint: string;
  let answer: unknown;
  let tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "kp-hostile-"));
    server = await new Promise<Server>((r) => {
      const s = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer));
      }).listen(0, "127.0.0.1", () => r(s));
    });
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 180_000);
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  const env = () => ({ KEYPLANE_ENDPOINT: endpoint, KEYPLANE_TOKEN: `kp_${"h".repeat(43)}` });

  it("keyplane run exits 125 without starting the command when the answer holds NODE_OPTIONS, http_proxy or PATH", async () => {
    const payload = join(tmp, "payload.cjs");
    const payloadRan = join(tmp, "payload-ran");
    writeFileSync(payload, `require("node:fs").writeFileSync(${JSON.stringify(payloadRan)}, "taken over")`);
    const commandRan = join(tmp, "command-ran");
    const command = nodeChild(`require("node:fs").writeFileSync(${JSON.stringify(commandRan)}, "ran")`);
    for (const [name, value] of [
      ["NODE_OPTIONS", `--require ${payload}`],
      ["http_proxy", "http://attacker.invalid:3128"],
      ["PATH", tmp],
    ]) {
      answer = { variables: { OPENAI_API_KEY: "sk-proj-HostileServer000000000000000000000000", [name]: value } };
      const result = await runCli(["run", "--org", "org_00000000000000000000000000", "--", ...command], env());
      expect(result.code, name).toBe(125);
      expect(result.stderr).toContain(`${name} is refused (`);
      expect(result.stderr).not.toContain(value);
      expect(existsSync(payloadRan), name).toBe(false);
      expect(existsSync(commandRan), name).toBe(false);
    }
  });

  it("keyplane env prints nothing and exits 1 for a name that is not one or a value that is not a string, without echoing control characters", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ "X;touch pwned": "v" }, "shell"],
      [{ "A\u001b]0;title\u0007": "v" }, "dotenv"],
      [{ "1ABC": "v" }, "json"],
      [{ GOOD_NAME: 42 }, "dotenv"],
      [{ GOOD_NAME: "a\u0000b" }, "shell"],
      [{ BASH_ENV: "/tmp/x" }, "dotenv"],
    ];
    for (const [variables, format] of cases) {
      answer = { variables };
      const result = await runCli(["env", "--org", "org_00000000000000000000000000", "--format", format], env());
      expect(result.code, `${format} ${JSON.stringify(variables)}`).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("must not be injected");
      expect(result.stderr).not.toContain("\u001b");
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
