import { randomBytes } from "node:crypto";
import { monotonicFactory } from "ulid";

// ulid's default PRNG asks the OS for one byte per character (16 calls per id); ids are made on
// every audited request, so randomness is drawn in 4 KiB blocks instead. Still crypto-random.
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let offset = 0;

function pooledRandom(): number {
  if (offset >= POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  return pool[offset++] / 256;
}

const ulid = monotonicFactory(pooledRandom);

export type IdPrefix = "org" | "tok" | "prj" | "cred" | "evt" | "mal" | "idb";

/** `<prefix>_` + a 26-character ULID, e.g. `cred_01J…`: sortable by creation time. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}
