import { useState, type FormEvent } from "react";
import { api, call, problemOf, type AuditVerifyResult, type Problem } from "../api";
import { Field, formatTime, Pager, ProblemBanner, text, useLoad, Table } from "../ui";

interface Filters {
  action?: string;
  target_id?: string;
  since?: string;
}

export function Audit({ org }: { org: string }) {
  const [filters, setFilters] = useState<Filters>(() => {
    const target = new URLSearchParams(window.location.search).get("target_id");
    return target ? { target_id: target } : {};
  });
  const [cursor, setCursor] = useState<string | undefined>();
  const events = useLoad(
    () => call(api.GET("/v1/organizations/{org}/audit-events", { params: { path: { org }, query: { ...filters, cursor, limit: 100 } } })),
    JSON.stringify([org, filters, cursor]),
  );
  const [verified, setVerified] = useState<AuditVerifyResult | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  function apply(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const since = text(form, "since");
    setCursor(undefined);
    setFilters({
      action: text(form, "action") || undefined,
      target_id: text(form, "target_id") || undefined,
      since: since ? new Date(since).toISOString() : undefined,
    });
  }

  async function verify() {
    setProblem(null);
    setVerified(null);
    try {
      setVerified(await call(api.POST("/v1/organizations/{org}/audit-events/verify", { params: { path: { org } } })));
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1}>Audit log</h1>
        <button type="button" className="primary" onClick={() => void verify()}>
          Verify chain
        </button>
      </div>
      {verified && (
        <p role="status" className={verified.valid ? "notice ok" : "notice warn"}>
          {verified.valid
            ? `Chain verified: ${verified.checked} events checked, no broken link.`
            : `Chain broken at event ${verified.broken_at_seq}: ${verified.reason} (${verified.checked} events checked).`}
        </p>
      )}
      <ProblemBanner problem={problem} />
      <form className="filters" onSubmit={apply} aria-label="Filter audit events">
        <Field label="Action">{(input) => <input {...input} name="action" placeholder="credential.rotate" defaultValue={filters.action} />}</Field>
        <Field label="Target id">{(input) => <input {...input} name="target_id" defaultValue={filters.target_id} />}</Field>
        <Field label="Since">{(input) => <input {...input} name="since" type="datetime-local" />}</Field>
        <button type="submit">Apply filters</button>
      </form>
      <ProblemBanner problem={events.problem} />
      <Table columns={["#", "Time", "Action", "Outcome", "Actor", "Target", "Details"]} rows={events.data?.data.length} empty="No events match.">
        {events.data?.data.map((e) => (
          <tr key={e.id}>
            <td>{e.seq}</td>
            <td>{formatTime(e.created_at)}</td>
            <td>{e.action}</td>
            <td>{e.outcome}</td>
            <td>{e.actor_role ? `${e.actor_role} ${e.actor_token_id ?? ""}` : "unauthenticated"}</td>
            <td>{e.target_id ? `${e.target_type} ${e.target_id}` : e.target_type}</td>
            <td>
              <code className="details">{JSON.stringify(e.details)}</code>
            </td>
          </tr>
        ))}
      </Table>
      <Pager cursor={cursor} next={events.data?.next_cursor} onPage={setCursor} />
    </>
  );
}
