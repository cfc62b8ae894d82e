// The database's share of the paced resolve latency on PostgreSQL. A resolve answers only once
// its audit event is committed, so its tail can be no shorter than that of a durable commit of
// the same rows at the same rate on the same machine. This load does only that: an open loop of
// single-row INSERTs, each its own transaction, of copies of the resolve events the service just
// wrote, into a table with audit_events' columns and indexes, through as many connections as the
// service's pool. On a 2-core VM the tail of both comes mostly from the disk (new WAL segments
// being zero-filled and synced, the kernel writing back dirty pages of the growing table), which
// this figure shows without the service in the way.
import pg from "pg";
import { openLoop, type PacedLoadResult } from "./paced-load.js";

// The service's default pool size (KEYPLANE_DB_POOL_MAX unset).
const SERVICE_POOL_SIZE = 10;
const TABLE = "bench_commit_baseline";

export async function commitBaseline(databaseUrl: string, rate: number, durationS: number): Promise<PacedLoadResult> {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  const clients: pg.Client[] = [];
  try {
    await setup.query(`create table ${TABLE} (like audit_events including defaults including indexes)`);
    const { rows } = await setup.query<Record<string, unknown>>(
      `select chain_key, organization_id, actor_token_id, actor_role, action, target_type, target_id, outcome, details, prev_hash, hash, hash_alg
         from audit_events where action = 'credential.resolve' order by seq desc limit 1`,
    );
    if (rows.length === 0) throw new Error("commit baseline: no resolve event to copy (the bench's connection must see audit_events)");
    const event = rows[0];
    let seq = 0;
    const insert = {
      name: "commit-baseline",
      text: `insert into ${TABLE} (id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type, target_id, outcome, request_id, details, prev_hash, hash, hash_alg)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, gen_random_uuid()::text, $11, $12, $13, $14)`,
    };
    const slots = Array.from({ length: SERVICE_POOL_SIZE }, () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      clients.push(client);
      const connected = client.connect();
      return {
        send: async () => {
          await connected;
          seq += 1;
          await client.query({
            ...insert,
            values: [
              `evt_baseline_${seq}`,
              event.chain_key,
              event.organization_id,
              seq,
              event.actor_token_id,
              event.actor_role,
              event.action,
              event.target_type,
              event.target_id,
              event.outcome,
              event.details,
              event.prev_hash,
              event.hash,
              event.hash_alg,
            ],
          });
          return true;
        },
        close: () => {},
      };
    });
    let opened = 0;
    const open = () => slots[opened++ % slots.length];
    await openLoop({ rate, durationS: 1, slots: SERVICE_POOL_SIZE, open });
    return await openLoop({ rate, durationS, slots: SERVICE_POOL_SIZE, open });
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => {})));
    await setup.query(`drop table if exists ${TABLE}`);
    await setup.end();
  }
}
