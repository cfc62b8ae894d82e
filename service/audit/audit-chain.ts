import { createHash, createHmac } from "node:crypto";

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

/** How the events written before the chain was keyed were hashed. */
export const LEGACY_HASH_ALG = "sha256";
const KEYED_HASH_PREFIX = "hmac-sha256:";

export function keyedHashAlg(auditKeyId: string): string {
  return `${KEYED_HASH_PREFIX}${auditKeyId}`;
}

/** The audit key id a keyed event names, or null for a legacy or unknown algorithm. */
function auditKeyIdOf(hashAlg: string): string | null {
  return hashAlg.startsWith(KEYED_HASH_PREFIX) ? hashAlg.slice(KEYED_HASH_PREFIX.length) : null;
}

/** The legacy link: sha256(prev_hash || canonical_event). Anyone can recompute it. */
export function legacyChainHash(prevHash: string, event: ChainedEventFields): string {
  return createHash("sha256").update(prevHash, "utf8").update(canonicalJson(event), "utf8").digest("hex");
}

/** The keyed link: HMAC-SHA256(audit key, prev_hash || canonical_event). */
export function keyedChainHash(key: Buffer, prevHash: string, event: ChainedEventFields): string {
  return createHmac("sha256", key).update(prevHash, "utf8").update(canonicalJson(event), "utf8").digest("hex");
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

export interface ChainVerifyContext {
  /** The chain's head read before the walk; null when the chain has no head row. */
  head: ChainHead | null;
  /** HMAC keys by audit key id. */
  keyFor(auditKeyId: string): Buffer | undefined;
  /**
   * Where the chain's legacy (sha256) events end, as sealed when the audit key was created; null
   * when the chain had none. A seal that does not authenticate is reported as `tampered`.
   */
  legacy: (ChainHead & { tampered: boolean }) | null;
}

export type StoredEvent = ChainedEventFields & { prev_hash: string; hash: string; hash_alg: string };

/**
 * Walks events in seq order and reports the first place the chain does not hold. With the head
 * read before the walk, the chain must also reach it and pass through it: events removed from the
 * end would otherwise leave a shorter chain that is valid in itself.
 *
 * Events up to the sealed legacy head must be sha256 links and end exactly at the sealed hash;
 * every later event must be keyed by a known audit key. So an attacker who rewrites events and
 * recomputes sha256 hashes (or marks keyed events as legacy) breaks the chain either way.
 */
export async function verifyChain(
  events: AsyncIterable<StoredEvent>,
  context: ChainVerifyContext,
): Promise<{ checked: number; legacy: number; break: ChainBreak | null }> {
  const { head, legacy } = context;
  const legacySeq = legacy?.seq ?? 0;
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  const at = (event: StoredEvent, reason: string) => ({
    checked,
    legacy: Math.min(checked, legacySeq),
    break: { seq: event.seq, event_id: event.id, reason },
  });
  if (legacy?.tampered) {
    return {
      checked,
      legacy: 0,
      break: { seq: legacy.seq, event_id: null, reason: "the sealed record of the chain's events from before it was keyed was altered" },
    };
  }
  for await (const event of events) {
    const { prev_hash, hash, hash_alg, ...fields } = event;
    if (fields.seq !== expectedSeq) {
      return at(event, `expected seq ${expectedSeq}, found ${fields.seq} (an event is missing or was inserted)`);
    }
    if (prev_hash !== prev) return at(event, "prev_hash does not match the previous event's hash");
    if (fields.seq <= legacySeq) {
      if (hash_alg !== LEGACY_HASH_ALG || legacyChainHash(prev, fields) !== hash) {
        return at(event, "hash does not match the event's contents (the event was modified)");
      }
      if (fields.seq === legacySeq && hash !== legacy!.hash) {
        return at(event, "the events from before the chain was keyed do not end at their sealed hash (they were rewritten)");
      }
    } else {
      const auditKeyId = auditKeyIdOf(hash_alg);
      if (auditKeyId === null) {
        return at(
          event,
          legacySeq === 0
            ? `the event is not keyed (${hash_alg}), but this chain has no events from before keying (it was rewritten)`
            : `the event is not keyed (${hash_alg}), but the chain is keyed from seq ${legacySeq + 1} on (it was rewritten)`,
        );
      }
      const key = context.keyFor(auditKeyId);
      if (!key) return at(event, `the event names audit key ${auditKeyId}, which does not exist`);
      if (keyedChainHash(key, prev, fields) !== hash) return at(event, "hash does not match the event's contents (the event was modified)");
    }
    if (head && fields.seq === head.seq && hash !== head.hash) {
      return at(event, "the chain's recorded head does not match this event (the chain was rewritten)");
    }
    prev = hash;
    expectedSeq += 1;
    checked += 1;
  }
  const end = Math.max(head?.seq ?? 0, legacySeq);
  if (checked < end) {
    return {
      checked,
      legacy: Math.min(checked, legacySeq),
      break: {
        seq: checked + 1,
        event_id: null,
        reason: `the chain ends at seq ${checked} but its recorded head is seq ${end} (events were removed from the end)`,
      },
    };
  }
  if (!head && checked > 0) {
    return { checked, legacy: Math.min(checked, legacySeq), break: { seq: checked, event_id: null, reason: "the chain's recorded head is missing" } };
  }
  return { checked, legacy: Math.min(checked, legacySeq), break: null };
}
