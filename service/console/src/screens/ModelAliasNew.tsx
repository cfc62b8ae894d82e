import { useState, type FormEvent } from "react";
import { api, call, fieldError, type ModelAliasCreate } from "../api";
import { AliasFields, isProblem, readAlias } from "../alias-fields";
import { ProjectOptions, useProjects } from "../catalog";
import { Link, navigate } from "../router";
import { cutNote, Field, ProblemBanner, useAction } from "../ui";

export function ModelAliasNew({ org }: { org: string }) {
  const projects = useProjects(org);
  const [projectId, setProjectId] = useState(() => new URLSearchParams(window.location.search).get("project_id") ?? "");
  const [fallbacks, setFallbacks] = useState<string[]>([]);
  const { problem, setProblem, busy, run } = useAction();
  const project = projects.data?.items.find((p) => p.id === projectId);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const values = readAlias(new FormData(event.currentTarget), fallbacks);
    if (isProblem(values)) return setProblem(values);
    // On create an empty field is left out, so the service's defaults apply.
    const body = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null)) as ModelAliasCreate;
    if (projectId) body.project_id = projectId;
    await run(async () => {
      const created = await call(api.POST("/v1/organizations/{org}/model-aliases", { params: { path: { org } }, body }));
      navigate(`/orgs/${org}/model-aliases/${created.id}`);
    });
  }

  return (
    <>
      <p className="crumbs">
        <Link to={`/orgs/${org}/model-aliases`}>Model aliases</Link> /
      </p>
      <h1 tabIndex={-1}>Add model alias</h1>
      <ProblemBanner problem={projects.problem} />
      <form className="stacked" onSubmit={(e) => void submit(e)} noValidate>
        <Field
          label="Project"
          hint={["Fixed once the alias exists.", cutNote(projects.data, "projects")].filter(Boolean).join(" ")}
          error={fieldError(problem, "body.project_id")}
        >
          {(input) => (
            <select
              {...input}
              value={projectId}
              onChange={(e) => {
                setProjectId(e.target.value);
                // Another scope sees other names: fallbacks picked for the old one may not exist there.
                setFallbacks([]);
              }}
            >
              <option value="">Organization-level</option>
              <ProjectOptions projects={projects.data} />
            </select>
          )}
        </Field>
        <AliasFields org={org} projectId={projectId || null} project={project} problem={problem} fallbacks={fallbacks} onFallbacks={setFallbacks} />
        <ProblemBanner problem={problem} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Add model alias
          </button>
          <Link className="button" to={`/orgs/${org}/model-aliases`}>
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}
