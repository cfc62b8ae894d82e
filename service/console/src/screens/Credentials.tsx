import { api, call } from "../api";
import { ProjectOptions, projectName, ProviderFilter, providerName, useProjects, useProviders } from "../catalog";
import { Link } from "../router";
import { useSession } from "../session";
import { ActiveBadge, Badge, cutNote, Field, formatTime, LastUsed, Pager, ProblemBanner, text, Table, useFilteredList } from "../ui";

interface Filters {
  provider?: string;
  project_id?: string;
  environment?: string;
  active?: boolean;
  rotation_due?: boolean;
}

const yesNo = (value: string) => (value === "true" ? true : value === "false" ? false : undefined);

export function Credentials({ org }: { org: string }) {
  const { canManage } = useSession();
  const providers = useProviders();
  const projects = useProjects(org);
  const { cursor, setCursor, list, applyFilters } = useFilteredList(
    org,
    {},
    (form): Filters => ({
      provider: text(form, "provider") || undefined,
      project_id: text(form, "project_id") || undefined,
      environment: text(form, "environment") || undefined,
      active: yesNo(text(form, "active")),
      rotation_due: yesNo(text(form, "rotation_due")),
    }),
    (filters, cursor) => call(api.GET("/v1/organizations/{org}/credentials", { params: { path: { org }, query: { ...filters, cursor, limit: 50 } } })),
  );

  const now = Date.now();
  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1}>Credentials</h1>
        {canManage && (
          <Link className="button primary" to={`/orgs/${org}/credentials/new`}>
            Add credential
          </Link>
        )}
      </div>
      <form className="filters" onSubmit={applyFilters} aria-label="Filter credentials">
        <ProviderFilter providers={providers.data} />
        <Field label="Project" hint={cutNote(projects.data, "projects")}>
          {(input) => (
            <select {...input} name="project_id" defaultValue="">
              <option value="">Any</option>
              <option value="none">Organization-level only</option>
              <ProjectOptions projects={projects.data} />
            </select>
          )}
        </Field>
        <Field label="Environment">{(input) => <input {...input} name="environment" placeholder="any" />}</Field>
        <Field label="State">
          {(input) => (
            <select {...input} name="active" defaultValue="">
              <option value="">Active and inactive</option>
              <option value="true">Active</option>
              <option value="false">Inactive</option>
            </select>
          )}
        </Field>
        <Field label="Rotation">
          {(input) => (
            <select {...input} name="rotation_due" defaultValue="">
              <option value="">Any</option>
              <option value="true">Rotation due</option>
              <option value="false">Not due</option>
            </select>
          )}
        </Field>
        <button type="submit">Apply filters</button>
      </form>
      <ProblemBanner problem={list.problem} />
      <Table
        columns={["Name", "Provider", "Project", "Environment", "Key hint", "State", "Rotation due", "Last used", "Last verified", "Owner"]}
        rows={list.data?.data.length}
        empty="No credentials match."
      >
        {list.data?.data.map((c) => {
          const due = c.rotation_due_at !== null && Date.parse(c.rotation_due_at) <= now;
          return (
            <tr key={c.id}>
              <td>
                <Link to={`/orgs/${org}/credentials/${c.id}`}>{c.name}</Link>
              </td>
              <td>{providerName(providers.data, c.provider)}</td>
              <td>{projectName(projects.data, c.project_id)}</td>
              <td>{c.environment}</td>
              <td>
                <code className="hint-text">{c.key_hint}</code> <span className="muted">v{c.key_version}</span>
              </td>
              <td>
                <ActiveBadge active={c.active} /> {c.is_default && <Badge tone="info">Default</Badge>}
              </td>
              <td>{due ? <Badge tone="warn">Due {formatTime(c.rotation_due_at)}</Badge> : formatTime(c.rotation_due_at)}</td>
              <td>
                <LastUsed usage={c.usage} />
              </td>
              <td>{c.last_verify_status ? `${c.last_verify_status}, ${formatTime(c.last_verified_at)}` : "—"}</td>
              <td>{c.owner ?? "—"}</td>
            </tr>
          );
        })}
      </Table>
      <Pager cursor={cursor} next={list.data?.next_cursor} onPage={setCursor} />
    </>
  );
}
