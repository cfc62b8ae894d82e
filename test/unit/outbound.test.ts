/**
 * The outbound module every request to an organization-chosen URL goes through. Addresses are
 * classified without any network; name resolution is injected, so a name can "resolve" to
 * 10.0.0.7 or 169.254.169.254 without a DNS server. Requests that really go out reach only a
 * server of this test on 127.0.0.1, which counts connections — that is how "refused before
 * connecting" is observed. Nothing here connects to any other address.
 */
import { createServer, type Server } from "node:http";
import type { LookupAddress } from "node:dns";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedIPv4, refusedCategory } from "../../service/outbound/address-policy.js";
import { guardedLookup, Outbound, OutboundRefused, OutboundTimeout, urlRefusal, type ResolveHost } from "../../service/outbound/outbound.js";

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

describe("address policy", () => {
  const refused: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["10.0.0.7", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["100.64.0.1", "shared (CGNAT)"],
    ["100.127.255.254", "shared (CGNAT)"],
    ["169.254.0.1", "link-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["168.63.129.16", "metadata"],
    ["100.100.100.200", "metadata"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["192.0.0.170", "reserved"],
    ["2001:db8::1", "reserved"],
    ["::7f00:1", "reserved"], // IPv4-compatible form of 127.0.0.1
    // IPv4 inside IPv6: mapped (both spellings), NAT64 and 6to4 reach the IPv4 address.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.7", "private"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:a9fe:a9fe", "metadata"],
    ["0:0:0:0:0:ffff:c0a8:0101", "private"],
    ["::ffff:0.0.0.0", "unspecified"],
    ["64:ff9b::10.0.0.7", "private"],
    ["64:ff9b::a9fe:a9fe", "metadata"],
    ["2002:7f00:1::", "loopback"],
    ["2002:0a00:0007::1", "private"],
  ];

  it.each(refused)("refuses %s as %s", (address, category) => {
    expect(refusedCategory(address, false)).toBe(category);
  });

  it("allows public addresses, IPv4 and IPv6, plain or embedded", () => {
    for (const address of ["1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]) {
      expect(refusedCategory(address, false), address).toBeNull();
    }
  });

  it("KEYPLANE_OUTBOUND_ALLOW_PRIVATE opens loopback, private and CGNAT ranges — never metadata, link-local or unspecified", () => {
    for (const address of ["127.0.0.1", "::1", "10.0.0.7", "192.168.1.1", "fd12::1", "100.64.0.1", "::ffff:127.0.0.1"]) {
      expect(refusedCategory(address, true), address).toBeNull();
    }
    for (const address of ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.0.1", "fe80::1", "0.0.0.0", "::", "::ffff:169.254.169.254"]) {
      expect(refusedCategory(address, true), address).not.toBeNull();
    }
  });

  it("reads the IPv4 address inside mapped, NAT64 and 6to4 addresses only", () => {
    expect(embeddedIPv4("::ffff:1.2.3.4")).toBe("1.2.3.4");
    expect(embeddedIPv4("64:ff9b::102:304")).toBe("1.2.3.4");
    expect(embeddedIPv4("2002:102:304::")).toBe("1.2.3.4");
    expect(embeddedIPv4("2606:4700::1111")).toBeNull();
    expect(embeddedIPv4("not-an-address")).toBeNull();
  });
});

describe("URLs refused before any lookup", () => {
  const policy = { allowPrivate: false };
  it.each([
    ["file:///etc/passwd", "scheme"],
    ["ftp://example.com/", "scheme"],
    ["gopher://example.com:70/", "scheme"],
    ["http://user:pw@example.com/", "user info"],
    ["http://10.0.0.7/", "private"],
    ["http://169.254.169.254/latest/meta-data/", "metadata"],
    ["http://[::ffff:169.254.169.254]/", "metadata"],
    ["http://[fd00:ec2::254]/", "metadata"],
    ["http://0.0.0.0:8080/", "unspecified"],
    ["http://2852039166/", "metadata"], // 169.254.169.254 as one number
    ["http://0251.0376.0251.0376/", "metadata"], // and in octal
  ])("%s (%s)", (url, reason) => {
    const refusal = urlRefusal(new URL(url), policy);
    expect(refusal).toBeInstanceOf(OutboundRefused);
    expect(refusal!.reason).toContain(reason);
    expect(refusal!.message).not.toContain("pw");
  });

  it("lets names and public literals through to the lookup", () => {
    expect(urlRefusal(new URL("https://api.openai.com/v1"), policy)).toBeNull();
    expect(urlRefusal(new URL("https://1.1.1.1/"), policy)).toBeNull();
  });
});

describe("guarded lookup (resolution injected, no sockets)", () => {
  const lookupWith = (addresses: LookupAddress[], allowPrivate = false) => {
    const lookup = guardedLookup({ allowPrivate, resolve: async () => addresses });
    return (options: { all?: boolean; family?: number }) =>
      new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) =>
        lookup("host.test", options, (error, address, family) => resolve({ error, address, family })),
      );
  };

  it("refuses a name when any of its addresses is refused", async () => {
    for (const addresses of [[v4("10.0.0.7")], [v4("169.254.169.254")], [v6("fd00:ec2::254")], [v4("1.1.1.1"), v4("10.0.0.7")], [v6("::ffff:127.0.0.1")]]) {
      const { error } = await lookupWith(addresses)({ all: true });
      expect(error, JSON.stringify(addresses)).toBeInstanceOf(OutboundRefused);
      expect(error!.message).toMatch(/^Refused to connect to host\.test: it resolves to a .+ address\.$/);
    }
  });

  it("hands the socket exactly the checked addresses, in the form it asked for", async () => {
    const addresses = [v4("1.1.1.1"), v6("2606:4700:4700::1111")];
    expect(await lookupWith(addresses)({ all: true })).toMatchObject({ error: null, address: addresses });
    expect(await lookupWith(addresses)({})).toMatchObject({ error: null, address: "1.1.1.1", family: 4 });
    expect(await lookupWith(addresses)({ family: 6 })).toMatchObject({ error: null, address: "2606:4700:4700::1111", family: 6 });
    expect((await lookupWith([v4("1.1.1.1")])({ family: 6 })).error).toMatchObject({ code: "ENOTFOUND" });
  });

  it("passes resolver errors on", async () => {
    const lookup = guardedLookup({ allowPrivate: false, resolve: async () => Promise.reject(Object.assign(new Error("nope"), { code: "ENOTFOUND" })) });
    const error = await new Promise((resolve) => lookup("missing.test", {}, (e) => resolve(e)));
    expect(error).toMatchObject({ code: "ENOTFOUND" });
  });
});

describe("requests (to a server of this test on 127.0.0.1 only)", () => {
  let server: Server;
  let port: number;
  let connections = 0;
  const paths: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url!);
      if (req.url === "/redirect") return res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end();
      if (req.url === "/large") return res.writeHead(200).end("x".repeat(10_000));
      if (req.url === "/slow") return; // never answers
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url, key: req.headers["x-key"] ?? null }));
    });
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const options = { headers: { "x-key": "k" }, timeoutMs: 2_000, maxBodyBytes: 1_000 };
  const counting = (answers: LookupAddress[][]) => {
    const names: string[] = [];
    const resolve: ResolveHost = async (hostname) => {
      names.push(hostname);
      return answers[Math.min(names.length - 1, answers.length - 1)];
    };
    return { names, resolve };
  };

  it("refuses a name that resolves to loopback by default, before connecting", async () => {
    const before = connections;
    const { names, resolve } = counting([[v4("127.0.0.1")]]);
    const outbound = new Outbound({ allowPrivate: false, resolve });
    await expect(outbound.get(new URL(`http://internal.test:${port}/v1/models`), options)).rejects.toThrow(
      "Refused to connect to internal.test: it resolves to a loopback address.",
    );
    await expect(outbound.get(new URL(`http://127.0.0.1:${port}/v1/models`), options)).rejects.toBeInstanceOf(OutboundRefused);
    await expect(outbound.get(new URL(`http://[::ffff:7f00:1]:${port}/v1/models`), options)).rejects.toBeInstanceOf(OutboundRefused);
    expect(names).toEqual(["internal.test"]);
    expect(connections).toBe(before);
  });

  it("checks the address at connect time, on every request: a name rebound to a metadata address is refused", async () => {
    const before = connections;
    const { names, resolve } = counting([[v4("127.0.0.1")], [v4("169.254.169.254")]]);
    const outbound = new Outbound({ allowPrivate: true, resolve });
    const first = await outbound.get(new URL(`http://rebind.test:${port}/first`), options);
    expect(first).toMatchObject({ status: 200 });
    expect(JSON.parse(first.body!)).toEqual({ path: "/first", key: "k" });
    await expect(outbound.get(new URL(`http://rebind.test:${port}/second`), options)).rejects.toThrow("resolves to a metadata address");
    expect(names).toEqual(["rebind.test", "rebind.test"]);
    expect(connections).toBe(before + 1);
  });

  it("refuses other schemes without resolving anything", async () => {
    const { names, resolve } = counting([[v4("127.0.0.1")]]);
    const outbound = new Outbound({ allowPrivate: true, resolve });
    for (const url of ["file:///etc/passwd", `ftp://files.test:${port}/`, `gopher://files.test:${port}/`]) {
      await expect(outbound.get(new URL(url), options), url).rejects.toThrow("uses a scheme other than http or https");
    }
    expect(names).toEqual([]);
  });

  it("keeps the path and query exactly as given, and does not follow redirects", async () => {
    const outbound = new Outbound({ allowPrivate: true });
    const before = paths.length;
    const answer = await outbound.get(new URL(`http://127.0.0.1:${port}/redirect`), options);
    expect(answer.status).toBe(302);
    expect(paths.slice(before)).toEqual(["/redirect"]);
  });

  it("stops reading past the size limit, and gives up after the time limit", async () => {
    const outbound = new Outbound({ allowPrivate: true });
    expect(await outbound.get(new URL(`http://127.0.0.1:${port}/large`), options)).toEqual({ status: 200, body: null });
    const started = Date.now();
    await expect(outbound.get(new URL(`http://127.0.0.1:${port}/slow`), { ...options, timeoutMs: 200 })).rejects.toBeInstanceOf(OutboundTimeout);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
