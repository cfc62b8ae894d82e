// Group commit for the audit events of the resolve hot path. Every resolve must be audited
// before its secret leaves the service (like Vault, a resolve that cannot be audited fails), but
// one transaction per event (lock the chain, read its last link, insert, commit) would cost more
// than the resolve itself. Events queue up while batches are being written and the next batch
// appends all of them to their chains in one transaction: under load, many resolves share one
// commit; alone, a resolve pays one. The same statement adds the batch's resolves to the
// credentials' usage totals (credential-usage.ts), so usage costs a resolve no write of its own.
import { ALL_ORGANIZATIONS, withOrganizationScope, type Db } from "../db/index.js";
import { appendAuditEvents, type AuditEventInput } from "./audit-service.js";

// A batch travels as one JSON parameter: 500 events keep it to a few hundred kilobytes.
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
    private readonly maxInFlight = 1,
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
      // One statement per chain, each its own transaction (no BEGIN/COMMIT round trips), written
      // in that chain's organization scope: the connections then keep the scope the resolves
      // themselves use, instead of switching to '*' and back around every batch.
      const byOrganization = new Map<string | null, AuditEventInput[]>();
      for (const { input } of batch) {
        const inputs = byOrganization.get(input.organizationId);
        if (inputs) inputs.push(input);
        else byOrganization.set(input.organizationId, [input]);
      }
      for (const [organizationId, inputs] of byOrganization) {
        await withOrganizationScope(organizationId ?? ALL_ORGANIZATIONS, () => appendAuditEvents(this.db, inputs));
      }
      for (const p of batch) p.done();
    } catch (error) {
      for (const p of batch) p.failed(error);
    } finally {
      this.inFlight -= 1;
      this.schedule();
    }
  }
}
