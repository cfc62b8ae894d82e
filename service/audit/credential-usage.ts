// What a batch of audit events adds to credential usage (the `usage` every credential reports,
// CredentialUsage in openapi.yaml), folded by the append that writes the batch (migration 0013),
// so a resolve costs no write of its own.
import type { ChainedEventFields } from "./audit-chain.js";

/** One credential's additions for one UTC day (the shape keyplane_fold_credential_usage reads). */
export interface UsageTotals {
  credential_id: string;
  /** YYYY-MM-DD, UTC. */
  day: string;
  resolves: number;
  denied: number;
  last_used_at: string | null;
  last_used_by: string | null;
}

type UsageEvent = Pick<ChainedEventFields, "action" | "outcome" | "target_id" | "actor_token_id" | "details" | "created_at">;

/**
 * A successful `credential.resolve` counts for the credential it returned (the last one of a day
 * names the day's last use and token); any `credential.resolve` that names inactive credentials
 * under `skipped_inactive` counts as denied for each. Other events add nothing. Sorted by
 * credential and day, so concurrent writers upsert the rows in one order.
 */
export function usageTotals(events: UsageEvent[]): UsageTotals[] {
  const totals = new Map<string, UsageTotals>();
  const of = (credentialId: string, day: string) => {
    const key = `${credentialId}\u0000${day}`;
    let row = totals.get(key);
    if (!row) {
      row = { credential_id: credentialId, day, resolves: 0, denied: 0, last_used_at: null, last_used_by: null };
      totals.set(key, row);
    }
    return row;
  };
  for (const event of events) {
    if (event.action !== "credential.resolve") continue;
    // created_at is an ISO 8601 instant in UTC: its date part is the UTC day.
    const day = event.created_at.slice(0, 10);
    if (event.outcome === "success" && event.target_id !== null) {
      const row = of(event.target_id, day);
      row.resolves += 1;
      if (row.last_used_at === null || event.created_at >= row.last_used_at) {
        row.last_used_at = event.created_at;
        row.last_used_by = event.actor_token_id;
      }
    }
    const skipped = event.details.skipped_inactive;
    if (Array.isArray(skipped)) {
      for (const id of new Set(skipped)) if (typeof id === "string") of(id, day).denied += 1;
    }
  }
  return [...totals.values()].sort((a, b) => (a.credential_id === b.credential_id ? cmp(a.day, b.day) : cmp(a.credential_id, b.credential_id)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
