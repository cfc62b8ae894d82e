// Which IP addresses an outbound request may connect to. A stored api_base is chosen by an
// organization admin, so without this check verify would let an admin make the service send a
// request (with a key in its headers) to the loopback interface, the private network, or a cloud
// metadata endpoint that hands out the host's own credentials.
import { BlockList, isIP } from "node:net";

/** Why an address is refused; shown to admins (in verify's detail and the audit event). */
export type AddressCategory = "metadata" | "unspecified" | "link-local" | "multicast" | "reserved" | "loopback" | "private" | "shared (CGNAT)";

/** Categories KEYPLANE_OUTBOUND_ALLOW_PRIVATE=1 allows, for self-hosted gateways and tests. */
const ALLOWED_WITH_PRIVATE: ReadonlySet<AddressCategory> = new Set(["loopback", "private", "shared (CGNAT)"]);

// Instance metadata services answer on these without any credential. Refused even when private
// ranges are allowed: some of them sit inside ranges that flag opens (fd00:ec2::254 is in fc00::/7,
// 100.100.100.200 in 100.64/10), and 168.63.129.16 is not in any private range at all.
const METADATA: readonly [string, "ipv4" | "ipv6"][] = [
  ["169.254.169.254", "ipv4"], // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
  ["169.254.170.2", "ipv4"], // AWS ECS task credentials
  ["168.63.129.16", "ipv4"], // Azure wire server
  ["100.100.100.200", "ipv4"], // Alibaba Cloud
  ["fd00:ec2::254", "ipv6"], // AWS (IPv6)
];

// Checked in this order: the first list that holds the address names its category.
const RANGES: readonly [AddressCategory, readonly [string, number, "ipv4" | "ipv6"][]][] = [
  [
    "unspecified",
    [
      ["0.0.0.0", 8, "ipv4"],
      ["::", 128, "ipv6"],
    ],
  ],
  [
    "loopback",
    [
      ["127.0.0.0", 8, "ipv4"],
      ["::1", 128, "ipv6"],
    ],
  ],
  [
    "link-local",
    [
      ["169.254.0.0", 16, "ipv4"],
      ["fe80::", 10, "ipv6"],
    ],
  ],
  [
    "private",
    [
      ["10.0.0.0", 8, "ipv4"],
      ["172.16.0.0", 12, "ipv4"],
      ["192.168.0.0", 16, "ipv4"],
      ["fc00::", 7, "ipv6"],
      ["fec0::", 10, "ipv6"],
      ["64:ff9b:1::", 48, "ipv6"],
    ],
  ],
  ["shared (CGNAT)", [["100.64.0.0", 10, "ipv4"]]],
  [
    "multicast",
    [
      ["224.0.0.0", 4, "ipv4"],
      ["ff00::", 8, "ipv6"],
    ],
  ],
  [
    "reserved",
    [
      ["192.0.0.0", 24, "ipv4"], // IETF protocol assignments
      ["192.0.2.0", 24, "ipv4"], // documentation
      ["198.18.0.0", 15, "ipv4"], // benchmarking
      ["198.51.100.0", 24, "ipv4"], // documentation
      ["203.0.113.0", 24, "ipv4"], // documentation
      ["240.0.0.0", 4, "ipv4"], // reserved and broadcast
      ["::", 96, "ipv6"], // IPv4-compatible (deprecated)
      ["100::", 64, "ipv6"], // discard
      ["2001::", 32, "ipv6"], // Teredo: the IPv4 inside is obfuscated, so refuse the whole prefix
      ["2001:db8::", 32, "ipv6"], // documentation
    ],
  ],
];

const metadataList = new BlockList();
for (const [address, family] of METADATA) metadataList.addAddress(address, family);
const rangeLists = RANGES.map(([category, ranges]) => {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return [category, list] as const;
});

/** The category of an address the policy refuses, or null when it may be connected to. */
export function refusedCategory(candidate: string, allowPrivate: boolean): AddressCategory | null {
  const address = candidate.replace(/%.*$/, ""); // an IPv6 zone index does not change the address
  const family = isIP(address);
  if (family === 0) return "reserved";
  // An IPv6 address that carries an IPv4 address (mapped, NAT64, 6to4) reaches that IPv4 address.
  const inner = family === 6 ? embeddedIPv4(address) : null;
  if (inner !== null) return refusedCategory(inner, allowPrivate);
  const type = family === 4 ? "ipv4" : "ipv6";
  if (metadataList.check(address, type)) return "metadata";
  for (const [category, list] of rangeLists) {
    if (list.check(address, type)) return allowPrivate && ALLOWED_WITH_PRIVATE.has(category) ? null : category;
  }
  return null;
}

/** The IPv4 address inside ::ffff:a.b.c.d, 64:ff9b::a.b.c.d (NAT64) or 2002:AABB:CCDD:: (6to4). */
export function embeddedIPv4(address: string): string | null {
  const bytes = ipv6Bytes(address);
  if (!bytes) return null;
  const zero = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
  const dotted = (at: number) => Array.from(bytes.subarray(at, at + 4)).join(".");
  if (zero(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return dotted(12);
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zero(4, 12)) return dotted(12);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return dotted(2);
  return null;
}

function ipv6Bytes(address: string): Uint8Array | null {
  let text = address.toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) stands for the last two groups.
  const dottedTail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dottedTail) {
    const [a, b, c, d] = dottedTail.slice(1).map(Number);
    text = `${text.slice(0, dottedTail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const all = [...head, ...Array<string>(missing).fill("0"), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/.test(all[i])) return null;
    const value = parseInt(all[i], 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  }
  return bytes;
}
