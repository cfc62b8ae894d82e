import { monotonicFactory } from "ulid";
import type { Db, Queryable } from "../db/index.js";
import { chainHash, GENESIS_HASH, verifyChain, type ChainBreak } from "./audit-chain.js";
import { insertEvents, lastChainLink, lockChain, walkChain, type AuditRow } from "./audit-dal.js";

const ulid = monotonicFactory();

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
export async function recordAudit(tx: Queryable, input: AuditEventInput): Promise<AuditRow> {
  const [row] = await appendAuditEvents(tx, [input]);
  return row;
}

/**
 * Appends events to their chains inside `tx`. Each chain is locked for the rest of the
 * transaction (in a fixed order, so two writers never deadlock), extended from its last link,
 * and all rows go in with one INSERT.
 */
export async function appendAuditEvents(tx: Queryable, inputs: AuditEventInput[]): Promise<AuditRow[]> {
  const byChain = new Map<string, AuditEventInput[]>();
  for (const input of inputs) {
    const key = chainKeyFor(input.organizationId);
    byChain.set(key, [...(byChain.get(key) ?? []), input]);
  }
  const rows: AuditRow[] = [];
  for (const chainKey of [...byChain.keys()].sort()) {
    await lockChain(tx, chainKey);
    const last = await lastChainLink(tx, chainKey);
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    for (const input of byChain.get(chainKey)!) {
      seq += 1;
      const fields = {
        id: `evt_${ulid()}`,
        chain_key: chainKey,
        organization_id: input.organizationId,
        seq,
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
      const hash = chainHash(prevHash, fields);
      rows.push({ ...fields, prev_hash: prevHash, hash });
      prevHash = hash;
    }
  }
  await insertEvents(tx, rows);
  return rows;
}

/** For events that accompany no change (denied requests): a transaction of their own. */
export async function recordStandaloneAudit(db: Db, input: AuditEventInput): Promise<void> {
  await db.transaction((tx) => recordAudit(tx, input));
}

export interface ChainVerification {
  valid: boolean;
  checked: number;
  broken_at_seq: number | null;
  broken_event_id: string | null;
  reason: string | null;
}

export async function verifyOrganizationChain(db: Queryable, organizationId: string | null): Promise<ChainVerification> {
  const result = await verifyChain(walkChain(db, chainKeyFor(organizationId)));
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
