import { api, call } from "../api";
import { ProjectOptions, projectName, ProviderFilter, providerName, useProjects, useProviders } from "../catalog";
import { Link } from "../router";
import { useSession } from "../session";
import { ActiveBadge, Field, Pager, ProblemBanner, text, useLoad, Table, useFilteredList } from "../ui";

interface Filters {
  project_id?: string;
  provider?: string;
}

export function ModelAliases({ org }: { org: string }) {
  const { canManage } = useSession();
  const providers = useProviders();
  const projects = useProjects(org);
  const { filters, cursor, setCursor, list, applyFilters } = useFilteredList(
    org,
    // A project's page links here with ?project_id=, to list that project's aliases.
    () => {
      const project = new URLSearchParams(window.location.search).get("project_id");
      return project ? { project_id: project } : {};
    },
    (form): Filters => ({ project_id: text(form, "project_id") || undefined, provider: text(form, "provider") || undefined }),
    (filters, cursor) => call(api.GET("/v1/organizations/{org}/model-aliases", { params: { path: { org }, query: { ...filters, cursor, limit: 50 } } })),
  );
  // The names of the credentials the page's aliases pin, each looked up by id; until they arrive
  // (or if one fails) the link shows the id.
  const pinIds = [...new Set(list.data?.data.flatMap((a) => (a.credential_id ? [a.credential_id] : [])))];
  const pinNames = useLoad(
    () =>
      Promise.allSettled(pinIds.map((id) => call(api.GET("/v1/organizations/{org}/credentials/{id}", { params: { path: { org, id } } })))).then(
        (pins) => new Map(pins.flatMap((pin) => (pin.status === "fulfilled" ? [[pin.value.id, pin.value.name] as const] : []))),
      ),
    `${org}:pins:${pinIds.join()}`,
  );

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1}>Model aliases</h1>
        {canManage && (
          <Link
            className="button primary"
            to={`/orgs/${org}/model-aliases/new${filters.project_id && filters.project_id !== "none" ? `?project_id=${filters.project_id}` : ""}`}
          >
            Add model alias
          </Link>
        )}
      </div>
      <p className="hint">
        Names AI features resolve instead of a bare provider: which model, with which parameters, optionally pinned to one credential, with fallbacks tried in
        order.
      </p>
      <form className="filters" onSubmit={applyFilters} aria-label="Filter model aliases">
        <Field label="Scope">
          {(input) => (
            // Drawn again once the projects arrive, so a project given in the address shows as chosen.
            <select {...input} key={projects.data ? "projects" : "loading"} name="project_id" defaultValue={filters.project_id ?? ""}>
              <option value="">Organization and projects</option>
              <option value="none">Organization-level only</option>
              <ProjectOptions projects={projects.data} />
            </select>
          )}
        </Field>
        <ProviderFilter providers={providers.data} />
        <button type="submit">Apply filters</button>
      </form>
      <ProblemBanner problem={list.problem} />
      <Table
        columns={["Name", "Scope", "Provider", "Model", "Pinned credential", "Fallbacks", "Parameters", "State"]}
        rows={list.data?.data.length}
        empty="No model aliases match."
      >
        {list.data?.data.map((a) => {
          return (
            <tr key={a.id}>
              <td>
                <Link to={`/orgs/${org}/model-aliases/${a.id}`}>{a.name}</Link>
              </td>
              <td>{projectName(projects.data, a.project_id)}</td>
              <td>{providerName(providers.data, a.provider)}</td>
              <td>
                <code>{a.model}</code>
              </td>
              <td>
                {a.credential_id ? (
                  <Link to={`/orgs/${org}/credentials/${a.credential_id}`}>{pinNames.data?.get(a.credential_id) ?? a.credential_id}</Link>
                ) : (
                  <span className="muted">none{a.environment ? ` (${a.environment})` : ""}</span>
                )}
              </td>
              <td>{a.fallbacks.length > 0 ? a.fallbacks.join(" → ") : "—"}</td>
              <td>
                <Params params={a.params} />
              </td>
              <td>
                <ActiveBadge active={a.active} />
              </td>
            </tr>
          );
        })}
      </Table>
      <Pager cursor={cursor} next={list.data?.next_cursor} onPage={setCursor} />
    </>
  );
}

export function Params({ params }: { params: Record<string, string | number | boolean> }) {
  const entries = Object.entries(params);
  if (entries.length === 0) return <>—</>;
  return entries.map(([k, v]) => (
    <span key={k} className="setting">
      {k} = {JSON.stringify(v)}
    </span>
  ));
}
