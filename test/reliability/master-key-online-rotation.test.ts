/**
 * Master-key rotation while the service runs, in the order the README gives, under resolve load:
 * not one request fails, and the service then restarts with the final configuration (the new key
 * alone). PostgreSQL only: the embedded database belongs to one process, so `rotate-master-key`
 * cannot run beside the service there (stop it first).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { MasterKey } from "../../service/crypto/index.js";
import { createPgTestDatabase } from "../support/db.js";
import { callApi, CLI, serviceEnv, startServiceProcess, type ServiceEnv, type ServiceProcess } from "../support/service-process.js";

const PROJECTS = 8;
const WORKERS = 4;
const MAX_REQUESTS = 1500;

describe.skipIf(!process.env.TEST_DATABASE_URL)("master-key rotation while the service runs (pg)", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function setup() {
    const dataDir = mkdtempSync(join(tmpdir(), "kp-online-"));
    const database = await createPgTestDatabase();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }), database.drop);
    return { dataDir, url: database.url };
  }

  async function stop(service: ServiceProcess) {
    service.child.kill("SIGTERM");
    expect(await service.exited).toBe(0);
  }

  /** An organization with one credential per project, so resolves read many rows being re-wrapped. */
  async function seed(service: ServiceProcess, env: ServiceEnv) {
    const org = (await callApi(service.url, "POST", `/v1/organizations`, env.bootstrapToken, { name: "online", slug: "online" })).body;
    const resolver = (await callApi(service.url, "POST", `/v1/organizations/${org.id}/tokens`, env.bootstrapToken, { role: "resolver", name: "r" })).body.token;
    const projects: string[] = [];
    for (let i = 0; i < PROJECTS; i++) {
      const project = (await callApi(service.url, "POST", `/v1/organizations/${org.id}/projects`, env.bootstrapToken, { name: `p${i}` })).body;
      const created = await callApi(service.url, "POST", `/v1/organizations/${org.id}/credentials`, env.bootstrapToken, {
        provider: "openai",
        name: `c${i}`,
        project_id: project.id,
        api_key: `sk-online${i}${randomBytes(16).toString("hex")}`,
      });
      expect(created.status).toBe(201);
      projects.push(project.id);
    }
    return { orgId: org.id as string, resolver: resolver as string, projects };
  }

  /** Resolves from a few loopback workers until `until` settles (bounded by MAX_REQUESTS); returns every status. */
  async function underLoad(service: ServiceProcess, seeded: Awaited<ReturnType<typeof seed>>, during: () => Promise<void>) {
    const statuses: number[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running && statuses.length < MAX_REQUESTS; i++) {
        const projectId = seeded.projects[(w + i) % seeded.projects.length];
        const res = await callApi(service.url, "POST", `/v1/organizations/${seeded.orgId}/resolve`, seeded.resolver, {
          provider: "openai",
          project_id: projectId,
        });
        statuses.push(res.status);
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await delay(300);
    try {
      await during();
      await delay(300);
    } finally {
      running = false;
      await load;
    }
    return statuses;
  }

  function rotate(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [CLI, "rotate-master-key", "--batch-size", "1"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
  }

  async function wrappingKeyIds(url: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "select distinct master_key_id from (select master_key_id from credential_versions where wrapped_dek is not null union all select master_key_id from audit_keys) k order by 1",
      );
      return rows.map((r) => r.master_key_id as string);
    } finally {
      await client.end();
    }
  }

  function cliEnv(url: string, dataDir: string, keys: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, KEYPLANE_DATA_DIR: dataDir, ...keys };
    delete env.KEYPLANE_MASTER_KEY_PREVIOUS;
    if (keys.KEYPLANE_MASTER_KEY_PREVIOUS) env.KEYPLANE_MASTER_KEY_PREVIOUS = keys.KEYPLANE_MASTER_KEY_PREVIOUS;
    if (!keys.KEYPLANE_MASTER_KEY) delete env.KEYPLANE_MASTER_KEY;
    return env;
  }

  it("with KEYPLANE_MASTER_KEY_FILE: replace the file, run rotate-master-key; no request fails, no restart needed, and a restart with the new key alone works", async () => {
    const { dataDir, url } = await setup();
    const oldKey = MasterKey.generate();
    const newKey = MasterKey.generate();
    const keyFile = join(dataDir, "master.key.mounted");
    writeFileSync(keyFile, oldKey.toBase64(), { mode: 0o600 });
    const env: ServiceEnv = { ...serviceEnv(dataDir, url), extra: { KEYPLANE_MASTER_KEY: "", KEYPLANE_MASTER_KEY_FILE: keyFile } };
    const service = await startServiceProcess(env);
    const seeded = await seed(service, env);

    let rotation: { code: number | null; stderr: string } | undefined;
    const statuses = await underLoad(service, seeded, async () => {
      // 1. The file now holds the new key (replaced atomically, as a secret mount is).
      writeFileSync(`${keyFile}.tmp`, newKey.toBase64(), { mode: 0o600 });
      renameSync(`${keyFile}.tmp`, keyFile);
      // 2. Re-wrap under it; the old key, no longer in the file, is passed as a previous key.
      rotation = await rotate(cliEnv(url, dataDir, { KEYPLANE_MASTER_KEY_FILE: keyFile, KEYPLANE_MASTER_KEY_PREVIOUS: oldKey.toBase64() }));
    });
    expect(rotation?.code, rotation?.stderr).toBe(0);
    expect(rotation?.stderr).toContain(`re-wrapped ${PROJECTS} data keys under master key ${newKey.id}`);
    const failed = statuses.filter((s) => s < 200 || s >= 300);
    console.log(`online rotation (key file): ${statuses.length} resolves during the rotation, ${failed.length} not 2xx`);
    expect(statuses.length).toBeGreaterThan(50);
    expect(failed).toEqual([]);

    // The running service adopted the new key: what it seals now is wrapped by it.
    const created = await callApi(service.url, "POST", `/v1/organizations/${seeded.orgId}/credentials`, env.bootstrapToken, {
      provider: "anthropic",
      name: "after",
      api_key: `sk-ant-after${randomBytes(16).toString("hex")}`,
    });
    expect(created.status).toBe(201);
    expect(await wrappingKeyIds(url)).toEqual([newKey.id]);
    await stop(service);

    // 3. The final configuration: the new key alone.
    const restarted = await startServiceProcess(env);
    for (const projectId of seeded.projects) {
      const res = await callApi(restarted.url, "POST", `/v1/organizations/${seeded.orgId}/resolve`, seeded.resolver, {
        provider: "openai",
        project_id: projectId,
      });
      expect(res.status).toBe(200);
    }
    const verify = await callApi(restarted.url, "POST", `/v1/organizations/${seeded.orgId}/audit-events/verify`, env.bootstrapToken);
    expect(verify.body).toMatchObject({ valid: true, legacy_events: 0 });
    await stop(restarted);
  }, 180_000);

  it("with KEYPLANE_MASTER_KEY: restart with the new key current and the old one previous, run rotate-master-key; no request fails, then the new key alone works", async () => {
    const { dataDir, url } = await setup();
    const oldKey = MasterKey.generate();
    const newKey = MasterKey.generate();
    const first: ServiceEnv = { ...serviceEnv(dataDir, url), masterKey: oldKey.toBase64() };
    const before = await startServiceProcess(first);
    const seeded = await seed(before, first);
    await stop(before);

    // 1. New key current, old key previous (several instances: add the new key as previous everywhere first).
    const during: ServiceEnv = { ...first, masterKey: newKey.toBase64(), extra: { KEYPLANE_MASTER_KEY_PREVIOUS: oldKey.toBase64() } };
    const service = await startServiceProcess(during);
    let rotation: { code: number | null; stderr: string } | undefined;
    const statuses = await underLoad(service, seeded, async () => {
      // 2. Re-wrap under the current key, with the same configuration.
      rotation = await rotate(cliEnv(url, dataDir, { KEYPLANE_MASTER_KEY: newKey.toBase64(), KEYPLANE_MASTER_KEY_PREVIOUS: oldKey.toBase64() }));
    });
    expect(rotation?.code, rotation?.stderr).toBe(0);
    const failed = statuses.filter((s) => s < 200 || s >= 300);
    console.log(`online rotation (variables): ${statuses.length} resolves during the rotation, ${failed.length} not 2xx`);
    expect(statuses.length).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    expect(await wrappingKeyIds(url)).toEqual([newKey.id]);
    await stop(service);

    // 3. The final configuration: KEYPLANE_MASTER_KEY_PREVIOUS removed.
    const restarted = await startServiceProcess({ ...first, masterKey: newKey.toBase64() });
    const res = await callApi(restarted.url, "POST", `/v1/organizations/${seeded.orgId}/resolve`, seeded.resolver, {
      provider: "openai",
      project_id: seeded.projects[0],
    });
    expect(res.status).toBe(200);
    await stop(restarted);
  }, 180_000);
});
