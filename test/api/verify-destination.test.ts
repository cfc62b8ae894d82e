/**
 * verify sends a secret only to the destination it was stored for. The attack: an admin who never
 * saw a colleague's key PATCHes its api_base (or azure_openai's settings.endpoint) to a host they
 * control and calls verify. Here two fake providers listen on 127.0.0.1 — the real one and the
 * attacker's — and the attacker's must never see the key. Changing the destination takes the
 * secret again: rotate with the new api_base/settings, applied with the new version in one step.
 */
import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { dumpAllTables, testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";
import { useFakeProvider, type FakeProvider } from "../support/fake-provider.js";

const KEYS = {
  victim: "sk-proj-DestinationVictim0000000000000000d001",
  rotated: "sk-proj-DestinationRotated000000000000000d002",
  azure: "azureDestinationKey0000000000000000000d003",
  grace: "sk-proj-DestinationGrace00000000000000000d004",
  other: "sk-proj-DestinationOther00000000000000000d005",
};

interface Listener extends FakeProvider {
  seen: IncomingHttpHeaders[];
}

/** A fake provider that records the headers of every request it gets. */
function useListener(): Listener {
  const seen: IncomingHttpHeaders[] = [];
  const provider = useFakeProvider((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { "content-type": "application/json" }).end('{"data":[{"id":"m"}]}');
  });
  return Object.assign(provider, { seen });
}

for (const kind of testDatabases()) {
  describe(`verify's destination (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_OUTBOUND_ALLOW_PRIVATE: "1" });
    // Both fake hosts are on loopback: the runtime allows it, so only the destination rule is under test.
    const provider = useListener();
    const attacker = useListener();
    const responses: string[] = [];
    const path = (id: string, action = "") => `/v1/organizations/${t.orgId}/credentials/${id}${action}`;

    const record = <T extends { body: unknown }>(res: T) => {
      responses.push(JSON.stringify(res.body));
      return res;
    };
    const create = async (body: Record<string, unknown>) => {
      const res = record(await t.api.post(`/v1/organizations/${t.orgId}/credentials`).set(t.admin).send(body));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; version: number };
    };

    it("PATCH that changes api_base is refused with 422 naming body.api_base and saying to rotate; nothing changes", async () => {
      const { id } = await create({ provider: "openai", name: "victim", api_key: KEYS.victim, api_base: `${provider.base}/v1` });
      for (const api_base of [`${attacker.base}/v1`, null]) {
        const patched = record(await t.api.patch(path(id)).set(t.admin).send({ api_base, description: "harmless" }));
        expect(patched.status, JSON.stringify(patched.body)).toBe(422);
        expect(patched.body.code).toBe("secret_required");
        expect(patched.body.errors).toEqual([{ path: "body.api_base", message: expect.stringContaining("rotate") }]);
        expect(patched.body.detail).toContain("/rotate");
      }
      const stored = record(await t.api.get(path(id)).set(t.admin));
      expect(stored.body).toMatchObject({ api_base: `${provider.base}/v1`, description: null, version: 1 });

      const verified = record(await t.api.post(path(id, "/verify")).set(t.admin));
      expect(verified.body.status).toBe("ok");
      expect(provider.seen.at(-1)!.authorization).toBe(`Bearer ${KEYS.victim}`);
      expect(attacker.seen).toHaveLength(0);
    });

    it("PATCH that keeps api_base as it is, or changes other fields, still works", async () => {
      const { id } = await create({ provider: "openai", name: "same-base", api_key: KEYS.other, api_base: `${provider.base}/v1` });
      const patched = record(
        await t.api
          .patch(path(id))
          .set(t.admin)
          .send({ api_base: `${provider.base}/v1`, description: "kept", settings: { openai_project: "p" } }),
      );
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body).toMatchObject({ api_base: `${provider.base}/v1`, description: "kept", settings: { openai_project: "p" } });
    });

    it("PATCH of azure_openai settings.endpoint is refused with body.settings.endpoint; other settings change freely", async () => {
      const { id } = await create({
        provider: "azure_openai",
        name: "azure",
        api_key: KEYS.azure,
        settings: { endpoint: `${provider.base}/azure`, api_version: "2024-06-01" },
      });
      const moved = record(
        await t.api
          .patch(path(id))
          .set(t.admin)
          .send({ settings: { endpoint: `${attacker.base}/azure`, api_version: "2024-06-01" } }),
      );
      expect(moved.status).toBe(422);
      expect(moved.body.errors).toEqual([{ path: "body.settings.endpoint", message: expect.stringContaining("rotate") }]);
      // Dropping the endpoint would send the key to api_base instead: also a change of destination.
      const dropped = record(
        await t.api
          .patch(path(id))
          .set(t.admin)
          .send({ settings: { api_version: "2024-06-01" } }),
      );
      expect(dropped.status).toBe(422);
      const viaApiBase = record(await t.api.patch(path(id)).set(t.admin).send({ api_base: attacker.base }));
      expect(viaApiBase.status).toBe(422);
      const version = record(
        await t.api
          .patch(path(id))
          .set(t.admin)
          .send({ settings: { endpoint: `${provider.base}/azure`, api_version: "2025-01-01" } }),
      );
      expect(version.status, JSON.stringify(version.body)).toBe(200);

      const verified = record(await t.api.post(path(id, "/verify")).set(t.admin));
      expect(verified.body.status).toBe("ok");
      expect(attacker.seen).toHaveLength(0);
    });

    it("rotate with api_base moves key and destination together as one new version; verify then calls the new host", async () => {
      const { id } = await create({ provider: "openai", name: "moving", api_key: KEYS.victim, api_base: `${provider.base}/v1` });
      const rotated = record(
        await t.api
          .post(path(id, "/rotate"))
          .set(t.admin)
          .send({ api_key: KEYS.rotated, api_base: `${attacker.base}/v1` }),
      );
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect(rotated.body).toMatchObject({ api_base: `${attacker.base}/v1`, key_version: 2 });
      const versions = record(await t.api.get(path(id, "/versions")).set(t.admin));
      expect(versions.body.data.map((v: { key_version: number }) => v.key_version)).toEqual([2, 1]);

      const verified = record(await t.api.post(path(id, "/verify")).set(t.admin));
      expect(verified.body.status).toBe("ok");
      expect(attacker.seen.map((h) => h.authorization)).toEqual([`Bearer ${KEYS.rotated}`]);

      const audit = record(await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ target_id: id, limit: 10 }).set(t.admin));
      const rotate = audit.body.data.find((e: { action: string }) => e.action === "credential.rotate");
      expect(rotate.details).toMatchObject({ key_version: 2, changed_fields: ["api_base"] });
      const verify = audit.body.data.find((e: { action: string }) => e.action === "credential.verify");
      expect(verify.details).toMatchObject({ status: "ok", destination_host: new URL(attacker.base).host, key_version: 2 });
    });

    it("rotate with settings moves azure_openai's endpoint, and resolve returns the new settings", async () => {
      const { id } = await create({ provider: "azure_openai", name: "azure-moving", api_key: KEYS.azure, settings: { endpoint: `${provider.base}/azure` } });
      const rotated = record(
        await t.api
          .post(path(id, "/rotate"))
          .set(t.admin)
          .send({ api_key: KEYS.other, settings: { endpoint: `${attacker.base}/azure`, api_version: "2025-01-01" } }),
      );
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect(rotated.body).toMatchObject({ key_version: 2, settings: { endpoint: `${attacker.base}/azure`, api_version: "2025-01-01" } });
      const resolved = record(await t.api.post(`/v1/organizations/${t.orgId}/resolve`).set(t.resolver).send({ provider: "azure_openai" }));
      expect(resolved.body).toMatchObject({ secret: KEYS.other, settings: { endpoint: `${attacker.base}/azure` } });
    });

    it("a rotate that moves the destination keeps no grace for the old key, and a refused rotate changes nothing", async () => {
      const { id } = await create({ provider: "openai", name: "graceful", api_key: KEYS.grace, api_base: `${provider.base}/v1` });
      // The previous key would be resolvable as "previous" together with the new api_base.
      const withGrace = record(
        await t.api
          .post(path(id, "/rotate"))
          .set(t.admin)
          .send({ api_key: KEYS.rotated, api_base: `${attacker.base}/v1`, grace_seconds: 3600 }),
      );
      expect(withGrace.status).toBe(422);
      expect(withGrace.body.errors).toEqual([{ path: "body.grace_seconds", message: expect.stringContaining("api_base") }]);
      const badBase = record(
        await t.api
          .post(path(id, "/rotate"))
          .set(t.admin)
          .send({ api_key: KEYS.rotated, api_base: `${attacker.base}/v1?x=` }),
      );
      expect(badBase.status).toBe(422);
      expect(badBase.body.errors[0].path).toBe("body.api_base");
      const stored = record(await t.api.get(path(id)).set(t.admin));
      expect(stored.body).toMatchObject({ key_version: 1, api_base: `${provider.base}/v1`, version: 1 });
      // Grace is fine when the destination stays.
      const sameBase = record(
        await t.api
          .post(path(id, "/rotate"))
          .set(t.admin)
          .send({ api_key: KEYS.rotated, api_base: `${provider.base}/v1`, grace_seconds: 60 }),
      );
      expect(sameBase.status, JSON.stringify(sameBase.body)).toBe(200);
    });

    it("refuses an api_base with a query, fragment or user info at write time (422 with the field path)", async () => {
      const bad = [
        `${provider.base}/v1?`,
        `${provider.base}/v1?api-version=1`,
        `${provider.base}/v1#frag`,
        `http://user:pw@127.0.0.1:1/v1`,
        `http://user@127.0.0.1:1/v1`,
      ];
      for (const [i, api_base] of bad.entries()) {
        const res = record(
          await t.api
            .post(`/v1/organizations/${t.orgId}/credentials`)
            .set(t.admin)
            .send({ provider: "openai", name: `bad-${i}`, api_key: KEYS.other, api_base }),
        );
        expect(res.status, api_base).toBe(422);
        expect(res.body.errors, api_base).toEqual([{ path: "body.api_base", message: expect.any(String) }]);
        expect(JSON.stringify(res.body)).not.toContain("pw@");
      }
      const azure = record(
        await t.api
          .post(`/v1/organizations/${t.orgId}/credentials`)
          .set(t.admin)
          .send({ provider: "azure_openai", name: "bad-endpoint", api_key: KEYS.azure, settings: { endpoint: `${provider.base}/?x` } }),
      );
      expect(azure.status).toBe(422);
      expect(azure.body.errors).toEqual([{ path: "body.settings.endpoint", message: expect.any(String) }]);
    });

    it("never puts a key in a response, log line or table outside its ciphertext", async () => {
      const everything = [await dumpAllTables(t.runtime.db), t.logs.join("\n"), responses.filter((r) => !r.includes('"secret"')).join("\n")].join("\n");
      for (const key of Object.values(KEYS)) expect(everything).not.toContain(key);
    });
  });
}
