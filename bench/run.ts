// `npm run bench`: measures the resolve hot path against a bare Express route (same connections,
// same duration, same run) and at a paced half of its saturating rate, write throughput, service
// memory, plugin start-up, `tofu plan` of 100 and 400 resources against built-in terraform_data
// and a Go provider baseline (bench/plan.ts), `npm start` to a healthy /readyz, and resolve
// throughput with and without what credential usage adds. Prints a table and writes
// bench/results.json.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import autocannon from "autocannon";
import pg from "pg";
import { generateSelfSignedCertificate } from "../cdktf-provider/src/protocol/certificate.js";
import { KeyplaneApi } from "../service/client/keyplane-api.js";
import { buildGoProvider } from "./go-provider.js";
import { planBench } from "./plan.js";
import { serviceStart } from "./service-start.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 3);
// Rounds of (bare route, resolve) loads, alternated: this VM's speed drifts by 10–20% between
// loads, and a ratio taken from one load of each would carry that drift.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// BENCH_ONLY=plan,start (a comma list of resolve, plugin, plan, start) runs only those parts, for
// working on one of them; results.json then holds only those.
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
const runs = (part: "resolve" | "plugin" | "plan" | "start") => !ONLY || ONLY.has(part);

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

// What credential usage costs a resolve: nothing is written for it, it is read from the resolve
// audit events through these indexes (migration 0011), so their upkeep on every audit insert is
// the whole difference between a resolve with usage and one without.
const USAGE_INDEXES = ["audit_events_credential_resolve_idx", "audit_events_skipped_inactive_idx"];

/**
 * Resolve throughput without the usage indexes and with them, alternated round by round in the
 * same service (the database is reached directly to drop and recreate them between loads).
 */
async function usageComparison(databaseUrl: string, resolveOpts: autocannon.Options) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ indexname: string; indexdef: string }>("select indexname, indexdef from pg_indexes where indexname = any($1)", [
      USAGE_INDEXES,
    ]);
    if (rows.length !== USAGE_INDEXES.length) throw new Error(`usage indexes missing: found ${rows.map((r) => r.indexname).join(", ")}`);
    const drop = () => db.query(`drop index if exists ${USAGE_INDEXES.join(", ")}`);
    const create = async () => {
      for (const r of rows) await db.query(r.indexdef.replace(/^CREATE INDEX /, "CREATE INDEX IF NOT EXISTS "));
    };
    const without: LoadResult[] = [];
    const withUsage: LoadResult[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which goes first, so the audit table's growth and the VM's drift fall on both.
        for (const indexed of round % 2 === 0 ? [false, true] : [true, false]) {
          await (indexed ? create() : drop());
          (indexed ? withUsage : without).push(await load(resolveOpts, undefined, Math.min(WARMUP_S, 1)));
        }
      }
    } finally {
      await create();
    }
    const a = medianRound(without);
    const b = medianRound(withUsage);
    return {
      without_usage_rps: a.rps,
      with_usage_rps: b.rps,
      ratio: ratio(b.rps, a.rps),
      rounds: without.map((w, i) => ({ without_usage_rps: w.rps, with_usage_rps: withUsage[i].rps, ratio: ratio(withUsage[i].rps, w.rps) })),
    };
  } finally {
    await db.end();
  }
}

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
    // Latency where callers live: well below saturation (half of it), not queueing behind it.
    const pacedRate = Math.max(1, Math.round(resolve.rps / 2));
    const paced = await load({ ...resolveOpts, overallRate: pacedRate }, undefined, 1);

    // At saturation, latency is mostly queueing (connections / throughput). One request at a time
    // shows what the service itself adds, the audit event's durable commit included.
    const single = await load({ ...resolveOpts, connections: 1 });
    // Only against PostgreSQL: the embedded database lives inside the service process.
    const usage = databaseUrl ? await usageComparison(databaseUrl, resolveOpts) : null;

    let created = 0;
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
        paced_non2xx: paced.non2xx,
        one_connection: { rps: single.rps, p50_ms: single.p50_ms, p99_ms: single.p99_ms, non2xx: single.non2xx },
        rounds: resolveRounds.map((r, i) => ({ rps: r.rps, bare_express_rps: bareRounds[i].rps, ratio: ratio(r.rps, bareRounds[i].rps) })),
      },
      usage,
      baseline: { bare_express_rps: bare.rps, p50_ms: bare.p50_ms, p99_ms: bare.p99_ms },
      create: { rps: create.rps, p99_ms: create.p99_ms, non2xx: create.non2xx },
      rotate: { rps: rotate.rps, p99_ms: rotate.p99_ms, non2xx: rotate.non2xx },
      service: { rss_mb: peakRss },
    };
  } finally {
    await stop(service.child);
  }
}

async function pluginStartupMs(): Promise<number> {
  const launcher = join(root, "cdktf-provider/bin/terraform-provider-keyplane");
  const client = await generateSelfSignedCertificate("localhost");
  const samples: number[] = [];
  for (let i = 0; i < 7; i++) {
    const started = process.hrtime.bigint();
    const child = spawn(launcher, [], {
      env: {
        ...process.env,
        TF_PLUGIN_MAGIC_COOKIE: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        PLUGIN_PROTOCOL_VERSIONS: "6",
        PLUGIN_CLIENT_CERT: client.certPem,
      },
      stdio: ["ignore", "pipe", "ignore"],
    });
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    await stop(child);
  }
  return Math.round(median(samples));
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
      pluginDir: join(root, "cdktf-provider/bin"),
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
  if (runs("resolve")) {
    const bare = await startBareExpress();
    try {
      embedded = await measureService("embedded", undefined, bare.url);
      console.error(`embedded: resolve ${embedded.resolve.rps} req/s, bare Express ${embedded.baseline.bare_express_rps} req/s`);
      postgres = await withBenchDatabase((url) => measureService("postgres", url, bare.url));
      if (postgres) console.error(`postgres: resolve ${postgres.resolve.rps} req/s, bare Express ${postgres.baseline.bare_express_rps} req/s`);
    } finally {
      await stop(bare.child);
    }
  }

  const plugin = runs("plugin") ? { startup_ms: await pluginStartupMs() } : undefined;
  const tofu = runs("plan") ? findTofu() : null;
  const plan = tofu ? await planBenchAgainstService(tofu) : null;
  const service = runs("start") ? await serviceStart(root, freePort) : undefined;

  const results = { machine, embedded, postgres, plugin, plan, service, measured_at: new Date().toISOString() };
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(join(root, "bench/results.json"), `${JSON.stringify(results, null, 2)}\n`);

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
        `p50 ${ms(r.resolve.paced_p50_ms)}, p99 ${ms(r.resolve.paced_p99_ms)}, at half the saturating rate`,
      ],
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
              `without: ${r.usage.without_usage_rps} req/s, ratio ${r.usage.ratio} (rounds ${r.usage.rounds.map((x) => x.ratio).join(", ")})`,
            ] as [string, string, string],
          ]
        : []),
      [`${label} create`, `${r.create.rps} req/s`, `p99 ${ms(r.create.p99_ms)}`],
      [`${label} rotate`, `${r.rotate.rps} req/s`, `p99 ${ms(r.rotate.p99_ms)}`],
      [`${label} service RSS`, `${r.service.rss_mb} MB`, "peak under the resolve load"],
    );
  }
  if (plugin) rows.push(["plugin start-up", `${plugin.startup_ms} ms`, "median of 7 launches to the handshake line"]);
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
  console.log(`\nwritten to bench/results.json`);
  if (!existsSync(join(root, "bench/results.json"))) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
