// Leak scans: a secret must not appear in any file of a working directory (state, backups, plan
// files, logs), nor in any text the test collected (CLI output, `show -json`, the service log).
// Plain text alone would miss the encodings engines use: private state is base64 in the state
// file, and plan files are zip archives whose entries are deflated — both are searched too.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { inflateRawSync } from "node:zlib";

/** Byte strings a secret shows up as: itself, JSON-escaped, base64/base64url at every alignment, hex. */
export function secretNeedles(secret: string): Buffer[] {
  const raw = Buffer.from(secret, "utf8");
  const needles = [raw, Buffer.from(JSON.stringify(secret).slice(1, -1), "utf8"), Buffer.from(raw.toString("hex"))];
  for (let shift = 0; shift < 3; shift++) {
    // Encode behind `shift` filler bytes; keep only characters that depend on the secret alone.
    const encoded = Buffer.concat([Buffer.alloc(shift), raw]);
    const skip = shift === 0 ? 0 : Math.ceil((shift * 4) / 3);
    const full = Math.floor(encoded.length / 3) * 4;
    for (const alphabet of ["base64", "base64url"] as const) {
      const text = encoded.toString(alphabet).slice(skip, full);
      if (text.length >= 8) needles.push(Buffer.from(text));
    }
  }
  return needles;
}

interface ZipEntry {
  name: string;
  data: Buffer;
}

/** Entries of a zip archive (stored or deflated), read through the central directory; [] when not a zip. */
export function zipEntries(buf: Buffer): ZipEntry[] {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || buf.length < 4 || buf.readUInt32LE(0) !== 0x04034b50) return [];
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error("corrupt zip central directory");
    const method = buf.readUInt16LE(at + 10);
    const compressedSize = buf.readUInt32LE(at + 20);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    const localOffset = buf.readUInt32LE(at + 42);
    const name = buf.subarray(at + 46, at + 46 + nameLength).toString("utf8");
    const dataStart = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    const body = buf.subarray(dataStart, dataStart + compressedSize);
    if (method !== 0 && method !== 8) throw new Error(`zip entry ${name} uses compression method ${method}`);
    entries.push({ name, data: method === 8 ? inflateRawSync(body) : Buffer.from(body) });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path);
    return e.isFile() ? [path] : [];
  });
}

/** A labelled blob and, for archives, each of its entries. */
function blobsOf(dir: string, extraTexts: readonly string[]): { where: string; data: Buffer }[] {
  const blobs: { where: string; data: Buffer }[] = [];
  for (const file of filesUnder(dir)) {
    const data = readFileSync(file);
    const where = relative(dir, file);
    blobs.push({ where, data });
    for (const entry of zipEntries(data)) blobs.push({ where: `${where}!${entry.name}`, data: entry.data });
  }
  extraTexts.forEach((text, i) => blobs.push({ where: `text #${i}`, data: Buffer.from(text, "utf8") }));
  return blobs;
}

/**
 * Fails (naming the place, never the secret) when any secret occurs in any file under `dir` —
 * raw bytes and the unpacked entries of zip files such as saved plans — or in `extraTexts`.
 * Returns how many blobs were scanned, so a test can check the scan saw something.
 */
export function assertNoSecret(secrets: readonly string[], dir: string, extraTexts: readonly string[] = []): number {
  const blobs = blobsOf(dir, extraTexts);
  const leaks: string[] = [];
  secrets.forEach((secret, index) => {
    if (secret.length < 8) throw new Error("assertNoSecret needs secrets of at least 8 characters (short ones match by chance)");
    for (const needle of secretNeedles(secret)) {
      for (const blob of blobs) {
        if (blob.data.includes(needle)) leaks.push(`secret #${index} found in ${blob.where}`);
      }
    }
  });
  if (leaks.length > 0) throw new Error(`secret leaked:\n  ${[...new Set(leaks)].join("\n  ")}`);
  return blobs.length;
}
