/**
 * The environment long-poll (`wait` with If-None-Match) over a real socket: a held request wakes
 * on the change notification of a rotation, times out with 304, is bounded per token, and leaves
 * no change listener behind when its client goes away.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openDb } from "../../service/db/index.js";
import { Resolver } from "../../service/resolve/resolve-service.js";
import { testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEYS = ["sk-proj-WaitOrg000000000000000000000000000000w01", "sk-proj-WaitRotated00000000000000000000000000w02"];
const BACKUP = "sk-ant-api03-WaitBackup000000000000000000000000w03";

async function until(condition: () => boolean, what: string, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

for (const kind of testDatabases()) {
  describe(`environment long-poll (${kind})`, () => {
    const t = useApiFixture(kind);
    let server: Server;
    let base: string;
    let openaiId: string;
    let backupId: string;
    let rotations = 0;
    const listeners = () => t.runtime.db.changes.listenerCount;

    const get = (query: string, headers: Record<string, string> = {}, signal?: AbortSignal, token = t.tokens.resolver) =>
      fetch(`${base}/v1/organizations/${t.orgId}/environment${query}`, { headers: { ...bearer(token), ...headers }, signal });
    const currentEtag = async () => (await get("")).headers.get("etag")!;
    const rotate = async () => {
      rotations += 1;
      const res = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials/${openaiId}/rotate`)
        .set(t.admin)
        .send({ api_key: `sk-proj-WaitRotation${String(rotations).padStart(27, "0")}w04` });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    };

    beforeAll(async () => {
      const create = async (body: Record<string, unknown>) => {
        const res = await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send(body);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.id as string;
      };
      openaiId = await create({ provider: "openai", name: "org", api_key: KEYS[0] });
      await create({ provider: "anthropic", name: "main", api_key: "sk-ant-api03-WaitMain00000000000000000000000000w05", is_default: true });
      backupId = await create({ provider: "anthropic", name: "backup", api_key: BACKUP });
      server = createServer(t.handler);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }, 60_000);
    afterAll(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
    });

    it("answers at once without If-None-Match, or when the ETag already differs", async () => {
      const started = Date.now();
      const plain = await get("?wait=30");
      expect(plain.status).toBe(200);
      const stale = await get("?wait=30", { "If-None-Match": '"env-stale"' });
      expect(stale.status).toBe(200);
      expect(stale.headers.get("etag")).toBe(plain.headers.get("etag"));
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it("answers 304 with the same ETag when nothing changed within the wait; an edit that changes no variable does not end it", async () => {
      const etag = await currentEtag();
      const baseline = listeners();
      const started = Date.now();
      const pending = get("?wait=2", { "If-None-Match": etag });
      await until(() => listeners() > baseline, "the wait");
      await delay(200);
      const edit = await t.api.patch(`/v1/organizations/${t.orgId}/credentials/${backupId}`).set(t.admin).send({ name: "renamed during a wait" });
      expect(edit.status, JSON.stringify(edit.body)).toBe(200);
      const res = await pending;
      const elapsed = Date.now() - started;
      expect(res.status).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect(elapsed).toBeGreaterThanOrEqual(1_900);
      expect(elapsed).toBeLessThan(4_000);
    });

    it("wakes within a second of a rotation through the API, with the new key and ETag", async () => {
      const etag = await currentEtag();
      const baseline = listeners();
      const pending = get("?wait=20", { "If-None-Match": etag });
      await until(() => listeners() > baseline, "the wait");
      await delay(100);
      const rotatedAt = Date.now();
      await rotate();
      const res = await pending;
      const latency = Date.now() - rotatedAt;
      console.info(`environment long-poll (${kind}): answered ${latency} ms after the rotation was sent`);
      expect(res.status).toBe(200);
      expect(res.headers.get("etag")).not.toBe(etag);
      const body = (await res.json()) as { variables: Record<string, string> };
      expect(body.variables.OPENAI_API_KEY).toBe(`sk-proj-WaitRotation${String(rotations).padStart(27, "0")}w04`);
      expect(latency).toBeLessThan(1_000);
    });

    it("wakes the held requests of one scope with one read of the database per change, not one each", async () => {
      const etag = await currentEtag();
      const baseline = listeners();
      const tagReads = vi.spyOn(Resolver.prototype, "environmentTag");
      try {
        const held = Array.from({ length: 4 }, () => get("?wait=20", { "If-None-Match": etag }));
        await until(() => listeners() === baseline + 4, "four held requests");
        const readsBeforeChange = tagReads.mock.calls.length;
        await rotate();
        const answers = await Promise.all(held);
        expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
        expect(new Set(answers.map((r) => r.headers.get("etag"))).size).toBe(1);
        expect(tagReads.mock.calls.length - readsBeforeChange).toBe(1);
      } finally {
        tagReads.mockRestore();
      }
    });

    it("holds at most 4 waits per token (429 with Retry-After beyond), and a client going away removes its listener", async () => {
      const baseline = listeners();
      const etag = await currentEtag();
      const clients = Array.from({ length: 4 }, () => new AbortController());
      const held = clients.map((c) => get("?wait=30", { "If-None-Match": etag }, c.signal).catch((e: Error) => e));
      await until(() => listeners() === baseline + 4, "four held requests");

      const refused = await get("?wait=30", { "If-None-Match": etag });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(((await refused.json()) as { code: string }).code).toBe("rate_limited");
      // The bound is the token's: another resolver token may still wait, and a request that need not wait is answered.
      const other = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.platform).send({ role: "resolver", name: "second" });
      const otherClient = new AbortController();
      const otherWait = get("?wait=30", { "If-None-Match": etag }, otherClient.signal, other.body.token).catch((e: Error) => e);
      await until(() => listeners() === baseline + 5, "the other token's wait");
      expect((await get("?wait=30", { "If-None-Match": '"env-stale"' })).status).toBe(200);

      for (const c of [...clients, otherClient]) c.abort();
      await Promise.all([...held, otherWait]);
      await until(() => listeners() === baseline, "the listeners to go");
      // The slots went with them.
      const again = new AbortController();
      const waiting = get("?wait=30", { "If-None-Match": etag }, again.signal).catch((e: Error) => e);
      await until(() => listeners() === baseline + 1, "a new wait");
      again.abort();
      await waiting;
      await until(() => listeners() === baseline, "the last listener to go");
    });

    it.runIf(kind === "pg")("wakes on a change committed by another process, through its PostgreSQL notification", async () => {
      // Another process's connection: its commit reaches this instance only as a NOTIFY.
      const other = await openDb({ driver: "pg", url: t.testDb.url!, poolMax: 1 });
      try {
        const etag = await currentEtag();
        const baseline = listeners();
        const pending = get("?wait=20", { "If-None-Match": etag });
        await until(() => listeners() > baseline, "the wait");
        const committedAt = Date.now();
        await other.query("update credentials set version = version + 1 where id = $1", [openaiId]);
        const res = await pending;
        const latency = Date.now() - committedAt;
        console.info(`environment long-poll (${kind}): answered ${latency} ms after another process's commit`);
        expect(res.status).toBe(200);
        expect(res.headers.get("etag")).not.toBe(etag);
        expect(latency).toBeLessThan(1_000);
      } finally {
        await other.close();
      }
    });

    it("answers 401, without the new key, to a request held since before its token was revoked", async () => {
      const created = await t.api.post(`/v1/organizations/${t.orgId}/tokens`).set(t.platform).send({ role: "resolver", name: "leaked" });
      const etag = await currentEtag();
      const baseline = listeners();
      const pending = get("?wait=20", { "If-None-Match": etag }, undefined, created.body.token);
      await until(() => listeners() > baseline, "the wait");
      expect((await t.api.delete(`/v1/organizations/${t.orgId}/tokens/${created.body.id}`).set(t.admin)).status).toBe(204);
      await rotate();
      const res = await pending;
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain("WaitRotation");
    });

    it("audits a woken answer as an environment read, once", async () => {
      const count = async () => {
        const res = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "environment.resolve", limit: 200 }).set(t.admin);
        return (res.body.data as unknown[]).length;
      };
      const etag = await currentEtag();
      await delay(300);
      const before = await count();
      const pending = get("?wait=20", { "If-None-Match": etag });
      await delay(200);
      await rotate();
      expect((await pending).status).toBe(200);
      let after = before;
      for (let i = 0; i < 50 && after === before; i++) {
        await delay(50);
        after = await count();
      }
      expect(after).toBe(before + 1);
      expect(JSON.stringify(t.logs)).not.toContain("WaitRotation");
    });
  });
}
