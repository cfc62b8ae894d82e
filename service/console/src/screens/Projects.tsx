import { useState, type FormEvent } from "react";
import { api, call, fieldError, ifMatch, problemOf, type Problem, type Project } from "../api";
import { useProjects } from "../catalog";
import { Link } from "../router";
import { useSession } from "../session";
import { CutNote, Field, formatTime, ProblemBanner, text, Table } from "../ui";

export function Projects({ org }: { org: string }) {
  const { canManage } = useSession();
  const projects = useProjects(org);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [createProblem, setCreateProblem] = useState<Problem | null>(null);

  async function setInherit(project: Project, inherit: boolean) {
    setProblem(null);
    try {
      await call(
        api.PATCH("/v1/organizations/{org}/projects/{project}", {
          params: { path: { org, project: project.id }, header: ifMatch(project) },
          body: { inherit_organization_credentials: inherit },
        }),
      );
    } catch (error) {
      setProblem(problemOf(error));
    }
    projects.reload();
  }

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    setCreateProblem(null);
    try {
      await call(
        api.POST("/v1/organizations/{org}/projects", {
          params: { path: { org } },
          body: {
            name: text(form, "name"),
            description: text(form, "description") || undefined,
            inherit_organization_credentials: form.get("inherit") === "on",
          },
        }),
      );
      element.reset();
      projects.reload();
    } catch (error) {
      setCreateProblem(problemOf(error));
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>Projects</h1>
      <p className="hint">A project that inherits resolves the organization's credentials when it has none of its own for a provider.</p>
      <ProblemBanner problem={projects.problem ?? problem} />
      <Table
        columns={["Name", "Description", "Inherits organization credentials", "Model aliases", "Updated"]}
        rows={projects.data?.items.length}
        empty="No projects yet."
      >
        {projects.data?.items.map((project) => (
          <tr key={`${project.id}:${project.version}`}>
            <td>{project.name}</td>
            <td>{project.description ?? "—"}</td>
            <td>
              {canManage ? (
                <label className="check">
                  <input
                    type="checkbox"
                    defaultChecked={project.inherit_organization_credentials}
                    onChange={(e) => void setInherit(project, e.target.checked)}
                  />
                  Inherit ({project.name})
                </label>
              ) : project.inherit_organization_credentials ? (
                "yes"
              ) : (
                "no"
              )}
            </td>
            <td>
              <Link to={`/orgs/${org}/model-aliases?project_id=${project.id}`} aria-label={`Model aliases of ${project.name}`}>
                Model aliases
              </Link>
            </td>
            <td>{formatTime(project.updated_at)}</td>
          </tr>
        ))}
      </Table>
      <CutNote list={projects.data} noun="projects" />
      {canManage && (
        <section aria-labelledby="new-project">
          <h2 id="new-project">New project</h2>
          <form className="inline-form" onSubmit={(e) => void create(e)} noValidate>
            <Field label="Name" error={fieldError(createProblem, "body.name")}>
              {(input) => <input {...input} name="name" required />}
            </Field>
            <Field label="Description" error={fieldError(createProblem, "body.description")}>
              {(input) => <input {...input} name="description" />}
            </Field>
            <div className="check">
              <input id="new-project-inherit" name="inherit" type="checkbox" />
              <label htmlFor="new-project-inherit">Inherit organization credentials</label>
            </div>
            <button type="submit" className="primary">
              Create project
            </button>
          </form>
          <ProblemBanner problem={createProblem} />
        </section>
      )}
    </>
  );
}
