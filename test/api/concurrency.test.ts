import { beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

for (const kind of testDatabases()) {
  describe(`optimistic concurrency (${kind})`, () => {
    const t = useApiFixture(kind);
    let base: string;

    beforeAll(async () => {
      base = `/v1/organizations/${t.orgId}/credentials`;
    }, 60_000);

    it("lets exactly one of many PATCHes with the same If-Match win; the rest get 412", async () => {
      const created = await t.api.post(base).set(t.admin).send({ provider: "openai", name: "race", api_key: "sk-race000000000000000000000000000000" });
      const etag = created.headers.etag;
      const attempts = 12;
      const results = await Promise.all(
        Array.from({ length: attempts }, (_, i) =>
          t.api
            .patch(`${base}/${created.body.id}`)
            .set(t.admin)
            .set("If-Match", etag)
            .send({ description: `writer ${i}` }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 412)).toHaveLength(attempts - 1);
      const winner = results.find((r) => r.status === 200)!;
      const now = await t.api.get(`${base}/${created.body.id}`).set(t.admin);
      expect(now.body.description).toBe(winner.body.description);
      expect(now.body.version).toBe(2);
    });

    it("serializes parallel rotations: versions increase by one, none lost", async () => {
      const created = await t.api.post(base).set(t.admin).send({ provider: "openai", name: "rot", api_key: "sk-rot0000000000000000000000000000000" });
      const n = 8;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          t.api
            .post(`${base}/${created.body.id}/rotate`)
            .set(t.admin)
            .send({ api_key: `sk-rot${String(i).repeat(30)}` }),
        ),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      const versions = results.map((r) => r.body.key_version).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: n }, (_, i) => i + 2));
    });

    it("turns parallel creates with the same Idempotency-Key into one credential", async () => {
      const body = { provider: "anthropic", name: "idem", api_key: "sk-ant-idem000000000000000000000000000000" };
      const results = await Promise.all(Array.from({ length: 10 }, () => t.api.post(base).set(t.admin).set("Idempotency-Key", "parallel-create-1").send(body)));
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(201));
      expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
      const list = await t.api.get(base).query({ provider: "anthropic" }).set(t.admin);
      expect(list.body.data.filter((c: { name: string }) => c.name === "idem")).toHaveLength(1);
    });
  });
}
