/**
 * The suite-wide leak scan. Every test runtime records the credential secrets its requests carried
 * (`api_key`, `fields`), every response body (except a resolver's resolve/environment answers, whose
 * whole point is the secret), its captured log lines and, when it closes, every table as text
 * (audit rows included). The global teardown (leak-scan.global.ts) searches all of it, across
 * every runtime of the run, for every recorded secret.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LEAK_DIR_ENV = "KEYPLANE_LEAK_DIR";
const SECRET_BEARING = new Set(["resolveCredential", "getEnvironment"]);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class LeakRecorder {
  readonly secrets = new Set<string>();
  readonly responses: string[] = [];

  /** The app, with each request's secrets and response body recorded. */
  wrap(app: Handler): Handler {
    return (req, res) => {
      const chunks: Buffer[] = [];
      const write = res.write.bind(res) as (...args: unknown[]) => boolean;
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      const keep = (chunk: unknown) => {
        if (typeof chunk === "string") chunks.push(Buffer.from(chunk));
        else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
      };
      (res as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
        keep(chunk);
        return write(chunk, ...rest);
      };
      (res as { end: unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
        if (typeof chunk !== "function") keep(chunk);
        return end(chunk, ...rest);
      };
      res.once("finish", () => {
        this.recordSecrets((req as { body?: unknown }).body);
        const operation = (req as { kp?: { operationId?: string | null } }).kp?.operationId ?? "";
        if (!(SECRET_BEARING.has(operation) && res.statusCode < 300)) this.responses.push(Buffer.concat(chunks).toString("utf8"));
      });
      app(req, res);
    };
  }

  recordSecrets(body: unknown): void {
    if (!body || typeof body !== "object") return;
    const { api_key, fields } = body as { api_key?: unknown; fields?: unknown };
    if (typeof api_key === "string") this.secrets.add(api_key);
    if (fields && typeof fields === "object") {
      for (const value of Object.values(fields)) if (typeof value === "string") this.secrets.add(value);
    }
  }

  /** Writes this runtime's record for the global teardown; a no-op outside `npm test`. */
  flush(logs: string[], tables: string): void {
    const dir = process.env[LEAK_DIR_ENV];
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${process.pid}-${randomBytes(6).toString("hex")}.json`);
    writeFileSync(file, JSON.stringify({ secrets: [...this.secrets], logs: logs.join(""), responses: this.responses.join("\n"), tables }));
  }
}
