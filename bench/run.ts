// `npm run bench`: measures the resolve hot path against a bare Express route (same connections,
// same duration, same run) and at a paced half of its saturating rate, write throughput, service
// memory, plugin start-up (to the handshake line and to the first answered call), `tofu plan` of
// 100 and 400 resources against built-in terraform_data and a Go provider baseline
// (bench/plan.ts), `npm start` to a healthy /readyz, resolve throughput with and without what
// credential usage adds, create/rotate throughput before and after a credential's many resolves,
// and the latency of a workload identity exchange. Prints a table and writes bench/results.json.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import autocannon from "autocannon";
import pg from "pg";
import { generateSelfSignedCertificate, type SelfSignedCertificate } from "../cdktf-provider/src/protocol/certificate.js";
import { parseHandshakeLine } from "../cdktf-provider/src/protocol/handshake.js";
import { loadProtocolPackage } from "../cdktf-provider/src/protocol/server.js";
import { KeyplaneApi } from "../service/client/keyplane-api.js";
import { buildGoProvider } from "./go-provider.js";
import { measureExchange } from "./identity-exchange.js";
import { commitBaseline } from "./commit-baseline.js";
import { pacedLoad } from "./paced-load.js";
import { planBench } from "./plan.js";
import { serviceStart } from "./service-start.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 3);
// Rounds of (bare route, resolve) loads, alternated: this VM's speed drifts by 10–20% between
// loads, and a ratio taken from one load of each would carry that drift.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// A subset of the parts, comma-separated (embedded, postgres, plugin, plan, start), for working on
// one of them or on a busy machine. A partial run writes bench/results.partial.json and leaves the
// full run's results.json alone.
const ALL_PARTS = ["embedded", "postgres", "plugin", "plan", "start"];
const PARTS = new Set(process.env.BENCH_PARTS ? process.env.BENCH_PARTS.split(",").map((p) => p.trim()) : ALL_PARTS);

interface LoadResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  errors: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before ${url} was ready`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await delay(100);
  }
  throw new Error(`${url} not ready after 30 s`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.once("exit", () => r());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function load(opts: autocannon.Options, sampleRssOf?: number, warmupS = WARMUP_S): Promise<LoadResult & { rss_mb?: number }> {
  const connections = opts.connections ?? CONNECTIONS;
  if (warmupS > 0) await autocannon({ ...opts, connections, duration: warmupS });
  let peak = 0;
  const sampler = sampleRssOf
    ? setInterval(() => {
        peak = Math.max(peak, rssMb(sampleRssOf));
      }, 200)
    : undefined;
  const result = await autocannon({ ...opts, connections, duration: DURATION_S });
  if (sampler) clearInterval(sampler);
  return {
    rps: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    ...(sampleRssOf ? { rss_mb: Math.round(peak) } : {}),
  };
}

async function startBareExpress(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(root, "dist/bench/bare-express.js")], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((r) => child.stdout.once("data", (d) => r(Number(String(d).trim()))));
  return { url: `http://127.0.0.1:${port}`, child };
}

interface Service {
  url: string;
  child: ChildProcess;
  platformToken: string;
}

async function startService(databaseUrl?: string): Promise<Service> {
  const port = await freePort();
  const platformToken = `kp_${randomBytes(32).toString("base64url")}`;
  const dataDir = mkdtempSync(join(tmpdir(), "kp-bench-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_MASTER_KEY: randomBytes(32).toString("base64"),
    KEYPLANE_BOOTSTRAP_TOKEN: platformToken,
    KEYPLANE_RATE_LIMIT_RESOLVE_PER_MINUTE: "0",
    // The identity exchange is measured against an issuer on loopback, without its rate limit.
    KEYPLANE_RATE_LIMIT_TOKEN_EXCHANGES_PER_MINUTE: "0",
    KEYPLANE_ALLOW_INSECURE_ISSUERS: "1",
    KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1",
    KEYPLANE_LOG_LEVEL: "info",
  };
  delete env.DATABASE_URL;
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const child = spawn(process.execPath, [join(root, "dist/service/cli/main.js"), "serve"], { env, stdio: ["ignore", "ignore", "ignore"] });
  child.once("exit", () => rmSync(dataDir, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`, child);
  return { url, child, platformToken };
}

/**
 * Writes out what earlier loads left behind, before a paced load: PostgreSQL's dirty buffers (a
 * checkpoint, which also lets it recycle WAL segments instead of creating new ones) and then the
 * kernel's dirty pages. Linux writes a dirty page back ~30 s after it was dirtied, so without this
 * the saturating loads' hundreds of megabytes of audit rows are flushed in the middle of the paced
 * load, and each WAL sync waits behind them (seen as one stall of 50–250 ms per run, in step with
 * /proc/meminfo's Writeback and PostgreSQL's WALInitSync waits). The paced figures then measure
 * the load itself, not the tail end of the one before. A role that may not CHECKPOINT skips it.
 */
async function settleWrites(databaseUrl: string | undefined): Promise<void> {
  if (databaseUrl) {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      await db.query("checkpoint");
    } catch (error) {
      console.error(`bench: no checkpoint before the paced load (${(error as Error).message})`);
    } finally {
      await db.end();
    }
  }
  spawnSync("sync");
}

/** Setup calls to the service under test (the loads themselves go through autocannon). */
function apiAs(service: Service, token: string): KeyplaneApi {
  return new KeyplaneApi({ endpoint: service.url, token, userAgent: "keyplane-bench", maxAttempts: 1 });
}

/** A new organization and its admin and resolver tokens, made with the platform token. */
async function seedOrganization(service: Service, label: string): Promise<{ id: string; adminToken: string; resolverToken: string }> {
  const platform = apiAs(service, service.platformToken);
  const { body: org } = await platform.send(
    (api, signal) => api.POST("/v1/organizations", { body: { name: `bench ${label}`, slug: `bench-${label}-${randomBytes(3).toString("hex")}` }, signal }),
    { retryable: false },
  );
  const token = async (role: "admin" | "resolver") => {
    const created = await platform.send(
      (api, signal) => api.POST("/v1/organizations/{org}/tokens", { params: { path: { org: org.id } }, body: { role, name: `bench ${label}` }, signal }),
      { retryable: false },
    );
    return created.body.token;
  };
  return { id: org.id, adminToken: await token("admin"), resolverToken: await token("resolver") };
}

function bareLoad(bareUrl: string, warmupS: number) {
  return load(
    { url: `${bareUrl}/bare`, method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ provider: "openai" }) },
    undefined,
    warmupS,
  );
}

/** The round whose throughput is the median; its latencies are reported with it. */
function medianRound<T extends { rps: number }>(rounds: T[]): T {
  return [...rounds].sort((a, b) => a.rps - b.rps)[Math.floor(rounds.length / 2)];
}

// What credential usage costs a resolve: no write of its own. The audit group commit that writes
// a batch of resolve events folds them into per-credential daily totals in the same statement
// (migration 0013), through this function; with its body emptied, that statement writes the
// events alone, which is the whole difference between a resolve with usage and one without.
const USAGE_FOLD = "keyplane_fold_credential_usage(text, jsonb)";

// Pairs of (without, with) loads for the usage comparison, and the length of each load. The
// difference under test (5 %) is smaller than this VM's drift between two loads (10–50 % when
// anything else runs), so the comparison takes many short pairs, alternates which goes first, and
// reports the median of the per-pair ratios (each pair meets one machine state) beside the ratio
// of pooled throughput. It also reports what a resolve costs in CPU time — the service process
// and its PostgreSQL backends, read from /proc around each load — which other processes on the
// machine disturb far less than throughput: on a CPU-bound machine, throughput is its inverse.
const USAGE_PAIRS = Number(process.env.BENCH_USAGE_PAIRS ?? 10);
const USAGE_LOAD_S = Number(process.env.BENCH_USAGE_LOAD_S ?? 4);

/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * Resolve throughput and CPU time per resolve without the usage fold and with it, alternated load
 * by load in the same service (the database is reached directly to empty and restore the function
 * between loads).
 */
async function usageComparison(databaseUrl: string, resolveOpts: autocannon.Options, servicePid: number) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ def: string }>(`select pg_get_functiondef($1::regprocedure) as def`, [USAGE_FOLD]);
    const restore = () => db.query(rows[0].def);
    const empty = () =>
      db.query(
        `create or replace function ${USAGE_FOLD.replace("text, jsonb", "p_organization_id text, p_usage jsonb")} returns void language plpgsql as $$ begin end $$`,
      );
    // The service's own connections to the bench database (its pool), not this client's.
    const processes = async () => {
      const { rows: backends } = await db.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`,
      );
      return [servicePid, ...backends.map((b) => b.pid)];
    };
    const measured = async () => {
      await autocannon({ ...resolveOpts, connections: CONNECTIONS, duration: 1 });
      const pids = await processes();
      const before = pids.reduce((total, pid) => total + cpuMs(pid), 0);
      const result = await autocannon({ ...resolveOpts, connections: CONNECTIONS, duration: USAGE_LOAD_S });
      const cpu = pids.reduce((total, pid) => total + cpuMs(pid), 0) - before;
      return { rps: Math.round(result.requests.average), resolves: result["2xx"], cpuMs: cpu };
    };
    type Measured = Awaited<ReturnType<typeof measured>>;
    const pairs: { without: Measured; with: Measured }[] = [];
    try {
      await autocannon({ ...resolveOpts, connections: CONNECTIONS, duration: WARMUP_S });
      for (let pair = 0; pair < USAGE_PAIRS; pair++) {
        // ABBA order, so the audit table's growth and the VM's drift fall on both sides alike.
        const loads: Partial<Record<"with" | "without", Measured>> = {};
        for (const folded of pair % 2 === 0 ? [false, true] : [true, false]) {
          await (folded ? restore() : empty());
          loads[folded ? "with" : "without"] = await measured();
        }
        pairs.push({ without: loads.without!, with: loads.with! });
      }
    } finally {
      await restore();
    }
    const total = (side: "with" | "without", key: keyof Measured) => pairs.reduce((sum, p) => sum + p[side][key], 0);
    const cpuPerResolve = (side: "with" | "without") => total(side, "cpuMs") / total(side, "resolves");
    return {
      without_usage_rps: Math.round(total("without", "rps") / pairs.length),
      with_usage_rps: Math.round(total("with", "rps") / pairs.length),
      ratio: median(pairs.map((p) => ratio(p.with.rps, p.without.rps))),
      pooled_ratio: ratio(total("with", "rps"), total("without", "rps")),
      // Service process and its database backends together, per resolve.
      without_usage_cpu_us_per_resolve: Math.round(cpuPerResolve("without") * 1000),
      with_usage_cpu_us_per_resolve: Math.round(cpuPerResolve("with") * 1000),
      // Resolves per CPU second with usage ÷ without: the throughput ratio a CPU-bound machine would show.
      cpu_ratio: ratio(cpuPerResolve("without"), cpuPerResolve("with")),
      pairs: pairs.map((p) => ({
        without_usage_rps: p.without.rps,
        with_usage_rps: p.with.rps,
        ratio: ratio(p.with.rps, p.without.rps),
        cpu_ratio: ratio(p.without.cpuMs / p.without.resolves, p.with.cpuMs / p.with.resolves),
      })),
    };
  } finally {
    await db.end();
  }
}

// Creates and rotations answer with the credential's usage, and deactivation's in-use guard reads
// it: they are measured on a fresh credential and again once it has been resolved this often.
const RESOLVES_BEFORE_WRITES = Number(process.env.BENCH_RESOLVES_BEFORE_WRITES ?? 50_000);

async function measureService(label: string, databaseUrl: string | undefined, bareUrl: string) {
  const service = await startService(databaseUrl);
  try {
    const org = await seedOrganization(service, label);
    const { adminToken: admin, resolverToken: resolver } = org;
    const { body: credential } = await apiAs(service, admin).send(
      (api, signal) =>
        api.POST("/v1/organizations/{org}/credentials", {
          params: { path: { org: org.id } },
          body: { provider: "openai", name: "bench", api_key: `sk-bench${randomBytes(24).toString("hex")}`, is_default: true },
          signal,
        }),
      { retryable: false },
    );

    const resolveOpts: autocannon.Options = {
      url: `${service.url}/v1/organizations/${org.id}/resolve`,
      method: "POST",
      headers: { Authorization: `Bearer ${resolver}`, "Content-Type": "application/json" },
      body: JSON.stringify({ provider: "openai" }),
    };
    let created = 0;
    const writes = async () => {
      const create = await load({
        url: `${service.url}/v1/organizations/${org.id}/credentials`,
        method: "POST",
        headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              body: JSON.stringify({
                provider: "openai",
                name: `c${created++}-${randomBytes(4).toString("hex")}`,
                api_key: `sk-bench${randomBytes(24).toString("hex")}`,
              }),
            }),
          },
        ],
      });
      const rotate = await load({
        url: `${service.url}/v1/organizations/${org.id}/credentials/${credential.id}/rotate`,
        method: "POST",
        headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
        requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ api_key: `sk-bench${randomBytes(24).toString("hex")}` }) }) }],
      });
      return { create, rotate };
    };
    const resolvesOf = async () =>
      (
        await apiAs(service, admin).send(
          (api, signal) => api.GET("/v1/organizations/{org}/credentials/{id}", { params: { path: { org: org.id, id: credential.id } }, signal }),
          { retryable: false },
        )
      ).body.usage.resolves_30d;
    const fresh = await writes();
    const freshResolves = await resolvesOf();
    const bareRounds: LoadResult[] = [];
    const resolveRounds: (LoadResult & { rss_mb?: number })[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Both servers stay up between rounds; a full warm-up only before each one's first load.
      const warmupS = round === 0 ? WARMUP_S : Math.min(WARMUP_S, 1);
      bareRounds.push(await bareLoad(bareUrl, warmupS));
      resolveRounds.push(await load(resolveOpts, service.child.pid, warmupS));
    }
    const bare = medianRound(bareRounds);
    const resolve = medianRound(resolveRounds);
    const peakRss = Math.max(...resolveRounds.map((r) => r.rss_mb ?? 0));
    // Latency where callers live: well below saturation (half of it), callers arriving on their
    // own schedule (open loop), not queueing behind each other.
    const pacedRate = Math.max(1, Math.round(resolve.rps / 2));
    const pacedOpts = {
      url: `${service.url}/v1/organizations/${org.id}/resolve`,
      method: "POST",
      headers: { Authorization: `Bearer ${resolver}`, "Content-Type": "application/json" },
      body: JSON.stringify({ provider: "openai" }),
      connections: CONNECTIONS * 4,
    };
    await settleWrites(databaseUrl);
    await pacedLoad({ ...pacedOpts, rate: pacedRate, durationS: 1 });
    const paced = await pacedLoad({ ...pacedOpts, rate: pacedRate, durationS: DURATION_S });
    let commit = null;
    if (databaseUrl) {
      await settleWrites(databaseUrl);
      commit = await commitBaseline(databaseUrl, pacedRate, DURATION_S);
    }

    // At saturation, latency is mostly queueing (connections / throughput). One request at a time
    // shows what the service itself adds, the audit event's durable commit included.
    const single = await load({ ...resolveOpts, connections: 1 });
    // Only against PostgreSQL: the embedded database lives inside the service process.
    const usage = databaseUrl ? await usageComparison(databaseUrl, resolveOpts, service.child.pid!) : null;

    // The loads above resolved the credential tens of thousands of times; top up to the mark.
    const resolved = await resolvesOf();
    if (resolved < RESOLVES_BEFORE_WRITES) await autocannon({ ...resolveOpts, connections: CONNECTIONS, amount: RESOLVES_BEFORE_WRITES - resolved });
    const resolvesBeforeWrites = await resolvesOf();
    const { create, rotate } = await writes();

    const identity = await measureExchange(service.url, org.id, async (issuer) => {
      await apiAs(service, admin).send(
        (api, signal) =>
          api.POST("/v1/organizations/{org}/identity-bindings", {
            params: { path: { org: org.id } },
            body: { name: "bench", issuer, audience: "keyplane-bench", subject: "bench:*" },
            signal,
          }),
        { retryable: false },
      );
    });

    return {
      resolve: {
        rps: resolve.rps,
        p50_ms: resolve.p50_ms,
        p99_ms: resolve.p99_ms,
        non2xx: resolve.non2xx,
        ratio_vs_bare_express: ratio(resolve.rps, bare.rps),
        paced_rate_rps: pacedRate,
        paced_p50_ms: paced.p50_ms,
        paced_p99_ms: paced.p99_ms,
        paced_p999_ms: paced.p999_ms,
        paced_max_ms: paced.max_ms,
        paced_non2xx: paced.failed + paced.errors,
        // Baseline (PostgreSQL only): durable single-row INSERTs of the same events, same rate.
        ...(commit
          ? {
              paced_database_commit_p50_ms: commit.p50_ms,
              paced_database_commit_p99_ms: commit.p99_ms,
              paced_database_commit_p999_ms: commit.p999_ms,
              paced_database_commit_failed: commit.failed + commit.errors,
            }
          : {}),
        one_connection: { rps: single.rps, p50_ms: single.p50_ms, p99_ms: single.p99_ms, non2xx: single.non2xx },
        rounds: resolveRounds.map((r, i) => ({ rps: r.rps, bare_express_rps: bareRounds[i].rps, ratio: ratio(r.rps, bareRounds[i].rps) })),
      },
      usage,
      baseline: { bare_express_rps: bare.rps, p50_ms: bare.p50_ms, p99_ms: bare.p99_ms },
      create: { rps: create.rps, p99_ms: create.p99_ms, non2xx: create.non2xx },
      rotate: { rps: rotate.rps, p99_ms: rotate.p99_ms, non2xx: rotate.non2xx },
      // create and rotate above ran after the credential's resolves; these before any.
      writes_after_resolves: {
        credential_resolves_before: freshResolves,
        credential_resolves_after: resolvesBeforeWrites,
        create_before_rps: fresh.create.rps,
        create_after_rps: create.rps,
        rotate_before_rps: fresh.rotate.rps,
        rotate_after_rps: rotate.rps,
        rotate_before_p99_ms: fresh.rotate.p99_ms,
        rotate_after_p99_ms: rotate.p99_ms,
        non2xx: fresh.create.non2xx + fresh.rotate.non2xx,
      },
      service: { rss_mb: peakRss },
      identity,
    };
  } finally {
    await stop(service.child);
  }
}

/** One launch until its first stdout bytes (the handshake line), or until exit when `untilExit`. */
async function launchMs(command: string, args: string[], env: NodeJS.ProcessEnv, untilExit = false): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "ignore"] });
  if (untilExit) await new Promise<void>((r) => child.once("exit", () => r()));
  else await new Promise<void>((r) => child.stdout.once("data", () => r()));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (!untilExit) await stop(child);
  return elapsed;
}

type GrpcClient = grpc.Client & Record<string, (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null) => void) => void>;

/**
 * One launch of the plugin as the engine uses it: handshake line, then over one mutual-TLS
 * connection go-plugin's health ping and the engine's first call, GetProviderSchema. Times from
 * launch, in ms.
 */
async function launchToFirstRpc(
  command: string,
  env: NodeJS.ProcessEnv,
  client: SelfSignedCertificate,
  protocol: grpc.GrpcObject,
): Promise<{ line: number; firstRpc: number; schema: number }> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  const child = spawn(command, [], { env, stdio: ["ignore", "pipe", "ignore"] });
  try {
    let stdout = "";
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
      });
      child.once("exit", (code) => reject(new Error(`the plugin exited (${code}) before its handshake line`)));
    });
    const lineMs = elapsed();
    const { address, serverCertPem } = parseHandshakeLine(line);
    // As go-plugin dials: trust only the handshake's certificate, present the engine's, ServerName "localhost".
    const credentials = grpc.credentials.createSsl(Buffer.from(serverCertPem!), Buffer.from(client.keyPem), Buffer.from(client.certPem));
    const options = { "grpc.ssl_target_name_override": "localhost" };
    const services = protocol as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
      tfplugin6: { Provider: grpc.ServiceClientConstructor };
    };
    const unary = (stub: GrpcClient, method: string, request: object) =>
      new Promise<void>((resolve, reject) => stub[method](request, { deadline: Date.now() + 10_000 }, (err) => (err ? reject(err) : resolve())));
    const health = new services.grpc.health.v1.Health(address, credentials, options) as GrpcClient;
    const provider = new services.tfplugin6.Provider(address, credentials, options) as GrpcClient;
    try {
      await unary(health, "Check", { service: "plugin" });
      const firstRpc = elapsed();
      await unary(provider, "GetProviderSchema", {});
      return { line: lineMs, firstRpc, schema: elapsed() };
    } finally {
      health.close();
      provider.close();
    }
  } finally {
    await stop(child);
  }
}

/** The packaged plugin (`npm run build:provider`, which `npm run bench` runs first). */
function providerExecutable(): string {
  const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  return join(root, `dist/provider/terraform-provider-keyplane_v${version}`);
}

/**
 * Plugin start-up: the packaged executable (`npm run build:provider`, what `init` installs) to its
 * handshake line and on to its first answered calls, the development launcher (Node on the bundled
 * plugin) to its line, and a bare `node -e ""` — interleaved, so they meet the same machine state;
 * medians of 9.
 */
async function pluginStartup() {
  const executable = providerExecutable();
  const launcher = join(root, "cdktf-provider/bin/terraform-provider-keyplane");
  const client = await generateSelfSignedCertificate("localhost");
  const protocol = loadProtocolPackage();
  const env = {
    ...process.env,
    TF_PLUGIN_MAGIC_COOKIE: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
    PLUGIN_PROTOCOL_VERSIONS: "6",
    PLUGIN_CLIENT_CERT: client.certPem,
  };
  const samples = { executable: [] as number[], firstRpc: [] as number[], schema: [] as number[], launcher: [] as number[], node: [] as number[] };
  for (let i = 0; i < 9; i++) {
    samples.node.push(await launchMs(process.execPath, ["-e", ""], env, true));
    const launch = await launchToFirstRpc(executable, env, client, protocol);
    samples.executable.push(launch.line);
    samples.firstRpc.push(launch.firstRpc);
    samples.schema.push(launch.schema);
    samples.launcher.push(await launchMs(launcher, [], env));
  }
  const startup = Math.round(median(samples.executable));
  const bare = Math.round(median(samples.node));
  return {
    startup_ms: startup,
    node_bare_ms: bare,
    startup_ratio_vs_node: Math.round((median(samples.executable) / median(samples.node)) * 100) / 100,
    first_rpc_ms: Math.round(median(samples.firstRpc)),
    first_schema_ms: Math.round(median(samples.schema)),
    launcher_startup_ms: Math.round(median(samples.launcher)),
    executable_mb: Math.round(statSync(executable).size / 1e5) / 10,
  };
}

/** autocannon's histogram keeps whole milliseconds, truncated: 0 means under one. */
function ms(value: number): string {
  return value === 0 ? "< 1 ms" : `${value} ms`;
}

function ratio(rps: number, bareRps: number): number {
  return Math.round((rps / bareRps) * 1000) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function findTofu(): string | null {
  if (process.env.KEYPLANE_TF_BINARY) return process.env.KEYPLANE_TF_BINARY;
  const built = spawnSync("bash", [join(root, ".ci/build-tofu.sh")], { encoding: "utf8" });
  return built.status === 0 ? built.stdout.trim() : null;
}

async function planBenchAgainstService(tofu: string) {
  const goProviderDir = buildGoProvider(root);
  const service = await startService();
  try {
    return await planBench({
      tofu,
      pluginExecutable: providerExecutable(),
      goProviderDir,
      endpoint: service.url,
      organization: (label) => seedOrganization(service, label),
    });
  } finally {
    await stop(service.child);
  }
}

async function withBenchDatabase<T>(fn: (url: string) => Promise<T>): Promise<T | null> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `kp_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch {
    console.error(`PostgreSQL at ${adminUrl} is not reachable: skipping the postgres column`);
    return null;
  }
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

async function main() {
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    node: process.version,
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    warmup_s: WARMUP_S,
    rounds: ROUNDS,
  };
  console.error(
    `machine: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}; ${CONNECTIONS} connections, ${WARMUP_S} s warm-up, ${DURATION_S} s per load, ${ROUNDS} rounds of bare and resolve`,
  );

  let embedded, postgres;
  if (PARTS.has("embedded") || PARTS.has("postgres")) {
    const bare = await startBareExpress();
    try {
      if (PARTS.has("embedded")) {
        embedded = await measureService("embedded", undefined, bare.url);
        console.error(`embedded: resolve ${embedded.resolve.rps} req/s, bare Express ${embedded.baseline.bare_express_rps} req/s`);
      }
      if (PARTS.has("postgres")) {
        postgres = await withBenchDatabase((url) => measureService("postgres", url, bare.url));
        if (postgres) console.error(`postgres: resolve ${postgres.resolve.rps} req/s, bare Express ${postgres.baseline.bare_express_rps} req/s`);
      }
    } finally {
      await stop(bare.child);
    }
  }

  const plugin = PARTS.has("plugin") ? await pluginStartup() : null;
  const tofu = PARTS.has("plan") ? findTofu() : null;
  const plan = tofu ? await planBenchAgainstService(tofu) : null;
  const service = PARTS.has("start") ? await serviceStart(root, freePort) : undefined;

  const results = { machine, parts: [...PARTS], embedded, postgres, plugin, plan, service, measured_at: new Date().toISOString() };
  const partial = ALL_PARTS.some((part) => !PARTS.has(part));
  const resultsFile = join(root, partial ? "bench/results.partial.json" : "bench/results.json");
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

  const rows: [string, string, string][] = [];
  for (const [label, r] of [
    ["embedded", embedded],
    ["postgres", postgres],
  ] as const) {
    if (!r) continue;
    rows.push(
      [
        `${label} resolve`,
        `${r.resolve.rps} req/s`,
        `p50 ${ms(r.resolve.p50_ms)}, p99 ${ms(r.resolve.p99_ms)}, ${r.resolve.ratio_vs_bare_express}× bare Express (rounds ${r.resolve.rounds.map((x) => x.ratio).join(", ")})`,
      ],
      [
        `${label} bare Express route`,
        `${r.baseline.bare_express_rps} req/s`,
        `p50 ${ms(r.baseline.p50_ms)}, p99 ${ms(r.baseline.p99_ms)}, alternated with the resolve rounds`,
      ],
      [
        `${label} resolve, paced`,
        `${r.resolve.paced_rate_rps} req/s`,
        `p50 ${r.resolve.paced_p50_ms} ms, p99 ${r.resolve.paced_p99_ms} ms, p99.9 ${r.resolve.paced_p999_ms} ms (open loop, half the saturating rate)`,
      ],
      ...("paced_database_commit_p99_ms" in r.resolve
        ? [
            [
              `${label} durable INSERT, paced (baseline)`,
              `${r.resolve.paced_rate_rps} req/s`,
              `p50 ${r.resolve.paced_database_commit_p50_ms} ms, p99 ${r.resolve.paced_database_commit_p99_ms} ms, p99.9 ${r.resolve.paced_database_commit_p999_ms} ms (the same resolve events, one commit each, as many connections as the service's pool)`,
            ] as [string, string, string],
          ]
        : []),
      [
        `${label} resolve, 1 connection`,
        `${r.resolve.one_connection.rps} req/s`,
        `p50 ${ms(r.resolve.one_connection.p50_ms)}, p99 ${ms(r.resolve.one_connection.p99_ms)}, one request at a time`,
      ],
      ...(r.usage
        ? [
            [
              `${label} resolve with usage`,
              `${r.usage.with_usage_rps} req/s`,
              `without: ${r.usage.without_usage_rps} req/s; median of ${r.usage.pairs.length} paired ratios ${r.usage.ratio}, pooled ${r.usage.pooled_ratio} (pairs ${r.usage.pairs.map((x) => x.ratio).join(", ")}); CPU per resolve ${r.usage.with_usage_cpu_us_per_resolve} vs ${r.usage.without_usage_cpu_us_per_resolve} µs, ratio ${r.usage.cpu_ratio} (pairs ${r.usage.pairs.map((x) => x.cpu_ratio).join(", ")})`,
            ] as [string, string, string],
          ]
        : []),
      [
        `${label} create`,
        `${r.create.rps} req/s`,
        `p99 ${ms(r.create.p99_ms)}; ${r.writes_after_resolves.create_before_rps} req/s before the ${r.writes_after_resolves.credential_resolves_after} resolves`,
      ],
      [
        `${label} rotate`,
        `${r.rotate.rps} req/s`,
        `p99 ${ms(r.rotate.p99_ms)}, after ${r.writes_after_resolves.credential_resolves_after} resolves of the credential; before them ${r.writes_after_resolves.rotate_before_rps} req/s, p99 ${ms(r.writes_after_resolves.rotate_before_p99_ms)}`,
      ],
      [`${label} service RSS`, `${r.service.rss_mb} MB`, "peak under the resolve load"],
      [
        `${label} identity exchange, 1 connection`,
        `p50 ${ms(r.identity.exchange_p50_ms)}`,
        `p99 ${ms(r.identity.exchange_p99_ms)}, ${r.identity.samples} exchanges one at a time (${r.identity.failures} failed)`,
      ],
    );
  }
  if (plugin)
    rows.push(
      [
        "plugin start-up, packaged executable",
        `${plugin.startup_ms} ms`,
        `${plugin.startup_ratio_vs_node}× a bare \`node -e ""\` (${plugin.node_bare_ms} ms); ${plugin.executable_mb} MB; median of 9 launches to the handshake line`,
      ],
      [
        "plugin first call, packaged executable",
        `${plugin.first_rpc_ms} ms`,
        `launch to go-plugin's health ping answered over mutual TLS; GetProviderSchema answered at ${plugin.first_schema_ms} ms`,
      ],
      ["plugin start-up, development launcher", `${plugin.launcher_startup_ms} ms`, "Node on the bundled plugin (dev_overrides, filesystem mirror)"],
    );
  if (plan) {
    for (const size of [100, 400] as const) {
      rows.push([
        `tofu plan, ${size} resources`,
        `${plan[`keyplane_${size}_s`]} s`,
        `Go provider: ${plan[`go_provider_${size}_s`] ?? "-"} s (ratio ${plan[`ratio_vs_go_provider_${size}`] ?? "-"}), terraform_data: ${plan[`terraform_data_${size}_s`]} s; median of ${plan.rounds}`,
      ]);
    }
  }
  if (service)
    rows.push([
      "npm start to /readyz",
      `${service.start_ms} ms`,
      `median of ${service.starts} starts on a built checkout; first start (new database): ${service.first_start_ms} ms`,
    ]);
  const width = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(width[i])).join("  "));
  console.log(`\nwritten to ${resultsFile}`);
  if (!existsSync(resultsFile)) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
