/**
 * Every id-ordered list keeps the order its contract states, page after page: items are made in a
 * known sequence, read back in small pages, and the pages must concatenate to exactly all of them in
 * that order. An item added between two pages neither shifts nor repeats anything. A cursor is
 * only good for the list (and the order) that issued it: any other is a 422 at query.cursor.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createToken } from "../../service/tokens/token-service.js";
import { testDatabases } from "../support/db.js";
import { useApiFixture } from "../support/api-fixture.js";

type Auth = Record<string, string>;
interface Page {
  status: number;
  body: { data: { id: string }[]; next_cursor: string | null };
}

const fakeKey = () => `sk-proj-${randomBytes(30).toString("base64url")}`;
const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key), "utf8").toString("base64url");

for (const kind of testDatabases()) {
  describe(`list order and cursors (${kind})`, () => {
    const t = useApiFixture(kind, { KEYPLANE_ALLOW_INSECURE_ISSUERS: "1" });
    const org = (path: string) => `/v1/organizations/${t.orgId}/${path}`;

    async function page(path: string, auth: Auth, limit: number, cursor?: string, filters: Record<string, string> = {}): Promise<Page> {
      const res = (await t.api
        .get(path)
        .query({ ...filters, limit, ...(cursor ? { cursor } : {}) })
        .set(auth)) as Page;
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(limit);
      return res;
    }

    /** Every page's ids, in order; `between` runs after the first page. */
    async function readAll(path: string, auth: Auth, limit: number, between?: () => Promise<unknown>, filters: Record<string, string> = {}) {
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const res = await page(path, auth, limit, cursor, filters);
        pages.push(res.body.data.map((item) => item.id));
        cursor = res.body.next_cursor ?? undefined;
        if (pages.length === 1) await between?.();
      } while (cursor);
      return pages;
    }

    /** Makes `n` items one after another, returning their ids in the order they were made. */
    async function made(n: number, create: (i: number) => Promise<{ status: number; body: { id: string } }>) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const res = await create(i);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        ids.push(res.body.id);
      }
      return ids;
    }

    const credential = (name: string) => t.api.post(org("credentials")).set(t.admin).send({ provider: "openai", name, api_key: fakeKey() });
    const alias = (name: string) => t.api.post(org("model-aliases")).set(t.admin).send({ name, provider: "openai", model: "gpt-5" });
    const binding = (name: string) =>
      t.api
        .post(org("identity-bindings"))
        .set(t.admin)
        .send({ name, issuer: "http://issuer.example", jwks_uri: "http://issuer.example/jwks", audience: "keyplane", subject: `repo:${name}` });

    it("lists credentials newest first across pages; one added after the first page is not shown and shifts nothing", async () => {
      const ids = await made(7, (i) => credential(`order-${i}`));
      let late = "";
      const pages = await readAll(org("credentials"), t.member, 3, async () => (late = (await credential("late")).body.id));
      expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
      expect(pages.flat()).toEqual([...ids].reverse());
      // The next read starts with it.
      expect((await page(org("credentials"), t.member, 1)).body.data[0].id).toBe(late);
      // Filters keep the order.
      expect((await readAll(org("credentials"), t.member, 2, undefined, { provider: "openai", active: "true" })).flat()).toEqual([late, ...[...ids].reverse()]);
    });

    it("lists model aliases newest first across pages", async () => {
      const ids = await made(5, (i) => alias(`order-${i}`));
      let late = "";
      const pages = await readAll(org("model-aliases"), t.member, 2, async () => (late = (await alias("late")).body.id));
      expect(pages.flat()).toEqual([...ids].reverse());
      expect((await page(org("model-aliases"), t.member, 1)).body.data[0].id).toBe(late);
    });

    it("lists an organization's tokens newest first across pages", async () => {
      // A fresh organization: every token it has is made here, by the platform admin.
      const created = await t.api
        .post("/v1/organizations")
        .set(t.platform)
        .send({ name: "Token order", slug: `tokens-${randomBytes(3).toString("hex")}` });
      const tokens = `/v1/organizations/${created.body.id}/tokens`;
      const ids = await made(5, (i) =>
        t.api
          .post(tokens)
          .set(t.platform)
          .send({ role: i === 0 ? "admin" : "member", name: `order-${i}` }),
      );
      let late = "";
      const pages = await readAll(
        tokens,
        t.platform,
        2,
        async () => (late = (await t.api.post(tokens).set(t.platform).send({ role: "member", name: "late" })).body.id),
      );
      expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
      expect(pages.flat()).toEqual([...ids].reverse());
      expect((await page(tokens, t.platform, 1)).body.data[0].id).toBe(late);
    });

    it("lists identity bindings oldest first across pages; one added after the first page comes last", async () => {
      const ids = await made(5, (i) => binding(`order-${i}`));
      let late = "";
      const pages = await readAll(org("identity-bindings"), t.member, 2, async () => (late = (await binding("late")).body.id));
      expect(pages.flat()).toEqual([...ids, late]);
    });

    it("lists organizations and platform-admin tokens oldest first across pages", async () => {
      const before = (await readAll("/v1/organizations", t.platform, 200)).flat();
      const orgs = await made(4, (i) =>
        t.api
          .post("/v1/organizations")
          .set(t.platform)
          .send({ name: `Order ${i}`, slug: `order-${i}-${randomBytes(3).toString("hex")}` }),
      );
      expect((await readAll("/v1/organizations", t.platform, 2)).flat()).toEqual([...before, ...orgs]);

      const admins = (await readAll("/v1/tokens", t.platform, 200)).flat();
      const more: string[] = [];
      for (let i = 0; i < 3; i++) {
        const extra = await t.runtime.db.transaction((tx) =>
          createToken(tx, { organizationId: null, role: "platform_admin", name: `order-${i}` }, { tokenId: null, role: null }, "test"),
        );
        more.push(extra.record.id);
      }
      expect((await readAll("/v1/tokens", t.platform, 2)).flat()).toEqual([...admins, ...more]);
    });

    it("refuses a cursor of another list or of the other order with 422 at query.cursor", async () => {
      // Two of each, so that every list below has a next page (and a cursor) whatever ran before.
      await made(2, (i) => credential(`refused-${i}`));
      await made(2, (i) => alias(`refused-${i}`));
      await made(2, (i) => binding(`refused-${i}`));
      for (let i = 0; i < 2; i++) {
        await t.runtime.db.transaction((tx) =>
          createToken(tx, { organizationId: null, role: "platform_admin", name: `refused-${i}` }, { tokenId: null, role: null }, "test"),
        );
      }
      const credentials = (await page(org("credentials"), t.member, 1)).body;
      const aliases = (await page(org("model-aliases"), t.member, 1)).body;
      const bindings = (await page(org("identity-bindings"), t.member, 1)).body;
      const platformTokens = (await page("/v1/tokens", t.platform, 1)).body;
      const orgTokens = (await page(org("tokens"), t.admin, 1)).body;
      const [credentialId, aliasId] = [credentials.data[0].id, aliases.data[0].id];
      const refused: [string, Auth, string][] = [
        // What the credentials list issued before it was newest first: the id to continue after.
        [org("credentials"), t.member, cursorOf({ id: credentialId })],
        [org("credentials"), t.member, aliases.next_cursor!],
        [org("credentials"), t.member, cursorOf({ before: aliasId })],
        [org("model-aliases"), t.member, credentials.next_cursor!],
        [org("model-aliases"), t.member, cursorOf({ id: aliasId })],
        [org("identity-bindings"), t.member, cursorOf({ before: bindings.data[0].id })],
        [org("identity-bindings"), t.member, cursorOf({ id: credentialId })],
        [org("tokens"), t.admin, platformTokens.next_cursor!],
        ["/v1/tokens", t.platform, orgTokens.next_cursor!],
        ["/v1/organizations", t.platform, bindings.next_cursor!],
      ];
      for (const [path, auth, cursor] of refused) {
        const res = await t.api.get(path).query({ cursor }).set(auth);
        expect(res.status, `${path} ${Buffer.from(cursor, "base64url").toString()}`).toBe(422);
        expect(res.headers["content-type"]).toContain("application/problem+json");
        expect(res.body.errors).toEqual([{ path: "query.cursor", message: "cursor is not one this API issued" }]);
      }
    });
  });
}
