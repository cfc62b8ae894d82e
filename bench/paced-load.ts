// An open-loop load at a fixed rate, for latency "where callers live".
//
// autocannon's `overallRate` is closed-loop and bursty: each connection sends back to back until
// it has made its share of the second, then waits for the next second. At half the saturating
// rate that is saturation for half of every second and idleness for the other half, so its
// percentiles measure a queue the service never sees from callers that arrive independently.
// Here request i is due at start + i / rate whatever happened to the ones before it, and its
// latency counts from that due time (not from when a connection was free), so a stall delays
// every request due during it and shows in the percentiles (no coordinated omission, as in wrk2).
//
// The client is as cheap as autocannon's: keep-alive sockets, one prepared request buffer, and a
// response reader that only finds the status and the end of the body. node:http's client costs
// several times more CPU per request, and on a 2-core machine that CPU is taken from the service
// under test, which then looked saturated at half its saturating rate.
import { connect, type Socket } from "node:net";
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
  /** Requests answered with a failure (a non-2xx status, for HTTP). */
  failed: number;
  errors: number;
}

const HEADER_END = Buffer.from("\r\n\r\n");

/** One keep-alive connection with at most one request outstanding. */
class Connection {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private onResponse: ((status: number) => void) | null = null;
  private onFailure: ((error: Error) => void) | null = null;
  broken = false;

  constructor(port: number, host: string) {
    this.socket = connect({ port, host, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.read(chunk));
    const fail = (error: Error) => {
      this.broken = true;
      this.onFailure?.(error);
      this.onResponse = this.onFailure = null;
    };
    this.socket.on("error", fail);
    this.socket.on("close", () => fail(new Error("connection closed")));
  }

  send(request: Buffer): Promise<number> {
    return new Promise((settle, reject) => {
      this.onResponse = settle;
      this.onFailure = reject;
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  // A response is complete once its headers and Content-Length bytes of body have arrived (the
  // service answers every request with a Content-Length).
  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffered.subarray(0, headerEnd).toString("latin1");
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const end = headerEnd + HEADER_END.length + length;
    if (this.buffered.length < end) return;
    this.buffered = this.buffered.subarray(end);
    const status = Number(head.slice(9, 12));
    const settle = this.onResponse;
    this.onResponse = this.onFailure = null;
    settle?.(status);
  }
}

/** One request slot of an open-loop load: sends a request and settles with whether it succeeded; `broken` slots are replaced. */
export interface LoadSlot {
  send(): Promise<boolean>;
  close(): void;
  readonly broken?: boolean;
}

export interface OpenLoopOptions {
  rate: number;
  durationS: number;
  /** Makes the slots: the load's concurrency (requests due while all are busy wait for one, and that wait counts). */
  open: () => LoadSlot;
  slots: number;
}

/** Requests at a fixed rate, each timed from its due time; see the top of this file. */
export async function openLoop(opts: OpenLoopOptions): Promise<PacedLoadResult> {
  const total = Math.round(opts.rate * opts.durationS);
  const latencies = new Float64Array(total);
  let done = 0;
  let failed = 0;
  let errors = 0;
  const idle: LoadSlot[] = Array.from({ length: opts.slots }, opts.open);
  const waiting: { index: number; due: number }[] = [];
  let allDone: () => void = () => {};
  const finished = new Promise<void>((r) => (allDone = r));

  const dispatch = (slot: LoadSlot, index: number, due: number) => {
    slot.send().then(
      (ok) => {
        if (!ok) failed++;
        complete(slot, index, due);
      },
      () => {
        errors++;
        slot.close();
        complete(opts.open(), index, due);
      },
    );
  };
  const complete = (slot: LoadSlot, index: number, due: number) => {
    latencies[index] = performance.now() - due;
    if (++done === total) allDone();
    const next = waiting.shift();
    if (next) dispatch(slot, next.index, next.due);
    else idle.push(slot);
  };

  const start = performance.now();
  const interval = 1000 / opts.rate;
  let next = 0;
  while (next < total) {
    const now = performance.now();
    // Everything due by now goes out now, each timed from its own due time.
    while (next < total && start + next * interval <= now) {
      const due = start + next * interval;
      let slot = idle.pop();
      if (slot?.broken) {
        slot.close();
        slot = opts.open();
      }
      if (slot) dispatch(slot, next, due);
      else waiting.push({ index: next, due });
      next++;
    }
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  if (total > 0) await finished;
  for (const slot of idle) slot.close();

  const sorted = latencies.sort();
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 100) / 100;
  return {
    rate_rps: opts.rate,
    sent: total,
    p50_ms: at(0.5),
    p90_ms: at(0.9),
    p99_ms: at(0.99),
    p999_ms: at(0.999),
    max_ms: at(1),
    failed,
    errors,
  };
}

/** An open-loop HTTP load: `connections` keep-alive sockets, a 2xx answer counts as success. */
export function pacedLoad(opts: PacedLoadOptions): Promise<PacedLoadResult> {
  const target = new URL(opts.url);
  const body = Buffer.from(opts.body);
  const head = [
    `${opts.method} ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    ...Object.entries(opts.headers).map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${body.length}`,
    "",
    "",
  ].join("\r\n");
  const request = Buffer.concat([Buffer.from(head, "latin1"), body]);
  return openLoop({
    rate: opts.rate,
    durationS: opts.durationS,
    slots: opts.connections,
    open: () => {
      const connection = new Connection(Number(target.port), target.hostname);
      return {
        send: async () => {
          const status = await connection.send(request);
          return status >= 200 && status <= 299;
        },
        close: () => connection.close(),
        get broken() {
          return connection.broken;
        },
      };
    },
  });
}
