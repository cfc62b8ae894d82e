import type { Queryable } from "../db/index.js";
import type { ChainedEventFields } from "./audit-chain.js";

export interface AuditRow extends ChainedEventFields {
  prev_hash: string;
  hash: string;
}

const COLUMNS =
  "id, chain_key, organization_id, seq::int as seq, actor_token_id, actor_role, action, target_type, target_id, outcome, request_id, details, created_at, prev_hash, hash";

function normalize(row: Record<string, unknown>): AuditRow {
  return {
    ...(row as unknown as AuditRow),
    seq: Number(row.seq),
    created_at: new Date(row.created_at as string | Date).toISOString(),
    details: (row.details ?? {}) as Record<string, unknown>,
  };
}

/** Serializes writers of one chain for the rest of the transaction. */
export async function lockChain(tx: Queryable, chainKey: string): Promise<void> {
  await tx.query("select pg_advisory_xact_lock(hashtextextended($1, 7))", [`audit:${chainKey}`]);
}

export async function lastChainLink(tx: Queryable, chainKey: string): Promise<{ seq: number; hash: string } | null> {
  const { rows } = await tx.query<{ seq: number; hash: string }>(
    "select seq::int as seq, hash from audit_events where chain_key = $1 order by seq desc limit 1",
    [chainKey],
  );
  return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
}

const INSERT_COLUMNS =
  "id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type, target_id, outcome, request_id, details, created_at, prev_hash, hash";

/** One multi-row INSERT; 15 parameters a row, so callers keep batches well under 65,535 / 15. */
export async function insertEvents(tx: Queryable, rows: AuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  const params: unknown[] = [];
  const values = rows.map((r) => {
    const base = params.length;
    params.push(
      r.id, r.chain_key, r.organization_id, r.seq, r.actor_token_id, r.actor_role, r.action, r.target_type,
      r.target_id, r.outcome, r.request_id, JSON.stringify(r.details), r.created_at, r.prev_hash, r.hash,
    );
    return `(${Array.from({ length: 15 }, (_, i) => `$${base + i + 1}`).join(",")})`;
  });
  await tx.query(`insert into audit_events (${INSERT_COLUMNS}) values ${values.join(", ")}`, params);
}

export interface AuditFilter {
  chainKey: string;
  action?: string;
  targetId?: string;
  since?: string;
  afterSeq?: number;
  limit: number;
}

export async function listEvents(db: Queryable, filter: AuditFilter): Promise<AuditRow[]> {
  const where = ["chain_key = $1"];
  const params: unknown[] = [filter.chainKey];
  if (filter.action) {
    params.push(filter.action);
    where.push(`action = $${params.length}`);
  }
  if (filter.targetId) {
    params.push(filter.targetId);
    where.push(`target_id = $${params.length}`);
  }
  if (filter.since) {
    params.push(filter.since);
    where.push(`created_at >= $${params.length}`);
  }
  if (filter.afterSeq !== undefined) {
    params.push(filter.afterSeq);
    where.push(`seq > $${params.length}`);
  }
  params.push(filter.limit);
  const { rows } = await db.query<Record<string, unknown>>(
    `select ${COLUMNS} from audit_events where ${where.join(" and ")} order by seq asc limit $${params.length}`,
    params,
  );
  return rows.map(normalize);
}

/** Streams a whole chain in pages so verifying a long chain never holds it all in memory. */
export async function* walkChain(db: Queryable, chainKey: string, pageSize = 1000): AsyncGenerator<AuditRow> {
  let afterSeq = 0;
  for (;;) {
    const page = await listEvents(db, { chainKey, afterSeq, limit: pageSize });
    for (const row of page) yield row;
    if (page.length < pageSize) return;
    afterSeq = page[page.length - 1].seq;
  }
}
