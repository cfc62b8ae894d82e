import { useState, type FormEvent } from "react";
import { allPages, api, call, problemOf, fieldError, type Problem } from "../api";
import { Link, navigate } from "../router";
import { CutNote, Field, formatTime, ProblemBanner, text, useLoad, Table } from "../ui";

/** Every organization of the deployment (platform admins only), and a form for a new one. */
export function Organizations() {
  const orgs = useLoad(() => allPages((query) => call(api.GET("/v1/organizations", { params: { query } }))), "orgs");
  const [problem, setProblem] = useState<Problem | null>(null);

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setProblem(null);
    try {
      const org = await call(api.POST("/v1/organizations", { body: { name: text(form, "name"), slug: text(form, "slug") } }));
      navigate(`/orgs/${org.id}/credentials`);
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>Organizations</h1>
      <ProblemBanner problem={orgs.problem} />
      <Table columns={["Name", "Slug", "Platform fallback", "Created"]} rows={orgs.data?.items.length}>
        {orgs.data?.items.map((org) => (
          <tr key={org.id}>
            <td>
              <Link to={`/orgs/${org.id}/credentials`}>{org.name}</Link>
            </td>
            <td>{org.slug}</td>
            <td>{org.platform_fallback ? "allowed" : "off"}</td>
            <td>{formatTime(org.created_at)}</td>
          </tr>
        ))}
      </Table>
      <CutNote list={orgs.data} noun="organizations" />
      <section aria-labelledby="new-org">
        <h2 id="new-org">New organization</h2>
        <form onSubmit={(e) => void create(e)} className="inline-form" noValidate>
          <Field label="Name" error={fieldError(problem, "body.name")}>
            {(input) => <input {...input} name="name" required />}
          </Field>
          <Field label="Slug" hint="Lower case letters, digits and dashes." error={fieldError(problem, "body.slug")}>
            {(input) => <input {...input} name="slug" required />}
          </Field>
          <button type="submit" className="primary">
            Create organization
          </button>
        </form>
        <ProblemBanner problem={problem} />
      </section>
    </>
  );
}
