// A loopback HTTP proxy in front of a Keyplane service that can lose answers: a request that
// matches a rule reaches the service, which does the work and answers, and then the proxy resets
// the client's connection instead of passing the answer on — what a client sees when a load
// balancer or a network drops a response. Every request is recorded with its Idempotency-Key.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxiedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  ifMatch: string | undefined;
  /** The service's status, also when the answer was dropped. */
  status: number;
  dropped: boolean;
}

interface DropRule {
  method: string;
  path: RegExp;
  remaining: number;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "content-length"]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

export class LossyProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly rules: DropRule[] = [];
  private server: Server | undefined;
  url = "";

  constructor(private readonly upstream: string) {}

  /** Loses the answers to the next `times` requests of `method` whose path matches. */
  dropAnswers(method: string, path: RegExp, times = 1): void {
    this.rules.push({ method, path, remaining: times });
  }

  async start(): Promise<void> {
    const target = new URL(this.upstream);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const rule = this.rules.find((r) => r.remaining > 0 && r.method === req.method && r.path.test(req.url ?? ""));
        if (rule) rule.remaining--;
        const upstream = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...forwardable(req.headers), "content-length": String(body.length) },
          },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on("data", (c: Buffer) => parts.push(c));
            answer.on("end", () => {
              this.requests.push({
                method: req.method ?? "",
                path: req.url ?? "",
                idempotencyKey: req.headers["idempotency-key"] as string | undefined,
                ifMatch: req.headers["if-match"],
                status: answer.statusCode ?? 0,
                dropped: rule !== undefined,
              });
              // The service has answered, so its transaction committed: now lose the answer.
              if (rule) return req.socket.resetAndDestroy();
              res.writeHead(answer.statusCode ?? 502, forwardable(answer.headers));
              res.end(Buffer.concat(parts));
            });
          },
        );
        upstream.on("error", () => req.socket.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The recorded requests of `method` whose path matches. */
  seen(method: string, path: RegExp): ProxiedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
