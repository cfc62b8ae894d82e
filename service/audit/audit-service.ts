import type { Db, Queryable } from "../db/index.js";
import type { MasterKeyring } from "../crypto/index.js";
import { newId } from "../ids.js";
import type { CallMeta } from "../auth/actor.js";
import {
  GENESIS_HASH,
  keyedChainHash,
  keyedHashAlg,
  verifyChain,
  type ChainBreak,
  type ChainedEventFields,
  type ChainHead,
  type StoredEvent,
} from "./audit-chain.js";
import { appendLinkedEvents, readChainHead, readLegacyHead, walkChain } from "./audit-dal.js";
import { openAuditKeys, type AuditKeys, type OpenedAuditKeys } from "./audit-keys.js";
import { usageTotals } from "./credential-usage.js";

export type AuditOutcome = "success" | "denied" | "failure";

export interface AuditActor {
  tokenId: string | null;
  role: string | null;
}

export interface AuditEventInput {
  organizationId: string | null;
  actor: AuditActor;
  action: string;
  targetType: string;
  targetId: string | null;
  outcome: AuditOutcome;
  requestId: string;
  /** Non-secret facts only: names, hints, versions, sources, status codes. */
  details?: Record<string, unknown>;
}

export function chainKeyFor(organizationId: string | null): string {
  return organizationId ? `org:${organizationId}` : "platform";
}

/** Appends an event inside the caller's transaction, so the event and the change commit together. */
export async function recordAudit(tx: Queryable, input: AuditEventInput): Promise<void> {
  await appendAuditEvents(tx, [input]);
}

/** The event of a successful `action` on the `targetType` object `targetId` by `by.actor` (a refusal overrides `outcome`). */
export function changeEvent(by: CallMeta, organizationId: string, action: string, targetType: string, targetId: string): AuditEventInput {
  return {
    organizationId,
    actor: { tokenId: by.actor.tokenId, role: by.actor.role },
    action,
    targetType,
    targetId,
    outcome: "success",
    requestId: by.requestId,
  };
}

/** How a service audits its writes to `targetType` objects: a successful event, in the caller's transaction. */
export function changeAudit(targetType: string) {
  return (q: Queryable, by: CallMeta, organizationId: string, action: string, targetId: string, details: Record<string, unknown>): Promise<void> =>
    recordAudit(q, { ...changeEvent(by, organizationId, action, targetType, targetId), details });
}

type UnlinkedEvent = Omit<ChainedEventFields, "seq">;

const GENESIS_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

/**
 * Links events into their chain with the audit key and appends them. The hash is computed here,
 * not in the database, so the key never leaves the process (a statement parameter can end up in
 * PostgreSQL's logs). Linking needs the chain's last link: this process remembers it per chain,
 * and keyplane_append_audit writes only if the chain still ends there, else it answers with the
 * actual end. So an append stays one statement while this process is the chain's only writer.
 * When another process appended in between, the events are linked again from the actual end;
 * outside a transaction that second attempt runs in one, because the first statement of a
 * transaction keeps the head locked until it ends and the retry then cannot miss again.
 */
export class AuditChain {
  readonly keys: AuditKeys;
  readonly #heads = new Map<string, ChainHead>();
  readonly #turns = new Map<string, Promise<void>>();

  constructor(keys: AuditKeys) {
    this.keys = keys;
  }

  append(q: Queryable, chainKey: string, organizationId: string | null, events: UnlinkedEvent[]): Promise<void> {
    if (q !== q.database) return this.#appendInTransaction(q, chainKey, organizationId, events);
    // Outside transactions this process's appends to one chain take turns, so each links from the
    // end the previous one wrote instead of all but one missing it. (Appends inside transactions
    // do not take turns: one holding the head's lock until its commit would stall the others.)
    const run = (this.#turns.get(chainKey) ?? Promise.resolve()).then(() => this.#appendAlone(q.database, chainKey, organizationId, events));
    const turn = run.then(
      () => {},
      () => {},
    );
    this.#turns.set(chainKey, turn);
    void turn.then(() => {
      if (this.#turns.get(chainKey) === turn) this.#turns.delete(chainKey);
    });
    return run;
  }

  async #appendAlone(db: Db, chainKey: string, organizationId: string | null, events: UnlinkedEvent[]): Promise<void> {
    const from = this.#heads.get(chainKey) ?? (await readChainHead(db, chainKey)) ?? GENESIS_HEAD;
    const actual = await this.#write(db, chainKey, organizationId, from, events);
    if (actual) await db.transaction((tx) => this.#appendInTransaction(tx, chainKey, organizationId, events, actual));
  }

  async #appendInTransaction(tx: Queryable, chainKey: string, organizationId: string | null, events: UnlinkedEvent[], from?: ChainHead) {
    let head = from ?? this.#heads.get(chainKey) ?? (await readChainHead(tx, chainKey)) ?? GENESIS_HEAD;
    // The first attempt locks the head for the rest of the transaction: a second one cannot miss.
    for (let attempt = 0; attempt < 2; attempt++) {
      const actual = await this.#write(tx, chainKey, organizationId, head, events);
      if (!actual) return;
      head = actual;
    }
    throw new Error(`audit chain ${chainKey} moved while its head was locked`);
  }

  /** Returns null when written, else the chain's actual head. */
  async #write(q: Queryable, chainKey: string, organizationId: string | null, from: ChainHead, events: UnlinkedEvent[]): Promise<ChainHead | null> {
    const linked = this.#link(from, events);
    const usage = organizationId === null ? [] : usageTotals(linked);
    const actual = await appendLinkedEvents(q, chainKey, organizationId, from, linked, usage);
    const last = linked[linked.length - 1];
    // After a rollback the remembered head is ahead of the chain: the next append misses once and relinks.
    this.#heads.set(chainKey, actual ?? { seq: last.seq, hash: last.hash });
    return actual;
  }

  #link(from: ChainHead, events: UnlinkedEvent[]): StoredEvent[] {
    const key = this.keys.current;
    const hashAlg = keyedHashAlg(key.id);
    let prev = from.hash;
    return events.map((event, i) => {
      const fields: ChainedEventFields = { ...event, seq: from.seq + i + 1 };
      const hash = keyedChainHash(key.chainKey(), prev, fields);
      const linked = { ...fields, prev_hash: prev, hash, hash_alg: hashAlg };
      prev = hash;
      return linked;
    });
  }
}

const chains = new WeakMap<Db, AuditChain>();

/**
 * Loads (on a new database: creates) the audit key and makes it the one every audit append and
 * verify on `db` uses. Until then they fail: an event is never written unkeyed.
 */
export async function openAuditChain(db: Db, keyring: MasterKeyring): Promise<OpenedAuditKeys> {
  const opened = await openAuditKeys(db, keyring);
  chains.set(db, new AuditChain(opened.keys));
  return opened;
}

function auditChainOf(q: Queryable): AuditChain {
  const chain = chains.get(q.database);
  if (!chain) throw new Error("the audit key of this database is not loaded (openAuditChain)");
  return chain;
}

/**
 * Appends events to their chains, one chain at a time in a fixed order (so two writers never
 * deadlock). Outside a transaction each chain's append is its own transaction.
 */
export async function appendAuditEvents(q: Queryable, inputs: AuditEventInput[]): Promise<void> {
  const chain = auditChainOf(q);
  const byChain = new Map<string, AuditEventInput[]>();
  for (const input of inputs) {
    const key = chainKeyFor(input.organizationId);
    const events = byChain.get(key);
    if (events) events.push(input);
    else byChain.set(key, [input]);
  }
  for (const chainKey of [...byChain.keys()].sort()) {
    const inputsOfChain = byChain.get(chainKey)!;
    const events = inputsOfChain.map((input): UnlinkedEvent => ({
      id: newId("evt"),
      chain_key: chainKey,
      organization_id: input.organizationId,
      actor_token_id: input.actor.tokenId,
      actor_role: input.actor.role,
      action: input.action,
      target_type: input.targetType,
      target_id: input.targetId,
      outcome: input.outcome,
      request_id: input.requestId,
      details: storableDetails(input.details ?? {}),
      created_at: new Date().toISOString(),
    }));
    await chain.append(q, chainKey, inputsOfChain[0].organizationId, events);
  }
}

// PostgreSQL's jsonb refuses U+0000 and unpaired surrogates, so one such character in a detail
// would fail the append, and with it the request (or a whole batch of resolves). Details can quote
// text nobody validated (an identity token's claims), and cutting text to a length can split a
// pair: both become U+FFFD before the event is hashed, so the chain vouches for what is stored.
// (In a `u` regex a surrogate pair is one code point, so \p{Cs} matches only unpaired halves.)
const UNSTORABLE = /[\u0000\p{Cs}]/u;
const EVERY_UNSTORABLE = /[\u0000\p{Cs}]/gu;

/** Whether `value` holds an unstorable character: checked first, as almost no event does. */
function holdsUnstorable(value: unknown): boolean {
  if (typeof value === "string") return UNSTORABLE.test(value);
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some(holdsUnstorable);
  return Object.entries(value).some(([key, v]) => UNSTORABLE.test(key) || holdsUnstorable(v));
}

function withStorableText(value: unknown): unknown {
  if (typeof value === "string") return value.replace(EVERY_UNSTORABLE, "\ufffd");
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(withStorableText);
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [withStorableText(key), withStorableText(v)]));
}

function storableDetails(details: Record<string, unknown>): Record<string, unknown> {
  return holdsUnstorable(details) ? (withStorableText(details) as Record<string, unknown>) : details;
}

/**
 * For events that accompany no change (denied requests): the append is one statement, its own
 * transaction. Not db.transaction: that announces a change (db.changes), and a flood of denied
 * requests would then empty the resolve and token caches on every one.
 */
export async function recordStandaloneAudit(db: Db, input: AuditEventInput): Promise<void> {
  await appendAuditEvents(db, [input]);
}

export interface ChainVerification {
  valid: boolean;
  checked: number;
  /** Events from before the chain was keyed (sha256 links), sealed when the audit key was created. */
  legacy_events: number;
  broken_at_seq: number | null;
  broken_event_id: string | null;
  reason: string | null;
}

export async function verifyOrganizationChain(db: Queryable, organizationId: string | null): Promise<ChainVerification> {
  const { keys } = auditChainOf(db);
  const chainKey = chainKeyFor(organizationId);
  // The head first: events appended during the walk only extend the chain past it.
  const head = await readChainHead(db, chainKey);
  const sealed = await readLegacyHead(db, chainKey);
  const legacy = sealed && {
    seq: sealed.seq,
    hash: sealed.hash,
    tampered: !keys.get(sealed.audit_key_id)?.legacySealHolds(chainKey, sealed, sealed.mac),
  };
  const result = await verifyChain(walkChain(db, chainKey), { head, legacy, keyFor: (id) => keys.get(id)?.chainKey() });
  return toVerification(result.checked, result.legacy, result.break);
}

function toVerification(checked: number, legacyEvents: number, chainBreak: ChainBreak | null): ChainVerification {
  return {
    valid: chainBreak === null,
    checked,
    legacy_events: legacyEvents,
    broken_at_seq: chainBreak?.seq ?? null,
    broken_event_id: chainBreak?.event_id ?? null,
    reason: chainBreak?.reason ?? null,
  };
}
