// An open-loop load at a fixed rate, for latency "where callers live".
//
// autocannon's `overallRate` is closed-loop and bursty: each connection sends back to back until
// it has made its share of the second, then waits for the next second. At half the saturating
// rate that is saturation for half of every second and idleness for the other half, so its
// percentiles measure a queue the service never sees from callers that arrive independently.
// Here request i is due at start + i / rate whatever happened to the ones before it, and its
// latency counts from that due time (not from when a socket was free), so a stall delays every
// request due during it and shows in the percentiles (no coordinated omission, as in wrk2).
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";

export interface PacedLoadOptions {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  rate: number;
  durationS: number;
  /** Sockets kept open to the service; requests due while all are busy wait for one (and that wait counts). */
  connections: number;
}

export interface PacedLoadResult {
  rate_rps: number;
  sent: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  non2xx: number;
  errors: number;
}

export async function pacedLoad(opts: PacedLoadOptions): Promise<PacedLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  const target = new URL(opts.url);
  const body = Buffer.from(opts.body);
  const headers = { ...opts.headers, "Content-Length": String(body.length) };
  const total = Math.round(opts.rate * opts.durationS);
  const latencies = new Float64Array(total);
  let done = 0;
  let non2xx = 0;
  let errors = 0;

  const send = (index: number, due: number) =>
    new Promise<void>((settle) => {
      const finish = () => {
        latencies[index] = performance.now() - due;
        done++;
        settle();
      };
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: opts.method, headers, agent }, (res) => {
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++;
        res.resume();
        res.once("end", finish);
        res.once("error", () => {
          errors++;
          finish();
        });
      });
      req.once("error", () => {
        errors++;
        finish();
      });
      req.end(body);
    });

  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  const interval = 1000 / opts.rate;
  let next = 0;
  while (next < total) {
    const now = performance.now();
    // Everything due by now goes out now, each timed from its own due time.
    while (next < total && start + next * interval <= now) {
      inFlight.push(send(next, start + next * interval));
      next++;
    }
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  agent.destroy();

  const sorted = latencies.slice(0, done).sort();
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 100) / 100;
  return {
    rate_rps: opts.rate,
    sent: total,
    p50_ms: at(0.5),
    p90_ms: at(0.9),
    p99_ms: at(0.99),
    p999_ms: at(0.999),
    max_ms: at(1),
    non2xx,
    errors,
  };
}
