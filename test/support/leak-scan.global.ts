/**
 * Global setup/teardown of `npm test`: gives every worker a directory for leak records
 * (leak-recorder.ts) and, after the whole run, searches every record's logs, response bodies and
 * table dumps for every secret any runtime received. One hit fails the run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LEAK_DIR_ENV } from "./leak-recorder.js";

// Secrets are compared by a 12-character window of their most distinctive part; low-entropy test
// secrets (e.g. "sk-aaaa…") would match unrelated text and are left out and counted.
const WINDOW = 12;

function fingerprint(secret: string): string | null {
  const runs = secret.match(/[A-Za-z0-9]{12,}/g) ?? [];
  for (const run of runs.sort((a, b) => b.length - a.length)) {
    for (let i = run.length - WINDOW; i >= 0; i--) {
      const window = run.slice(i, i + WINDOW);
      if (new Set(window).size >= 8) return window;
    }
  }
  return null;
}

export default function setup() {
  const dir = mkdtempSync(join(tmpdir(), "kp-leaks-"));
  process.env[LEAK_DIR_ENV] = dir;
  return () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    const records = files.map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as { secrets: string[]; logs: string; responses: string; tables: string });
    // The contract's examples are published fakes (the fuzz suite sends them as keys, and
    // /openapi.yaml serves them): they cannot leak, and would match the served contract.
    const contract = readFileSync(new URL("../../openapi.yaml", import.meta.url), "utf8");
    const secrets = new Set(records.flatMap((r) => r.secrets).filter((secret) => !contract.includes(secret)));
    const needles = new Map<string, string>();
    let lowEntropy = 0;
    for (const secret of secrets) {
      const print = fingerprint(secret);
      if (print) needles.set(print, secret);
      else lowEntropy += 1;
    }
    let bytes = 0;
    const hits: string[] = [];
    for (const [index, record] of records.entries()) {
      for (const [where, text] of Object.entries({ logs: record.logs, responses: record.responses, tables: record.tables })) {
        bytes += text.length;
        for (const run of text.match(/[A-Za-z0-9]{12,}/g) ?? []) {
          for (let i = 0; i + WINDOW <= run.length; i++) {
            const secret = needles.get(run.slice(i, i + WINDOW));
            if (secret) hits.push(`${files[index]} ${where}: a secret ending in …${secret.slice(-4)}`);
          }
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
    const summary =
      `leak scan: ${needles.size} distinct secrets (${lowEntropy} low-entropy ones not checked) searched in ` +
      `${(bytes / 1e6).toFixed(1)} MB of logs, response bodies and table dumps from ${records.length} runtimes: ${hits.length} hits`;
    process.stdout.write(`\n${summary}\n`);
    if (hits.length > 0) {
      process.stderr.write(`LEAK: ${[...new Set(hits)].slice(0, 20).join("\nLEAK: ")}\n`);
      // vitest reports a teardown error but keeps its exit code: fail the run explicitly.
      process.exitCode = 1;
      throw new Error(summary);
    }
  };
}
