/**
 * Verify under the default outbound policy (KEYPLANE_OUTBOUND_ALLOW_PRIVATE unset): an admin who
 * points api_base at the service's own loopback interface — by IP literal in any spelling, or by a
 * name that resolves there — gets `status: "refused"`, no connection is made, and the audit event
 * names the destination. A fake provider listens on 127.0.0.1 and counts connections, which is how
 * "nothing was sent" is observed; no test here connects to any other address.
 */
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { parseResponse } from "../../service/http/validation.js";
import { dumpAllTables, testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";
import { useFakeProvider } from "../support/fake-provider.js";

const KEY = "sk-proj-OutboundPolicy000000000000000000000c001";

for (const kind of testDatabases()) {
  describe(`outbound policy of verify (${kind})`, () => {
    const t = useApiFixture(kind);
    const fake = useFakeProvider((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"data":[]}'));
    const connections: Socket[] = [];
    fake.server.on("connection", (socket) => connections.push(socket));
    const responses: string[] = [];

    async function verifyAt(name: string, apiBase: string) {
      const created = await t.api
        .post(`/v1/organizations/${t.orgId}/credentials`)
        .set(t.admin)
        .send({ provider: "openai", name, api_key: KEY, api_base: apiBase });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const res = await t.api.post(`/v1/organizations/${t.orgId}/credentials/${created.body.id}/verify`).set(t.admin);
      responses.push(JSON.stringify(res.body));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      parseResponse("verifyCredential", 200, res.body);
      const stored = await t.api.get(`/v1/organizations/${t.orgId}/credentials/${created.body.id}`).set(t.admin);
      return { id: created.body.id as string, result: res.body, credential: stored.body };
    }

    it("verify refuses a loopback api_base unless KEYPLANE_OUTBOUND_ALLOW_PRIVATE=1, without connecting", async () => {
      const spellings = [
        `http://127.0.0.1:${fake.port}/v1`,
        `http://localhost:${fake.port}/v1`, // a name: refused on the address it resolves to
        `http://[::ffff:127.0.0.1]:${fake.port}/v1`, // IPv4-mapped IPv6
        `http://2130706433:${fake.port}/v1`, // 127.0.0.1 as one number
        `http://127.1:${fake.port}/v1`,
        `http://0x7f.0.0.1:${fake.port}/v1`,
      ];
      for (const [i, apiBase] of spellings.entries()) {
        const { result, credential } = await verifyAt(`loopback-${i}`, apiBase);
        expect(result, apiBase).toMatchObject({ status: "refused", http_status: null, model_count: null });
        expect(result.detail).toMatch(/(is|resolves to) a loopback address/);
        expect(result.detail).toContain("KEYPLANE_OUTBOUND_ALLOW_PRIVATE");
        expect(result.detail).toContain("Nothing was sent");
        expect(credential.last_verify_status).toBe("refused");
      }
      expect(connections).toHaveLength(0);
    });

    it("refuses metadata and unspecified addresses by IP literal", async () => {
      for (const [i, apiBase] of [
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:80/",
        "http://[::]/",
        "http://[::ffff:a9fe:a9fe]/",
      ].entries()) {
        const { result } = await verifyAt(`metadata-${i}`, apiBase);
        expect(result, apiBase).toMatchObject({ status: "refused", http_status: null });
      }
    });

    it("audits a refused verify as denied, naming the destination host and not the key", async () => {
      const audit = await t.api.get(`/v1/organizations/${t.orgId}/audit-events`).query({ action: "credential.verify", limit: 50 }).set(t.admin);
      const refused = audit.body.data.filter((e: { details: { status: string } }) => e.details.status === "refused");
      expect(refused.length).toBeGreaterThanOrEqual(11);
      const loopback = refused.find((e: { details: { destination_host: string } }) => e.details.destination_host === `127.0.0.1:${fake.port}`);
      expect(loopback).toMatchObject({ outcome: "denied", details: { status: "refused", refused_because: "is a loopback address" } });
      expect(refused.some((e: { details: { destination_host: string } }) => e.details.destination_host === `localhost:${fake.port}`)).toBe(true);
      const everything = [await dumpAllTables(t.runtime.db), t.logs.join("\n"), responses.join("\n"), JSON.stringify(audit.body)].join("\n");
      expect(everything).not.toContain(KEY);
    });
  });
}
