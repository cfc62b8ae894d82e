import { createHash } from "node:crypto";

// The hash chain is computed over a canonical JSON form (sorted keys, no whitespace) so that the
// same event always hashes the same, whatever order fields were written in.

export const GENESIS_HASH = "0".repeat(64);

export interface ChainedEventFields {
  id: string;
  chain_key: string;
  organization_id: string | null;
  seq: number;
  actor_token_id: string | null;
  actor_role: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  outcome: string;
  request_id: string;
  details: Record<string, unknown>;
  created_at: string;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/**
 * The canonical JSON of an event split around its sequence number, for the database to hash once
 * it has assigned the number: canonical = prefix + seq + suffix. Keys are sorted, so `seq` is
 * always directly followed by `target_id`; `details` sorts earlier, so the last match is the field.
 */
export function canonicalAroundSeq(event: ChainedEventFields): { prefix: string; suffix: string } {
  const text = canonicalJson({ ...event, seq: 0 });
  const marker = ',"seq":0,"target_id":';
  const at = text.lastIndexOf(marker);
  return { prefix: text.slice(0, at + ',"seq":'.length), suffix: text.slice(at + ',"seq":0'.length) };
}

export function chainHash(prevHash: string, event: ChainedEventFields): string {
  return createHash("sha256").update(prevHash, "utf8").update(canonicalJson(event), "utf8").digest("hex");
}

export interface ChainBreak {
  seq: number;
  /** null when the break is a missing event (nothing to point at). */
  event_id: string | null;
  reason: string;
}

/** The chain's last link as recorded beside it when the walk started (audit_chain_heads). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * Walks events in seq order and reports the first place the chain does not hold. With the head
 * read before the walk, the chain must also reach it and pass through it: events removed from the
 * end would otherwise leave a shorter chain that is valid in itself.
 */
export async function verifyChain(
  events: AsyncIterable<ChainedEventFields & { prev_hash: string; hash: string }>,
  head?: ChainHead | null,
): Promise<{ checked: number; break: ChainBreak | null }> {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  for await (const event of events) {
    const { prev_hash, hash, ...fields } = event;
    if (fields.seq !== expectedSeq) {
      return { checked, break: { seq: fields.seq, event_id: fields.id, reason: `expected seq ${expectedSeq}, found ${fields.seq} (an event is missing or was inserted)` } };
    }
    if (prev_hash !== prev) {
      return { checked, break: { seq: fields.seq, event_id: fields.id, reason: "prev_hash does not match the previous event's hash" } };
    }
    if (chainHash(prev, fields) !== hash) {
      return { checked, break: { seq: fields.seq, event_id: fields.id, reason: "hash does not match the event's contents (the event was modified)" } };
    }
    if (head && fields.seq === head.seq && hash !== head.hash) {
      return { checked, break: { seq: fields.seq, event_id: fields.id, reason: "the chain's recorded head does not match this event (the chain was rewritten)" } };
    }
    prev = hash;
    expectedSeq += 1;
    checked += 1;
  }
  if (head && checked < head.seq) {
    return {
      checked,
      break: { seq: checked + 1, event_id: null, reason: `the chain ends at seq ${checked} but its recorded head is seq ${head.seq} (events were removed from the end)` },
    };
  }
  return { checked, break: null };
}
