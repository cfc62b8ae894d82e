// If-Match on the versioned resources (RFC 9110 §13.1.1): `*`, a list of ETags, the strong
// comparison, and a 400 only for a value that is not an ETag at all.
import { describe, expect, it } from "vitest";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

for (const kind of testDatabases()) {
  describe(`If-Match (${kind})`, () => {
    const t = useApiFixture(kind);
    const projects = () => `/v1/organizations/${t.orgId}/projects`;

    async function freshProject(name: string): Promise<string> {
      const res = await t.api.post(projects()).set(t.admin).send({ name });
      expect(res.status).toBe(201);
      expect(res.headers.etag).toBe('"v1"');
      return res.body.id;
    }
    const patch = (id: string, ifMatch: string, description: string) =>
      t.api.patch(`${projects()}/${id}`).set(t.admin).set("If-Match", ifMatch).send({ description });
    const descriptionOf = async (id: string) => (await t.api.get(`${projects()}/${id}`).set(t.admin)).body.description;

    it("a list of ETags matches when any listed strong tag is current", async () => {
      const id = await freshProject("list");
      const ok = await patch(id, '"v7", "v1"', "listed");
      expect(ok.status).toBe(200);
      expect(ok.headers.etag).toBe('"v2"');
      const stale = await patch(id, '"v1", "v3"', "stale");
      expect(stale.status).toBe(412);
      expect(stale.headers.etag).toBe('"v2"');
      expect(await descriptionOf(id)).toBe("listed");
    });

    it("a weak ETag never satisfies If-Match (strong comparison): 412, nothing changes", async () => {
      const id = await freshProject("weak");
      const res = await patch(id, 'W/"v1"', "weak");
      expect(res.status).toBe(412);
      expect(res.body.code).toBe("precondition_failed");
      expect(res.headers.etag).toBe('"v1"');
      expect(await descriptionOf(id)).toBeNull();
    });

    it("If-Match: * matches whatever the current version", async () => {
      const id = await freshProject("star");
      expect((await patch(id, '"v1"', "first")).status).toBe(200);
      const res = await patch(id, "*", "second");
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('"v3"');
    });

    it("a well-formed ETag that names no version is 412, not 400", async () => {
      const id = await freshProject("foreign-tag");
      for (const tag of ['"abc"', '"v99999999999"']) {
        const res = await patch(id, tag, "foreign");
        expect(res.status, tag).toBe(412);
      }
      expect(await descriptionOf(id)).toBeNull();
    });

    it("an If-Match that is not an ETag is a 400 naming header.if-match, and changes nothing", async () => {
      const id = await freshProject("malformed");
      for (const value of ["v1", '"v1', '"v1" "v2"', '*, "v1"']) {
        const res = await patch(id, value, "malformed");
        expect(res.status, value).toBe(400);
        expect(res.body.errors, value).toEqual([expect.objectContaining({ path: "header.if-match" })]);
        expect(JSON.stringify(res.body)).not.toContain(value);
      }
      expect(await descriptionOf(id)).toBeNull();
    });

    it("credentials honour the same rules (list on PATCH, weak tag on DELETE)", async () => {
      const base = `/v1/organizations/${t.orgId}/credentials`;
      const created = await t.api.post(base).set(t.admin).send({ provider: "openai", name: "if-match", api_key: "sk-ifmatch0000000000000000000000000000" });
      expect(created.status).toBe(201);
      const id = created.body.id;
      const listed = await t.api.patch(`${base}/${id}`).set(t.admin).set("If-Match", '"v9", "v1"').send({ description: "listed" });
      expect(listed.status).toBe(200);
      const weak = await t.api.delete(`${base}/${id}?force=true`).set(t.admin).set("If-Match", 'W/"v2"');
      expect(weak.status).toBe(412);
      expect((await t.api.get(`${base}/${id}`).set(t.admin)).status).toBe(200);
      expect((await t.api.delete(`${base}/${id}?force=true`).set(t.admin).set("If-Match", '"v2"')).status).toBe(204);
    });
  });
}
