/**
 * A throwaway PostgreSQL cluster (initdb + pg_ctl from the machine's PostgreSQL binaries) in a temp
 * directory on a free port, so a test can stop, restart and kill it without touching anything else.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./service-process.js";

function binDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(base, v, "bin", "pg_ctl"))) return join(base, v, "bin");
  return null;
}

export function clusterSupported(): boolean {
  return binDir() !== null;
}

export interface PgCluster {
  port: number;
  url(database?: string): string;
  start(): void;
  /** `fast` disconnects clients and shuts down cleanly; `immediate` is a crash-like stop. */
  stop(mode?: "fast" | "immediate"): void;
  terminateBackends(database: string): Promise<number>;
  destroy(): void;
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = binDir();
  if (!bin) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql");
  const dir = mkdtempSync(join(tmpdir(), "kp-pgcluster-"));
  const data = join(dir, "data");
  const port = await freePort();
  // initdb refuses to run as root: run the server binaries as the postgres system user then.
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const command = asRoot ? "runuser" : join(bin, tool);
    const argv = asRoot ? ["-u", "postgres", "--", join(bin, tool), ...args] : args;
    const result = spawnSync(command, argv, { encoding: "utf8", timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${tool} ${args.join(" ")} failed: ${result.stderr || result.stdout}`);
  };
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=50`;
  const cluster: PgCluster = {
    port,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", options, "-w", "-t", "30", "start"]),
    stop: (mode = "fast") => run("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "30", "stop"]),
    async terminateBackends(database: string) {
      const client = new pg.Client({ connectionString: cluster.url("postgres") });
      await client.connect();
      try {
        const { rowCount } = await client.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [
          database,
        ]);
        return rowCount ?? 0;
      } finally {
        await client.end();
      }
    },
    destroy() {
      try {
        cluster.stop("immediate");
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}

export async function createDatabase(cluster: PgCluster, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: cluster.url("postgres") });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  return cluster.url(name);
}
