/**
 * SIGTERM: the service stops accepting connections, finishes the requests already in flight,
 * closes the database pool and exits 0.
 */
import { connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { callApi, serviceEnv, startServiceProcess } from "../support/service-process.js";

describe("graceful shutdown", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "kp-shutdown-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("finishes an in-flight request after SIGTERM, refuses new connections, exits 0", async () => {
    const env = serviceEnv(dataDir);
    const service = await startServiceProcess(env);
    const { port } = new URL(service.url);
    const body = JSON.stringify({ name: "Shutdown", slug: "shutdown" });

    // An in-flight request: headers and half the body sent, the rest after SIGTERM.
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    let response = "";
    socket.on("data", (d: Buffer) => (response += d.toString()));
    const closed = new Promise((r) => socket.once("close", r));
    socket.write(
      `POST /v1/organizations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${env.bootstrapToken}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n` +
        body.slice(0, 10),
    );
    await delay(300);
    service.child.kill("SIGTERM");
    await delay(500);

    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
    expect(service.child.exitCode).toBeNull();

    socket.write(body.slice(10));
    await closed;
    expect(response).toMatch(/^HTTP\/1.1 201 /);
    expect(await service.exited).toBe(0);
    expect(service.output()).toContain("shutting down");

    // The write made it: a new process on the same data sees the organization.
    const again = await startServiceProcess(env);
    const list = await callApi(again.url, "GET", "/v1/organizations", env.bootstrapToken);
    expect(list.body.data.map((o: { slug: string }) => o.slug)).toContain("shutdown");
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  }, 90_000);

  it("answers a held environment long-poll with 304 at once on SIGTERM and exits 0 promptly", async () => {
    const env = serviceEnv(join(dataDir, "held"));
    const service = await startServiceProcess(env);
    const org = await callApi(service.url, "POST", "/v1/organizations", env.bootstrapToken, { name: "Held", slug: "held" });
    const token = await callApi(service.url, "POST", `/v1/organizations/${org.body.id}/tokens`, env.bootstrapToken, { role: "resolver", name: "watch" });
    const path = `${service.url}/v1/organizations/${org.body.id}/environment`;
    const headers = { Authorization: `Bearer ${token.body.token}` };
    const etag = (await fetch(path, { headers })).headers.get("etag")!;

    const held = fetch(`${path}?wait=60`, { headers: { ...headers, "If-None-Match": etag } });
    await delay(500);
    const stoppedAt = Date.now();
    service.child.kill("SIGTERM");
    const answer = await held;
    expect(answer.status).toBe(304);
    expect(answer.headers.get("etag")).toBe(etag);
    expect(await service.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
  }, 90_000);
});
