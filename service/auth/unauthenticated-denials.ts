import type { Logger } from "pino";
import type { Db } from "../db/index.js";
import { appendAuditEvents, type AuditEventInput } from "../audit/audit-service.js";

/** How often the counts are written: one audit event per client address and reason per window. */
const UNAUTHENTICATED_WINDOW_MS = 60_000;
/** (address, reason) pairs tracked per window; beyond it, further addresses are counted together. */
export const MAX_TRACKED_CLIENTS = 1_000;
/** The client_address of the event that counts the addresses beyond MAX_TRACKED_CLIENTS. */
export const OTHER_CLIENTS = "other";

export interface UnauthenticatedDenial {
  /** The organization the request named (a token exchange), whose audit log gets the count; else the platform's. */
  organizationId?: string;
  clientAddress: string | null;
  /** Why the token did not verify (missing, malformed, unknown, expired, revoked), rate_limited, or an exchange's refusal code. */
  reason: string;
  operation: string | null;
  requestId: string;
}

interface Tally {
  organizationId: string | null;
  clientAddress: string;
  reason: string;
  count: number;
  firstAt: Date;
  lastAt: Date;
  /** The first request of the window, to find it in the request log. */
  requestId: string;
  /** operationId → count; bounded by the contract's operations. */
  operations: Map<string, number>;
}

/**
 * Requests that could not be authenticated (no token, or one that does not verify) are audited in
 * aggregate: anyone can send them without limit, and one audit event each would let anyone grow
 * the append-only log without bound. Each window writes one event per client address and reason
 * (and organization, for a token exchange: into that organization's log), "n denied requests",
 * with the first request id and the operations called. Memory is bounded as well
 * (MAX_TRACKED_CLIENTS tallies, then "other"). The counts of a failed write are kept for the next
 * one and close() writes what is left, so the fact is never lost. Denials of an authenticated
 * token (a role that may not do something) are not counted here: each is its own event.
 */
export class UnauthenticatedDenials {
  private tallies = new Map<string, Tally>();
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    windowMs = UNAUTHENTICATED_WINDOW_MS,
    private readonly maxTracked = MAX_TRACKED_CLIENTS,
  ) {
    this.timer = setInterval(() => {
      this.flush().catch((error: Error) => {
        this.log.warn(
          { err: { name: error.name, code: (error as { code?: string }).code }, pending: this.tallies.size },
          "unauthenticated-request counts not written yet; retrying",
        );
      });
    }, windowMs);
    this.timer.unref();
  }

  record(denial: UnauthenticatedDenial): void {
    const now = new Date();
    this.add({
      organizationId: denial.organizationId ?? null,
      clientAddress: denial.clientAddress ?? "unknown",
      reason: denial.reason,
      count: 1,
      firstAt: now,
      lastAt: now,
      requestId: denial.requestId,
      operations: new Map(denial.operation ? [[denial.operation, 1]] : []),
    });
  }

  /** Pending (organization, address, reason) tallies. */
  get size(): number {
    return this.tallies.size;
  }

  /** Writes the counts so far as audit events (one append per audit chain); a chain that fails keeps its counts for the next try. */
  flush(): Promise<void> {
    const run = this.writing.then(() => this.write());
    this.writing = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.tallies.size === 0) return;
    const batch = [...this.tallies.values()];
    this.tallies = new Map();
    // One append per audit chain, so a chain that failed is counted again without the others.
    const byChain = new Map<string | null, Tally[]>();
    for (const tally of batch) {
      const tallies = byChain.get(tally.organizationId);
      if (tallies) tallies.push(tally);
      else byChain.set(tally.organizationId, [tally]);
    }
    let failure: Error | null = null;
    for (const tallies of byChain.values()) {
      try {
        await appendAuditEvents(this.db, tallies.map(toAuditEvent));
      } catch (error) {
        for (const tally of tallies) this.add(tally);
        failure ??= error as Error;
      }
    }
    if (failure !== null) throw failure;
  }

  private add(tally: Tally): void {
    const keyOf = ({ organizationId, clientAddress, reason }: Tally) => `${organizationId ?? ""}\u0000${clientAddress}\u0000${reason}`;
    let key = keyOf(tally);
    if (!this.tallies.has(key) && this.tallies.size >= this.maxTracked) {
      tally = { ...tally, clientAddress: OTHER_CLIENTS };
      key = keyOf(tally);
    }
    const existing = this.tallies.get(key);
    if (!existing) {
      this.tallies.set(key, tally);
      return;
    }
    existing.count += tally.count;
    if (tally.firstAt < existing.firstAt) {
      existing.firstAt = tally.firstAt;
      existing.requestId = tally.requestId;
    }
    if (tally.lastAt > existing.lastAt) existing.lastAt = tally.lastAt;
    for (const [operation, n] of tally.operations) existing.operations.set(operation, (existing.operations.get(operation) ?? 0) + n);
  }
}

function toAuditEvent(tally: Tally): AuditEventInput {
  return {
    organizationId: tally.organizationId,
    actor: { tokenId: null, role: null },
    action: "auth.unauthenticated",
    targetType: "request",
    targetId: null,
    outcome: "denied",
    requestId: tally.requestId,
    details: {
      reason: tally.reason,
      client_address: tally.clientAddress,
      count: tally.count,
      first_at: tally.firstAt.toISOString(),
      last_at: tally.lastAt.toISOString(),
      operations: Object.fromEntries([...tally.operations].sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}
