import { StatementParameters, type Queryable } from "../db/index.js";
import { LEGACY_HASH_ALG, type ChainHead, type StoredEvent } from "./audit-chain.js";
import type { UsageTotals } from "./credential-usage.js";

export type AuditRow = StoredEvent;

const COLUMNS =
  "id, chain_key, organization_id, seq::int as seq, actor_token_id, actor_role, action, target_type, target_id, outcome, request_id, details, created_at, prev_hash, hash, hash_alg";

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
  const params = new StatementParameters();
  const where = [`chain_key = ${params.add(filter.chainKey)}`];
  if (filter.action) where.push(`action = ${params.add(filter.action)}`);
  if (filter.targetId) where.push(`target_id = ${params.add(filter.targetId)}`);
  if (filter.since) where.push(`created_at >= ${params.add(filter.since)}`);
  if (filter.afterSeq !== undefined) where.push(`seq > ${params.add(filter.afterSeq)}`);
  const { rows } = await db.query<Record<string, unknown>>(
    `select ${COLUMNS} from audit_events where ${where.join(" and ")} order by seq asc limit ${params.add(filter.limit)}`,
    params.values,
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

/**
 * Appends events linked from `from`; returns null when they were written, or the chain's actual
 * head when it is not `from` (nothing written). See migration 0007.
 */
export async function appendLinkedEvents(
  q: Queryable,
  chainKey: string,
  organizationId: string | null,
  from: ChainHead,
  /** Linked into the chain by the service: seq, prev_hash, hash and hash_alg are set. */
  events: StoredEvent[],
  /** Folded into credential_usage_daily in the same statement when the events are written (0013). */
  usage: UsageTotals[],
): Promise<ChainHead | null> {
  const { rows } = await q.query<{ head_seq: number; head_hash: string }>(
    "select head_seq::int as head_seq, head_hash from keyplane_append_audit($1, $2, $3, $4, $5::jsonb, $6::jsonb)",
    [chainKey, organizationId, from.seq, from.hash, JSON.stringify(events), JSON.stringify(usage)],
    { name: "keyplane_append_audit_usage" },
  );
  return rows.length === 0 ? null : { seq: Number(rows[0].head_seq), hash: rows[0].head_hash };
}

export interface AuditKeyRow {
  id: string;
  wrapped_key: Buffer;
  master_key_id: string;
}

export async function listAuditKeys(q: Queryable): Promise<AuditKeyRow[]> {
  const { rows } = await q.query<AuditKeyRow>("select id, wrapped_key, master_key_id from audit_keys order by created_at, id");
  return rows;
}

export async function insertAuditKey(q: Queryable, row: AuditKeyRow): Promise<void> {
  await q.query("insert into audit_keys (id, wrapped_key, master_key_id) values ($1, $2, $3)", [row.id, row.wrapped_key, row.master_key_id]);
}

export async function updateAuditKeyWrap(q: Queryable, row: AuditKeyRow): Promise<void> {
  await q.query("update audit_keys set wrapped_key = $2, master_key_id = $3 where id = $1", [row.id, row.wrapped_key, row.master_key_id]);
}

/** Serializes creating the audit key between processes starting at once. */
export async function lockAuditKeys(tx: Queryable): Promise<void> {
  await tx.query("select pg_advisory_xact_lock(hashtextextended('keyplane.audit_keys', 0))");
}

export async function anyKeyedEvent(q: Queryable): Promise<boolean> {
  const { rows } = await q.query("select 1 from audit_events where hash_alg <> $1 limit 1", [LEGACY_HASH_ALG]);
  return rows.length > 0;
}

export async function listChainHeads(q: Queryable): Promise<Array<ChainHead & { chain_key: string; organization_id: string | null }>> {
  const { rows } = await q.query<ChainHead & { chain_key: string; organization_id: string | null }>(
    "select chain_key, organization_id, seq::int as seq, hash from audit_chain_heads where seq > 0 order by chain_key",
  );
  return rows;
}

export interface LegacyHeadRow extends ChainHead {
  chain_key: string;
  organization_id: string | null;
  audit_key_id: string;
  mac: string;
}

export async function insertLegacyHead(q: Queryable, row: LegacyHeadRow): Promise<void> {
  await q.query("insert into audit_legacy_heads (chain_key, organization_id, seq, hash, audit_key_id, mac) values ($1, $2, $3, $4, $5, $6)", [
    row.chain_key,
    row.organization_id,
    row.seq,
    row.hash,
    row.audit_key_id,
    row.mac,
  ]);
}

export async function readLegacyHead(q: Queryable, chainKey: string): Promise<LegacyHeadRow | null> {
  const { rows } = await q.query<LegacyHeadRow>(
    "select chain_key, organization_id, seq::int as seq, hash, audit_key_id, mac from audit_legacy_heads where chain_key = $1",
    [chainKey],
  );
  return rows[0] ?? null;
}
