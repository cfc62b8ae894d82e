/**
 * A Keyplane runtime on a test database with a fresh master key, its log lines captured in
 * memory (for leak scans) and a platform-admin token. Requests go through supertest over real HTTP.
 */
import { Writable } from "node:stream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import request from "supertest";
import { loadConfig } from "../../service/config.js";
import { createLogger } from "../../service/observability/logger.js";
import { createRuntime, type Runtime } from "../../service/server.js";
import { openDb, type DbOptions } from "../../service/db/index.js";
import { dumpAllTables, openTestDb, type TestDb, type TestDbKind } from "./db.js";
import { LeakRecorder } from "./leak-recorder.js";

export interface TestRuntime {
  kind: TestDbKind;
  testDb: TestDb;
  runtime: Runtime;
  api: ReturnType<typeof request>;
  /** The app as an HTTP handler with leak recording, for tests that listen on a port themselves. */
  handler: ReturnType<LeakRecorder["wrap"]>;
  /** Every log line the runtime wrote. */
  logs: string[];
  /** Every response body the helpers saw, for leak scans. */
  responses: string[];
  platformToken: string;
  masterKey: string;
  close(): Promise<void>;
}

/**
 * `env` overrides the configuration. With `DATABASE_URL` among it the runtime uses that database,
 * as a server would (for a test that runs its own PostgreSQL); otherwise a fresh test database of `kind`.
 */
export async function startTestRuntime(kind: TestDbKind, env: Record<string, string> = {}): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), "kp-test-"));
  const masterKey = randomBytes(32).toString("base64");
  const platformToken = `kp_${randomBytes(32).toString("base64url")}`;
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_MASTER_KEY: masterKey,
    KEYPLANE_BOOTSTRAP_TOKEN: platformToken,
    KEYPLANE_LOG_LEVEL: "debug",
    ...env,
  });
  const testDb: TestDb = env.DATABASE_URL ? await callersDatabase(kind, config.database) : await openTestDb(kind);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const log = createLogger("debug", sink);
  const runtime = await createRuntime({ config, log, db: testDb.db });
  const recorder = new LeakRecorder();
  const responses = recorder.responses;
  const handler = recorder.wrap(runtime.app);
  const api = request(handler);
  return {
    kind,
    testDb,
    runtime,
    api,
    handler,
    logs,
    responses,
    platformToken,
    masterKey,
    async close() {
      const tables = await dumpAllTables(testDb.db).catch(() => "");
      recorder.flush(logs, tables);
      await runtime.close();
      await testDb.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The database `DATABASE_URL` names: the caller owns it, so cleanup only closes the connection. */
async function callersDatabase(kind: TestDbKind, options: DbOptions): Promise<TestDb> {
  const db = await openDb(options);
  return { kind, db, cleanup: () => db.close() };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Creates an organization and one token per role in it. */
export async function seedOrganization(t: TestRuntime, slug = `org-${randomBytes(4).toString("hex")}`) {
  const created = await t.api
    .post("/v1/organizations")
    .set(bearer(t.platformToken))
    .send({ name: `Org ${slug}`, slug });
  if (created.status !== 201) throw new Error(`org create failed: ${created.status} ${JSON.stringify(created.body)}`);
  const org = created.body as { id: string };
  const tokens: Record<"admin" | "member" | "resolver", string> = { admin: "", member: "", resolver: "" };
  for (const role of ["admin", "member", "resolver"] as const) {
    const res = await t.api
      .post(`/v1/organizations/${org.id}/tokens`)
      .set(bearer(t.platformToken))
      .send({ role, name: `${role} token` });
    if (res.status !== 201) throw new Error(`token create failed: ${res.status} ${JSON.stringify(res.body)}`);
    tokens[role] = res.body.token;
  }
  return { org, tokens };
}
