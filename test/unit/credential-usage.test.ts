// The rule that turns a batch of audit events into credential usage totals (a credential's `usage`,
// CredentialUsage in openapi.yaml).
import { describe, expect, it } from "vitest";
import { usageTotals } from "../../service/audit/credential-usage.js";

const resolve = (at: string, fields: { target?: string | null; outcome?: string; token?: string; details?: Record<string, unknown> } = {}) => ({
  action: "credential.resolve",
  outcome: fields.outcome ?? "success",
  target_id: fields.target === undefined ? "cred_a" : fields.target,
  actor_token_id: fields.token ?? "tok_1",
  details: fields.details ?? {},
  created_at: at,
});

describe("usageTotals", () => {
  it("totals per credential and UTC day, the day's last use naming its token, in credential and day order", () => {
    const totals = usageTotals([
      resolve("2025-03-10T00:00:00.000Z", { token: "tok_3" }),
      resolve("2025-03-09T23:59:59.999Z", { token: "tok_2" }),
      resolve("2025-03-09T12:00:00.000Z", { token: "tok_1" }),
      resolve("2025-03-09T13:00:00.000Z", { target: "cred_0" }),
    ]);
    expect(totals).toEqual([
      { credential_id: "cred_0", day: "2025-03-09", resolves: 1, denied: 0, last_used_at: "2025-03-09T13:00:00.000Z", last_used_by: "tok_1" },
      { credential_id: "cred_a", day: "2025-03-09", resolves: 2, denied: 0, last_used_at: "2025-03-09T23:59:59.999Z", last_used_by: "tok_2" },
      { credential_id: "cred_a", day: "2025-03-10", resolves: 1, denied: 0, last_used_at: "2025-03-10T00:00:00.000Z", last_used_by: "tok_3" },
    ]);
  });

  it("counts a resolve that names inactive credentials as denied for each, whatever its outcome, once per resolve", () => {
    const totals = usageTotals([
      resolve("2025-03-09T10:00:00.000Z", { details: { skipped_inactive: ["cred_x", "cred_y", "cred_x"] } }),
      resolve("2025-03-09T11:00:00.000Z", { target: null, outcome: "failure", details: { skipped_inactive: ["cred_x"] } }),
    ]);
    expect(totals).toEqual([
      { credential_id: "cred_a", day: "2025-03-09", resolves: 1, denied: 0, last_used_at: "2025-03-09T10:00:00.000Z", last_used_by: "tok_1" },
      { credential_id: "cred_x", day: "2025-03-09", resolves: 0, denied: 2, last_used_at: null, last_used_by: null },
      { credential_id: "cred_y", day: "2025-03-09", resolves: 0, denied: 1, last_used_at: null, last_used_by: null },
    ]);
  });

  it("adds nothing for failed or denied resolves without skipped credentials, or for other events", () => {
    expect(
      usageTotals([
        resolve("2025-03-09T10:00:00.000Z", { outcome: "failure" }),
        resolve("2025-03-09T10:00:00.000Z", { outcome: "denied", target: null }),
        { ...resolve("2025-03-09T10:00:00.000Z"), action: "environment.resolve" },
        { ...resolve("2025-03-09T10:00:00.000Z"), action: "credential.rotate" },
      ]),
    ).toEqual([]);
  });
});
