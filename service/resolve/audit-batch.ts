// Group commit for the audit events of the resolve hot path. Every resolve must be audited
// before its secret leaves the service (like Vault, a resolve that cannot be audited fails), but
// one transaction per event (lock the chain, read its last link, insert, commit) would cost more
// than the resolve itself. Events queue up while batches are being written and the next batch
// appends all of them to their chains in one transaction: under load, many resolves share one
// commit; alone, a resolve pays one.
import { monotonicFactory } from "ulid";
import type { Db, Queryable } from "../db/index.js";
import { chainHash, GENESIS_HASH, type ChainedEventFields } from "../audit/audit-chain.js";
import { lastChainLink, lockChain } from "../audit/audit-dal.js";
import { chainKeyFor, type AuditEventInput } from "../audit/audit-service.js";

const ulid = monotonicFactory();

// 15 parameters per row: 500 rows stay far below PostgreSQL's 65535-parameter limit.
const MAX_BATCH = 500;

interface Pending {
  input: AuditEventInput;
  done: () => void;
  failed: (error: unknown) => void;
}

export class AuditBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly db: Db,
    /** Batches written at once: they queue on the chain lock, but their other round trips overlap. */
    private readonly maxInFlight = 2,
  ) {}

  /** Resolves once the event is committed; rejects when its batch could not be written. */
  record(input: AuditEventInput): Promise<void> {
    return new Promise((done, failed) => {
      this.queue.push({ input, done, failed });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // Let requests already being handled in this turn of the event loop join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.write(this.queue.splice(0, MAX_BATCH));
    });
  }

  private async write(batch: Pending[]): Promise<void> {
    this.inFlight += 1;
    try {
      await this.db.transaction((tx) => appendEvents(tx, batch.map((p) => p.input)));
      for (const p of batch) p.done();
    } catch (error) {
      for (const p of batch) p.failed(error);
    } finally {
      this.inFlight -= 1;
      this.schedule();
    }
  }
}

/** Appends events to their chains inside `tx`; chains are locked in a fixed order. */
async function appendEvents(tx: Queryable, inputs: AuditEventInput[]): Promise<void> {
  const byChain = new Map<string, AuditEventInput[]>();
  for (const input of inputs) {
    const key = chainKeyFor(input.organizationId);
    const list = byChain.get(key);
    if (list) list.push(input);
    else byChain.set(key, [input]);
  }
  const rows: (ChainedEventFields & { prev_hash: string; hash: string })[] = [];
  for (const chainKey of [...byChain.keys()].sort()) {
    await lockChain(tx, chainKey);
    const last = await lastChainLink(tx, chainKey);
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    for (const input of byChain.get(chainKey)!) {
      seq += 1;
      const fields: ChainedEventFields = {
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
  const params: unknown[] = [];
  const values = rows.map((r) => {
    const base = params.length;
    params.push(
      r.id, r.chain_key, r.organization_id, r.seq, r.actor_token_id, r.actor_role, r.action, r.target_type,
      r.target_id, r.outcome, r.request_id, JSON.stringify(r.details), r.created_at, r.prev_hash, r.hash,
    );
    return `(${Array.from({ length: 15 }, (_, i) => `$${base + i + 1}`).join(",")})`;
  });
  await tx.query(
    `insert into audit_events (id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type,
       target_id, outcome, request_id, details, created_at, prev_hash, hash)
     values ${values.join(", ")}`,
    params,
  );
}
