import type { Queryable } from "../db/index.js";
import type { ChainedEventFields, ChainHead } from "./audit-chain.js";

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

export async function readChainHead(db: Queryable, chainKey: string): Promise<ChainHead | null> {
  const { rows } = await db.query<ChainHead>("select seq::int as seq, hash from audit_chain_heads where chain_key = $1", [chainKey]);
  return rows[0] ?? null;
}
