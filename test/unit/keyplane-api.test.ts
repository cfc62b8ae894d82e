/**
 * The shared REST client (plugin, CLI, bench) against a scripted server on 127.0.0.1: what it
 * retries and what it does not, timeouts, cancellation, problem documents as ApiError, answers
 * that are not JSON, and the headers and URLs it sends. No Keyplane service and no database.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { absentOn404, ApiError, KeyplaneApi, type KeyplaneApiOptions } from "../../service/client/keyplane-api.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let endpoint: string;
let handler: Handler;
let seen: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
  handler = (_req, res) => json(res, 200, { data: [] });
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function api(options: Partial<KeyplaneApiOptions> = {}) {
  return new KeyplaneApi({ endpoint, token: "kp_test-token", userAgent: "keyplane-test", backoffMs: 5, ...options });
}

const listProviders = (a: KeyplaneApi, retryable = true, signal?: AbortSignal) =>
  a.send((client, attempt) => client.GET("/v1/providers", { signal: attempt }), { retryable, signal });

const createProject = (a: KeyplaneApi) =>
  a.send((client, signal) => client.POST("/v1/organizations/{org}/projects", { params: { path: { org: "org_1" } }, body: { name: "web" }, signal }), {
    retryable: false,
  });

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("KeyplaneApi", () => {
  it("sends the token, the user agent and typed path, query and header parameters, encoded", async () => {
    handler = (_req, res) => json(res, 200, { id: "cred_1" }, { etag: '"v4"' });
    const answer = await api().send(
      (client, signal) =>
        client.DELETE("/v1/organizations/{org}/credentials/{id}", {
          params: { path: { org: "org 1", id: "a/b" }, query: { force: true }, header: { "If-Match": '"v3"' } },
          signal,
        }),
      { retryable: true },
    );
    expect(answer.etag).toBe('"v4"');
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe("DELETE");
    expect(seen[0].url).toBe("/v1/organizations/org%201/credentials/a%2Fb?force=true");
    expect(seen[0].headers).toMatchObject({ authorization: "Bearer kp_test-token", "user-agent": "keyplane-test", "if-match": '"v3"' });
  });

  it("keeps a path prefix of the endpoint and drops a user name and password from it", async () => {
    const prefixed = new KeyplaneApi({ endpoint: `http://user:hunter2@${endpoint.slice(7)}/keyplane/`, token: undefined, userAgent: "t" });
    expect(prefixed.endpoint).toBe(`${endpoint}/keyplane`);
    await listProviders(prefixed);
    expect(seen[0].url).toBe("/keyplane/v1/providers");
    expect(seen[0].headers.authorization).toBeUndefined();
  });

  it("retries a retryable call on 503, waiting as Retry-After says, then answers", async () => {
    handler = (_req, res) =>
      seen.length < 3 ? json(res, 503, { code: "unavailable", detail: "Busy." }, { "retry-after": "0" }) : json(res, 200, { data: [{ id: "openai" }] });
    const answer = await listProviders(api());
    expect(seen).toHaveLength(3);
    expect(answer.body.data).toEqual([{ id: "openai" }]);
  });

  it("sends a call that is not safe to repeat once, and reports the problem document", async () => {
    handler = (_req, res) => json(res, 503, { code: "unavailable", detail: "The database is unavailable." });
    const error = await failure(createProject(api()));
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ status: 503, code: "unavailable", message: "The database is unavailable.", notProblem: false });
  });

  it("gives up after maxAttempts", async () => {
    handler = (_req, res) => json(res, 429, { code: "rate_limited", detail: "Slow down." }, { "retry-after": "0" });
    const error = await failure(listProviders(api({ maxAttempts: 3 })));
    expect(seen).toHaveLength(3);
    expect(error).toMatchObject({ status: 429, code: "rate_limited" });
  });

  it("carries field errors and the current ETag of a refused write", async () => {
    handler = (_req, res) =>
      json(res, 412, { code: "precondition_failed", detail: "Changed.", errors: [{ path: "header.If-Match", message: "stale" }] }, { etag: '"v9"' });
    const error = await failure(createProject(api()));
    expect(error).toMatchObject({ status: 412, etag: '"v9"', fieldErrors: [{ path: "header.If-Match", message: "stale" }] });
  });

  it("reports an answer that is not a problem document by its status", async () => {
    handler = (_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    };
    const error = await failure(listProviders(api(), false));
    expect(error).toMatchObject({ status: 502, code: "http_502", message: "The Keyplane service answered HTTP 502.", notProblem: true });
  });

  it("turns a 2xx answer that is not JSON (a web server at the endpoint) into an ApiError", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>welcome</html>");
    };
    const error = await failure(listProviders(api()));
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ status: 200, code: "http_200", notProblem: true });
    expect(error.message).toContain("text/html");
  });

  it("times out each attempt and says so, naming the endpoint but never the token", async () => {
    handler = () => undefined;
    const error = await failure(listProviders(api({ timeoutMs: 100, maxAttempts: 2 })));
    expect(seen).toHaveLength(2);
    expect(error).toMatchObject({ status: 0, code: "unreachable", unreachable: true, reason: "no answer within 0.1 s" });
    expect(error.message).toBe(`Cannot reach the Keyplane service at ${endpoint} (no answer within 0.1 s).`);
    expect(error.message).not.toContain("kp_test-token");
  });

  it("reports a cancelled call as cancelled, without retrying it", async () => {
    handler = () => undefined;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await failure(listProviders(api({ timeoutMs: 5_000 }), true, controller.signal));
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ status: 0, code: "cancelled" });
  });

  it("names the system error of a refused connection", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(listProviders(new KeyplaneApi({ endpoint: `http://127.0.0.1:${port}`, token: "t", userAgent: "t", maxAttempts: 1 })));
    expect(error).toMatchObject({ code: "unreachable", reason: "ECONNREFUSED" });
  });

  it("absentOn404 turns only a 404 into null", async () => {
    handler = (_req, res) => json(res, 404, { code: "not_found", detail: "No such credential." });
    await expect(listProviders(api()).catch(absentOn404)).resolves.toBeNull();
    handler = (_req, res) => json(res, 403, { code: "forbidden", detail: "No." });
    await expect(listProviders(api()).catch(absentOn404)).rejects.toMatchObject({ status: 403 });
  });
});
