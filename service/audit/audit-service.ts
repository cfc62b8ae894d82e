import type { Db, Queryable } from "../db/index.js";
import { newId } from "../ids.js";
import { canonicalAroundSeq, verifyChain, type ChainBreak, type ChainedEventFields } from "./audit-chain.js";
import { readChainHead, walkChain } from "./audit-dal.js";


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

/**
 * Appends events to their chains: one statement per chain (keyplane_append_audit locks the chain's
 * head for the rest of the transaction, extends the chain from it and inserts every row). Chains
 * are taken in a fixed order, so two writers never deadlock. Outside a transaction the statement
 * is its own transaction.
 */
export async function appendAuditEvents(q: Queryable, inputs: AuditEventInput[]): Promise<void> {
  const byChain = new Map<string, AuditEventInput[]>();
  for (const input of inputs) {
    const key = chainKeyFor(input.organizationId);
    const events = byChain.get(key);
    if (events) events.push(input);
    else byChain.set(key, [input]);
  }
  for (const chainKey of [...byChain.keys()].sort()) {
    const events = byChain.get(chainKey)!.map((input) => {
      const fields: ChainedEventFields = {
        id: newId("evt"),
        chain_key: chainKey,
        organization_id: input.organizationId,
        seq: 0,
        actor_token_id: input.actor.tokenId,
        actor_role: input.actor.role,
        action: input.action,
        target_type: input.targetType,
        target_id: input.targetId,
        outcome: input.outcome,
        request_id: input.requestId,
        details: input.details ?? {},
        created_at: new Date().toISOString(),
      };
      const { prefix, suffix } = canonicalAroundSeq(fields);
      return { ...fields, canonical_prefix: prefix, canonical_suffix: suffix };
    });
    await q.query("select keyplane_append_audit($1, $2::jsonb)", [chainKey, JSON.stringify(events)], { name: "keyplane_append_audit" });
  }
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
  broken_at_seq: number | null;
  broken_event_id: string | null;
  reason: string | null;
}

export async function verifyOrganizationChain(db: Queryable, organizationId: string | null): Promise<ChainVerification> {
  const chainKey = chainKeyFor(organizationId);
  // The head first: events appended during the walk only extend the chain past it.
  const head = await readChainHead(db, chainKey);
  const result = await verifyChain(walkChain(db, chainKey), head);
  return toVerification(result.checked, result.break);
}

function toVerification(checked: number, chainBreak: ChainBreak | null): ChainVerification {
  return {
    valid: chainBreak === null,
    checked,
    broken_at_seq: chainBreak?.seq ?? null,
    broken_event_id: chainBreak?.event_id ?? null,
    reason: chainBreak?.reason ?? null,
  };
}
