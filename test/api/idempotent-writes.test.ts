/**
 * Idempotency-Key on every create and update: a retry whose answer was lost gets the first
 * attempt's answer (status, body, ETag) — even though its If-Match is stale by then — and the
 * write happens once; the same key with another request is a 422; a failed write is not
 * remembered. And is_default: setting it moves the default of the scope in one transaction.
 */
import { describe, expect, it } from "vitest";
import type { Response } from "supertest";
import { testDatabases } from "../support/db.js";
import { bearer } from "../support/runtime.js";
import { useApiFixture } from "../support/api-fixture.js";

const KEY = (n: number) => `sk-proj-Idempotent${String(n).repeat(40).slice(0, 40)}`;

/** What a client compares between the first answer and its replay. */
const answer = (res: Response) => ({ status: res.status, etag: res.headers.etag, body: res.body as unknown });

for (const kind of testDatabases()) {
  describe(`Idempotency-Key on writes (${kind})`, () => {
    const t = useApiFixture(kind);
    const org = () => `/v1/organizations/${t.orgId}`;
    let serial = 0;

    async function credential(extra: Record<string, unknown> = {}) {
      const res = await t.api
        .post(`${org()}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name: `idem-${++serial}`, api_key: KEY(serial % 10), ...extra });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return { id: res.body.id, etag: res.headers.etag };
    }

    async function auditCount(targetId: string, action: string): Promise<number> {
      const res = await t.api.get(`${org()}/audit-events`).query({ target_id: targetId, action, limit: 200 }).set(t.admin);
      expect(res.status).toBe(200);
      return res.body.data.length;
    }

    /**
     * Each write of the contract that takes a key, as a client sends it: `send(key, ifMatch)`
     * makes the request; `effect` reads what must have happened exactly once.
     */
    const writes: {
      name: string;
      setup: () => Promise<{ path: string; etag?: string; targetId?: string }>;
      send: (path: string, key: string, ifMatch: string | undefined) => Promise<Response>;
      action: string;
      status: number;
      /** Without the key, what the stale If-Match gets: 412, or 200 where the change is already there (RFC 9110 §13.1.1). */
      staleWithoutKey?: 412 | 200;
      effect?: (path: string) => Promise<void>;
    }[] = [
      {
        name: "PATCH credential",
        setup: async () => {
          const c = await credential();
          return { path: `${org()}/credentials/${c.id}`, etag: c.etag, targetId: c.id };
        },
        send: (path, key, ifMatch) => t.api.patch(path).set(t.admin).set("Idempotency-Key", key).set(ifMatchHeader(ifMatch)).send({ description: "once" }),
        action: "credential.update",
        status: 200,
        staleWithoutKey: 200,
      },
      {
        name: "rotate",
        setup: async () => {
          const c = await credential();
          return { path: `${org()}/credentials/${c.id}`, etag: c.etag, targetId: c.id };
        },
        send: (path, key, ifMatch) =>
          t.api
            .post(`${path}/rotate`)
            .set(t.admin)
            .set("Idempotency-Key", key)
            .set(ifMatchHeader(ifMatch))
            .send({ api_key: KEY(7) }),
        action: "credential.rotate",
        status: 200,
        effect: async (path) => {
          const versions = await t.api.get(`${path}/versions`).set(t.admin);
          expect(versions.body.data.map((v: { key_version: number }) => v.key_version)).toEqual([2, 1]);
        },
      },
      {
        name: "deactivate",
        setup: async () => {
          const c = await credential();
          return { path: `${org()}/credentials/${c.id}`, etag: c.etag, targetId: c.id };
        },
        send: (path, key, ifMatch) => t.api.post(`${path}/deactivate`).set(t.admin).set("Idempotency-Key", key).set(ifMatchHeader(ifMatch)),
        action: "credential.deactivate",
        status: 200,
        staleWithoutKey: 200,
      },
      {
        name: "activate",
        setup: async () => {
          const c = await credential({ active: false });
          return { path: `${org()}/credentials/${c.id}`, etag: c.etag, targetId: c.id };
        },
        send: (path, key, ifMatch) => t.api.post(`${path}/activate`).set(t.admin).set("Idempotency-Key", key).set(ifMatchHeader(ifMatch)),
        action: "credential.activate",
        status: 200,
        staleWithoutKey: 200,
      },
      {
        name: "create project",
        setup: async () => ({ path: `${org()}/projects` }),
        send: (path, key) =>
          t.api
            .post(path)
            .set(t.admin)
            .set("Idempotency-Key", key)
            .send({ name: `idem-project-${key}` }),
        action: "project.create",
        status: 201,
      },
      {
        name: "PATCH project",
        setup: async () => {
          const res = await t.api
            .post(`${org()}/projects`)
            .set(t.admin)
            .send({ name: `patched-${++serial}` });
          return { path: `${org()}/projects/${res.body.id}`, etag: res.headers.etag, targetId: res.body.id };
        },
        send: (path, key, ifMatch) => t.api.patch(path).set(t.admin).set("Idempotency-Key", key).set(ifMatchHeader(ifMatch)).send({ description: "once" }),
        action: "project.update",
        status: 200,
      },
      {
        name: "create model alias",
        setup: async () => ({ path: `${org()}/model-aliases` }),
        send: (path, key) =>
          t.api
            .post(path)
            .set(t.admin)
            .set("Idempotency-Key", key)
            .send({ name: `idem-${key.toLowerCase()}`, provider: "anthropic", model: "claude-sonnet-4-5" }),
        action: "model_alias.create",
        status: 201,
      },
      {
        name: "PATCH model alias",
        setup: async () => {
          const res = await t.api
            .post(`${org()}/model-aliases`)
            .set(t.admin)
            .send({ name: `patched-${++serial}`, provider: "openai", model: "gpt-4o" });
          return { path: `${org()}/model-aliases/${res.body.id}`, etag: res.headers.etag, targetId: res.body.id };
        },
        send: (path, key, ifMatch) => t.api.patch(path).set(t.admin).set("Idempotency-Key", key).set(ifMatchHeader(ifMatch)).send({ model: "gpt-4.1" }),
        action: "model_alias.update",
        status: 200,
      },
      {
        name: "create identity binding",
        setup: async () => ({ path: `${org()}/identity-bindings` }),
        send: (path, key) =>
          t.api
            .post(path)
            .set(t.admin)
            .set("Idempotency-Key", key)
            .send({ name: `idem-${key}`, issuer: "https://issuer.example", audience: "keyplane", subject: "repo:acme/*" }),
        action: "identity_binding.create",
        status: 201,
      },
      {
        name: "PATCH identity binding",
        setup: async () => {
          const res = await t.api
            .post(`${org()}/identity-bindings`)
            .set(t.admin)
            .send({ name: `patched-${++serial}`, issuer: "https://issuer.example", audience: "keyplane", subject: "*" });
          return { path: `${org()}/identity-bindings/${res.body.id}`, etag: res.headers.etag, targetId: res.body.id };
        },
        send: (path, key, ifMatch) => t.api.patch(path).set(t.admin).set("Idempotency-Key", key).set(ifMatchHeader(ifMatch)).send({ ttl_seconds: 600 }),
        action: "identity_binding.update",
        status: 200,
      },
    ];

    for (const write of writes) {
      it(`${write.name}: a retry with the key and the now stale If-Match replays the first answer; the write happens once`, async () => {
        const { path, etag, targetId } = await write.setup();
        const key = `retry-${write.name.replace(/\W+/g, "-")}`;
        const first = await write.send(path, key, etag);
        expect(first.status, JSON.stringify(first.body)).toBe(write.status);
        const retry = await write.send(path, key, etag);
        expect(answer(retry)).toEqual(answer(first));
        if (write.status === 201) expect(retry.headers.location).toBe(first.headers.location);
        const id = targetId ?? (first.body.id as string);
        expect(await auditCount(id, write.action)).toBe(1);
        await write.effect?.(path);
        // Another key is another write: the old If-Match meets a 412, or the change already there.
        if (etag) {
          const other = await write.send(path, `${key}-other`, etag);
          expect(other.status).toBe(write.staleWithoutKey ?? 412);
          if (other.status === 200) expect(other.headers.etag).not.toBe(etag);
          expect(await auditCount(id, write.action)).toBe(1);
        }
      });
    }

    it("replays the first answer although the resource changed again since", async () => {
      const c = await credential();
      const path = `${org()}/credentials/${c.id}`;
      const first = await t.api.patch(path).set(t.admin).set("If-Match", c.etag).set("Idempotency-Key", "lost-answer-1").send({ owner: "a" });
      expect(first.headers.etag).toBe('"v2"');
      const other = await t.api.patch(path).set(t.admin).set("If-Match", '"v2"').send({ owner: "b" });
      expect(other.headers.etag).toBe('"v3"');
      const retry = await t.api.patch(path).set(t.admin).set("If-Match", c.etag).set("Idempotency-Key", "lost-answer-1").send({ owner: "a" });
      expect(answer(retry)).toEqual(answer(first));
      expect((await t.api.get(path).set(t.admin)).body).toMatchObject({ owner: "b", version: 3 });
    });

    it("refuses the same key with another body, operation, resource, query or token (422, nothing written)", async () => {
      const a = await credential();
      const b = await credential();
      const path = (id: string) => `${org()}/credentials/${id}`;
      const ok = await t.api.patch(path(a.id)).set(t.admin).set("Idempotency-Key", "reused-1").send({ owner: "x" });
      expect(ok.status).toBe(200);
      const otherAdmin = await t.api.post(`${org()}/tokens`).set(t.admin).send({ role: "admin", name: "second admin" });
      const refused = [
        await t.api.patch(path(a.id)).set(t.admin).set("Idempotency-Key", "reused-1").send({ owner: "y" }),
        await t.api.patch(path(b.id)).set(t.admin).set("Idempotency-Key", "reused-1").send({ owner: "x" }),
        await t.api
          .post(`${path(a.id)}/deactivate`)
          .set(t.admin)
          .set("Idempotency-Key", "reused-1"),
        await t.api.patch(path(a.id)).set(bearer(otherAdmin.body.token)).set("Idempotency-Key", "reused-1").send({ owner: "x" }),
      ];
      for (const res of refused) {
        expect(res.status).toBe(422);
        expect(res.body.errors[0].path).toBe("header.idempotency-key");
      }
      const deactivated = await t.api
        .post(`${path(b.id)}/deactivate`)
        .set(t.admin)
        .set("Idempotency-Key", "reused-2");
      expect(deactivated.status).toBe(200);
      const forced = await t.api
        .post(`${path(b.id)}/deactivate`)
        .query({ force: true })
        .set(t.admin)
        .set("Idempotency-Key", "reused-2");
      expect(forced.status).toBe(422);
      expect((await t.api.get(path(a.id)).set(t.admin)).body).toMatchObject({ owner: "x", active: true, version: 2 });
      expect((await t.api.get(path(b.id)).set(t.admin)).body).toMatchObject({ owner: null, version: 2 });
    });

    it("remembers no failure: a write refused with 412 runs again when retried with the same key", async () => {
      const c = await credential();
      const path = `${org()}/credentials/${c.id}`;
      const refused = await t.api
        .post(`${path}/rotate`)
        .set(t.admin)
        .set("If-Match", '"v9"')
        .set("Idempotency-Key", "after-412")
        .send({ api_key: KEY(3) });
      expect(refused.status).toBe(412);
      const rotated = await t.api
        .post(`${path}/rotate`)
        .set(t.admin)
        .set("If-Match", c.etag)
        .set("Idempotency-Key", "after-412")
        .send({ api_key: KEY(3) });
      expect(rotated.status).toBe(200);
      expect(rotated.body.key_version).toBe(2);
    });

    it("keeps no secret in the stored answer or the error of a reused key", async () => {
      const c = await credential();
      const path = `${org()}/credentials/${c.id}`;
      await t.api
        .post(`${path}/rotate`)
        .set(t.admin)
        .set("Idempotency-Key", "secret-check")
        .send({ api_key: KEY(5) });
      const reused = await t.api
        .post(`${path}/rotate`)
        .set(t.admin)
        .set("Idempotency-Key", "secret-check")
        .send({ api_key: KEY(6) });
      expect(reused.status).toBe(422);
      expect(JSON.stringify(reused.body)).not.toContain(KEY(6));
      const { rows } = await t.runtime.db.query<{ request_hash: string; response: unknown }>(
        "select request_hash, response from idempotency_keys where organization_id = $1 and idem_key = 'secret-check'",
        [t.orgId],
      );
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows[0])).not.toContain(KEY(5));
      expect(JSON.stringify(rows[0])).not.toContain(KEY(5).slice(-12));
    });

    it("turns parallel rotations with one key into one new key version", async () => {
      const c = await credential();
      const path = `${org()}/credentials/${c.id}`;
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          t.api
            .post(`${path}/rotate`)
            .set(t.admin)
            .set("If-Match", c.etag)
            .set("Idempotency-Key", "parallel-rotate")
            .send({ api_key: KEY(4) }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
      expect(new Set(results.map((r) => r.headers.etag))).toEqual(new Set(['"v2"']));
      expect((await t.api.get(path).set(t.admin)).body.key_version).toBe(2);
    });
  });

  describe(`is_default moves the default (${kind})`, () => {
    const t = useApiFixture(kind);
    const base = () => `/v1/organizations/${t.orgId}/credentials`;

    const create = async (name: string, extra: Record<string, unknown> = {}) => {
      const res = await t.api
        .post(base())
        .set(t.admin)
        .send({ provider: "anthropic", name, api_key: `sk-ant-api03-Default${name.padEnd(30, "0")}`, ...extra });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; version: number; is_default: boolean };
    };
    const get = async (id: string) => (await t.api.get(`${base()}/${id}`).set(t.admin)).body as { is_default: boolean; version: number };

    it("on create and on PATCH: the previous default of the same scope stops being it, with its own version and audit event", async () => {
      const a = await create("a", { is_default: true });
      const b = await create("b", { is_default: true });
      expect(b.is_default).toBe(true);
      expect(await get(a.id)).toMatchObject({ is_default: false, version: 2 });
      const moved = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ target_id: a.id, action: "credential.update" }).set(t.admin);
      expect(moved.body.data).toHaveLength(1);
      expect(moved.body.data[0].details).toMatchObject({ changed_fields: ["is_default"], default_moved_to: b.id });

      const back = await t.api.patch(`${base()}/${a.id}`).set(t.admin).set("If-Match", '"v2"').send({ is_default: true });
      expect(back.status).toBe(200);
      expect(back.body.is_default).toBe(true);
      expect(await get(b.id)).toMatchObject({ is_default: false, version: 2 });
    });

    it("leaves other scopes alone (another environment, another project, another provider)", async () => {
      const project = await t.api.post(`/v1/organizations/${t.orgId}/projects`).set(t.admin).send({ name: "scoped" });
      const staging = await create("staging", { is_default: true, environment: "staging" });
      const inProject = await create("in-project", { is_default: true, project_id: project.body.id });
      const prod = await create("prod-default", { is_default: true });
      expect(await get(staging.id)).toMatchObject({ is_default: true, version: 1 });
      expect(await get(inProject.id)).toMatchObject({ is_default: true, version: 1 });
      expect(prod.is_default).toBe(true);
    });

    it("a stale If-Match succeeds when the change is already there (the default moved away): RFC 9110 §13.1.1", async () => {
      const a = await create("stale-a", { environment: "stale", is_default: true });
      await create("stale-b", { environment: "stale", is_default: true });
      const unset = await t.api.patch(`${base()}/${a.id}`).set(t.admin).set("If-Match", '"v1"').send({ is_default: false });
      expect(unset.status).toBe(200);
      expect(unset.headers.etag).toBe('"v2"');
      expect(unset.body).toMatchObject({ is_default: false, version: 2 });
      const more = await t.api.patch(`${base()}/${a.id}`).set(t.admin).set("If-Match", '"v1"').send({ is_default: false, owner: "someone" });
      expect(more.status).toBe(412);
      const deactivated = await t.api.post(`${base()}/${a.id}/deactivate`).set(t.admin).set("If-Match", '"v2"');
      expect(deactivated.headers.etag).toBe('"v3"');
      expect((await t.api.post(`${base()}/${a.id}/deactivate`).set(t.admin).set("If-Match", '"v2"')).status).toBe(200);
      expect((await t.api.post(`${base()}/${a.id}/activate`).set(t.admin).set("If-Match", '"v2"')).status).toBe(412);
      expect(await get(a.id)).toMatchObject({ is_default: false, version: 3 });
    });

    it("in either order: eight rounds of two concurrent updates that swap the default all succeed", async () => {
      const x = await create("x", { environment: "flip", is_default: true });
      const y = await create("y", { environment: "flip" });
      let defaultIsX = true;
      for (let round = 0; round < 8; round++) {
        const [from, to] = defaultIsX ? [x, y] : [y, x];
        const results = await Promise.all(
          (round % 2 === 0 ? [to, from] : [from, to]).map((c) =>
            t.api
              .patch(`${base()}/${c.id}`)
              .set(t.admin)
              .send({ is_default: c === to }),
          ),
        );
        expect(results.map((r) => r.status)).toEqual([200, 200]);
        defaultIsX = !defaultIsX;
        expect((await get(x.id)).is_default).toBe(defaultIsX);
        expect((await get(y.id)).is_default).toBe(!defaultIsX);
      }
    });
  });
}

function ifMatchHeader(etag: string | undefined): Record<string, string> {
  return etag ? { "If-Match": etag } : {};
}
