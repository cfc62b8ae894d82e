// examples/api/walkthrough.sh, the README's curl walkthrough, run as a reader runs it: bash, curl
// and jq against a real Keyplane on 127.0.0.1 (in this process, on each test database) with a
// platform-admin token. Every step must run (a failed call ends the script: `set -e` and
// --fail-with-body), print what the README promises, and show only hints: the script's sample keys
// reach the resolver in step 8, where it prints their public first 10 characters, and nowhere else.
// Without bash, curl or jq the suite is skipped loudly; KEYPLANE_REQUIRE_E2E=1 (CI) fails instead.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyHint } from "../../service/providers/catalog.js";
import { testDatabases } from "../support/db.js";
import { startService, type E2eService } from "../support/service.js";
import { repoRoot } from "./support/engines.js";
import { assertNoSecret } from "./support/secrets.js";

const SCRIPT = join(repoRoot, "examples/api/walkthrough.sh");
const script = readFileSync(SCRIPT, "utf8");
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const TIMEOUT_MS = 20_000;

// The sample keys the script stores (step 4) and rotates to (step 7), read from the script itself.
const sampleKeys = [...script.matchAll(/"api_key": "(sk-ant-[^"]+)"/g)].map((m) => m[1]);
const [created, rotated] = sampleKeys;
// The step headings, as the script prints them (`say "N. …"`; none expands anything).
const headings = [...script.matchAll(/^say "(\d+)\. ([^"$`\\]+)"$/gm)].map((m) => ({ step: Number(m[1]), line: `== ${m[1]}. ${m[2]}` }));

const missing = ["bash", "curl", "jq"].filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
if (missing.length > 0) {
  console.warn(`\n*** examples/api walkthrough SKIPPED: ${missing.join(", ")} not found on PATH (apt-get install ${missing.join(" ")}) ***\n`);
  if (process.env.KEYPLANE_REQUIRE_E2E === "1") {
    it("has bash, curl and jq when KEYPLANE_REQUIRE_E2E=1", () => {
      expect.fail(`KEYPLANE_REQUIRE_E2E=1 but ${missing.join(", ")} not found on PATH`);
    });
  }
}

interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * `bash examples/api/walkthrough.sh` in an empty directory with only PATH and the two documented
 * variables (no proxy settings, no KEYPLANE_* of the test process); its process group is killed
 * at the timeout, curl included.
 */
function runWalkthrough(cwd: string, env: Record<string, string>): Promise<ScriptRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT], {
      cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The output under each `== N.` heading, by step number. */
function sections(stdout: string): Map<number, string> {
  const bySteps = new Map<number, string>();
  for (const part of stdout.split(/^== /m).slice(1)) bySteps.set(Number(/^(\d+)\./.exec(part)?.[1]), part.slice(part.indexOf("\n") + 1).trim());
  return bySteps;
}

describe("examples/api/walkthrough.sh and the README", () => {
  it("agree on the steps and the sample keys", () => {
    expect(headings.map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const block = readme.slice(readme.indexOf("## A walkthrough with curl"), readme.indexOf("Errors are [RFC 9457]"));
    expect([...block.matchAll(/^# (\d+)\. /gm)].map((m) => Number(m[1]))).toEqual(headings.map((h) => h.step));
    expect(sampleKeys).toHaveLength(2);
    for (const key of sampleKeys) expect(block).toContain(key);
    // The hint the README shows for step 4 is the one the service makes of the key it stores.
    expect(block).toContain(`"key_hint": "${keyHint(created, "anthropic")}"`);
  });
});

describe.skipIf(missing.length > 0).each(testDatabases())("examples/api/walkthrough.sh on %s", (kind) => {
  let service: E2eService;
  let cwd: string;
  let run: ScriptRun;
  let step: Map<number, string>;

  beforeAll(async () => {
    service = await startService(kind);
    cwd = mkdtempSync(join(tmpdir(), "kp-e2e-walkthrough-"));
    run = await runWalkthrough(cwd, { KEYPLANE_ENDPOINT: service.url, KEYPLANE_TOKEN: service.runtime.platformToken });
    step = sections(run.stdout);
    console.log(`[examples-api e2e] walkthrough.sh on ${kind}: exit ${run.code}, ${run.ms} ms`);
  });

  afterAll(async () => {
    if (cwd) rmSync(cwd, { recursive: true, force: true });
    await service?.close();
  });

  it("exits 0 in time, printing every step's heading in order", () => {
    expect(run.signal, `killed after ${TIMEOUT_MS} ms\n${run.stdout}\n${run.stderr}`).toBeNull();
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stderr).toBe("");
    const printed = run.stdout.split("\n").filter((line) => line.startsWith("== "));
    expect(printed).toEqual(headings.map((h) => h.line));
  });

  it("steps 1-3: an organization, its tokens never printed, the provider catalog", () => {
    expect(step.get(1)).toMatch(/^organization: org_\w+$/);
    expect(step.get(2)).toBe("");
    expect(run.stdout).not.toMatch(/kp_[\w-]{20}/);
    expect(step.get(3)?.split("\n")).toContain("anthropic\tsk-ant-\tANTHROPIC_API_KEY");
  });

  it("step 4: the created credential shows its hint, never its key", () => {
    expect(JSON.parse(step.get(4)!)).toEqual({
      id: expect.stringMatching(/^cred_/),
      provider: "anthropic",
      key_hint: keyHint(created, "anthropic"),
      key_version: 1,
      env_var: "ANTHROPIC_API_KEY",
      active: true,
    });
  });

  it("step 5: the wrong prefix is a 422 at body.api_key naming the expected prefix, as the README says", () => {
    expect(JSON.parse(step.get(5)!)).toEqual({
      status: 422,
      code: "validation_failed",
      errors: [{ path: "body.api_key", message: 'Anthropic keys start with "sk-ant-"; this key does not' }],
    });
  });

  it("steps 6-7: an update with If-Match, then a rotation with the previous version kept", () => {
    expect(JSON.parse(step.get(6)!)).toMatchObject({ owner: "ml-platform", rotation_period_days: 90, rotation_due_at: expect.any(String), version: 2 });
    const [rotation, ...versions] = step.get(7)!.split(/\n(?=\{"key_version")/);
    expect(JSON.parse(rotation)).toMatchObject({ key_hint: keyHint(rotated, "anthropic"), key_version: 2 });
    expect(versions.map((line) => JSON.parse(line))).toEqual([
      { key_version: 2, key_hint: keyHint(rotated, "anthropic"), state: "current" },
      { key_version: 1, key_hint: keyHint(created, "anthropic"), state: "grace" },
    ]);
  });

  it("step 8: the resolver receives the rotated key (the script prints its public first 10 characters)", () => {
    expect(JSON.parse(step.get(8)!)).toEqual({
      source: "organization",
      credential_id: expect.stringMatching(/^cred_/),
      key_hint: keyHint(rotated, "anthropic"),
      key_version: 2,
      env_var: "ANTHROPIC_API_KEY",
      secret: `${rotated.slice(0, 10)}…`,
    });
    expect(rotated.slice(0, 10)).toBe("sk-ant-api");
  });

  it("step 9: usage shows the resolve, then a forced deactivate and delete", () => {
    const text = step.get(9)!;
    expect(text).toMatch(/"last_used_at": "\d{4}-/);
    expect(text).toContain('"active": false');
    expect(text.split("\n").at(-1)).toBe("delete: HTTP 204");
  });

  it("step 10: the audit log holds every change, and its chain verifies", () => {
    const text = step.get(10)!;
    const events = text.slice(0, text.indexOf("\n{")).split("\n");
    expect(events).toEqual(
      [
        "organization.create",
        "token.create",
        "token.create",
        "credential.create",
        "credential.update",
        "credential.rotate",
        "credential.resolve",
        "credential.deactivate",
        "credential.delete",
      ].map((action, i) => `${i + 1}\t${action}\tsuccess`),
    );
    expect(JSON.parse(text.slice(text.indexOf("\n{")))).toMatchObject({ valid: true, checked: events.length, broken_at_seq: null });
  });

  it("no sample key or platform token in the script's output, the service's log or its non-resolve answers", () => {
    // Texts in order: stdout, stderr, service log, response bodies; the directory is the script's.
    const scanned = assertNoSecret([...sampleKeys, service.runtime.platformToken], cwd, [
      run.stdout,
      run.stderr,
      service.logText(),
      ...service.runtime.responses,
    ]);
    expect(scanned).toBeGreaterThan(10);
    expect(service.logText()).toContain("credential");
  });
});
