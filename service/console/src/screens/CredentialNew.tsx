import { useState, type FormEvent } from "react";
import { api, call, fieldError, type CredentialCreate, type Provider } from "../api";
import { ProjectOptions, ProviderOptions, useProjects, useProviders } from "../catalog";
import { Link, navigate } from "../router";
import { readSecret, SecretInputs, secretShape } from "../secret-fields";
import { clearSecrets, cutNote, Field, ProblemBanner, text, useAction } from "../ui";

/** Settings the user filled in, by catalog name; undefined when none. */
function readSettings(form: FormData, provider: Provider): Record<string, string> | undefined {
  const entries = provider.settings_allowed.map((name) => [name, text(form, `setting.${name}`)] as const).filter(([, value]) => value !== "");
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

export function CredentialNew({ org }: { org: string }) {
  const providers = useProviders();
  const projects = useProjects(org);
  const [providerId, setProviderId] = useState("openai");
  const { problem, setProblem, busy, run } = useAction();
  const provider = providers.data?.find((p) => p.id === providerId);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!provider) return;
    const element = event.currentTarget;
    const form = new FormData(element);
    clearSecrets(element);
    const shape = secretShape(provider);
    const optional = (name: string) => text(form, name) || undefined;
    const apiBase = optional("api_base");
    const envVar = optional("env_var");
    const period = optional("rotation_period_days");
    const body: CredentialCreate = {
      provider: provider.id,
      name: text(form, "name"),
      project_id: optional("project_id"),
      environment: optional("environment"),
      owner: optional("owner"),
      description: optional("description"),
      is_default: form.get("is_default") === "on",
      rotation_period_days: period === undefined ? undefined : Number(period),
      api_base: apiBase === (provider.default_api_base ?? undefined) ? undefined : apiBase,
      env_var: envVar === provider.default_env_var ? undefined : envVar,
      settings: readSettings(form, provider),
      ...readSecret(form, shape),
    };
    await run(async () => {
      await call(api.POST("/v1/organizations/{org}/credentials", { params: { path: { org }, header: { "Idempotency-Key": crypto.randomUUID() } }, body }));
      navigate(`/orgs/${org}/credentials`);
    });
  }

  const err = (path: string) => fieldError(problem, path);
  return (
    <>
      <h1 tabIndex={-1}>Add credential</h1>
      <ProblemBanner problem={providers.problem ?? projects.problem} />
      <form className="stacked" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Provider" error={err("body.provider")}>
          {(input) => (
            <select
              {...input}
              name="provider"
              value={providerId}
              onChange={(e) => {
                setProviderId(e.target.value);
                setProblem(null);
              }}
            >
              <ProviderOptions providers={providers.data} />
            </select>
          )}
        </Field>
        <Field label="Name" hint="Unique per provider within its project or organization." error={err("body.name")}>
          {(input) => <input {...input} name="name" required maxLength={128} />}
        </Field>
        <Field label="Project" hint={cutNote(projects.data, "projects")} error={err("body.project_id")}>
          {(input) => (
            <select {...input} name="project_id" defaultValue="">
              <option value="">Organization-level</option>
              <ProjectOptions projects={projects.data} />
            </select>
          )}
        </Field>
        {/* Keyed by provider: its defaults and fields replace the previous provider's. */}
        <fieldset key={providerId}>
          <legend>{provider ? `${provider.display_name} secret and settings` : "Secret"}</legend>
          {provider && <SecretInputs provider={provider} shape={secretShape(provider)} problem={problem} />}
          <Field
            label="API base"
            hint={provider?.default_api_base ? `Default: ${provider.default_api_base}` : "This provider has no default."}
            error={err("body.api_base")}
          >
            {(input) => <input {...input} name="api_base" type="url" defaultValue={provider?.default_api_base ?? ""} />}
          </Field>
          <Field label="Environment variable" error={err("body.env_var")}>
            {(input) => <input {...input} name="env_var" defaultValue={provider?.default_env_var ?? ""} />}
          </Field>
          {provider?.settings_allowed.map((name) => (
            <Field key={name} label={`Setting: ${name}`} error={err(`body.settings.${name}`)}>
              {(input) => <input {...input} name={`setting.${name}`} />}
            </Field>
          ))}
        </fieldset>
        <Field label="Environment" hint="Default: production." error={err("body.environment")}>
          {(input) => <input {...input} name="environment" placeholder="production" />}
        </Field>
        <Field label="Owner" hint="Who rotates it." error={err("body.owner")}>
          {(input) => <input {...input} name="owner" />}
        </Field>
        <Field label="Description" error={err("body.description")}>
          {(input) => <textarea {...input} name="description" rows={2} />}
        </Field>
        <Field label="Rotation period (days)" error={err("body.rotation_period_days")}>
          {(input) => <input {...input} name="rotation_period_days" type="number" min={1} max={3650} />}
        </Field>
        <div className="check">
          <input id="is_default" name="is_default" type="checkbox" />
          <label htmlFor="is_default">Default for its provider and environment</label>
        </div>
        <ProblemBanner problem={problem} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || !provider}>
            Add credential
          </button>
          <Link className="button" to={`/orgs/${org}/credentials`}>
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}
