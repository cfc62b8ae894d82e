// The fields of a model alias, for the add page and the edit form: provider, model, the pinned
// credential (picked among the provider's credentials the alias may pin), environment, ordered
// fallbacks (picked among the alias names visible from its scope), parameters, state and notes.
import { useState } from "react";
import { allPages, api, call, fieldError, type Credential, type ModelAlias, type Problem, type Project } from "./api";
import { ProviderOptions, providerName, useProviders } from "./catalog";
import { cutNote, Field, text, useChoiceSearch, useLoad } from "./ui";

const MAX_FALLBACKS = 5;

/** What the form holds, in the contract's terms; null clears on update, and is left out on create. */
export interface AliasValues {
  name: string;
  provider: string;
  model: string;
  credential_id: string | null;
  environment: string | null;
  params: ModelAlias["params"];
  fallbacks: string[];
  active: boolean;
  description: string | null;
  owner: string | null;
}

/** Parameters are typed as a JSON object: numbers and booleans keep their type. */
function readParams(raw: string): ModelAlias["params"] | null {
  if (raw === "") return {};
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as ModelAlias["params"]) : null;
  } catch {
    return null;
  }
}

/** The form's values, or the problem that stops them before they are sent (a problem of the same shape as the service's). */
export function readAlias(form: FormData, fallbacks: string[]): AliasValues | Problem {
  const params = readParams(text(form, "params"));
  if (params === null) {
    const errors = [{ path: "body.params", message: 'must be a JSON object, e.g. {"temperature": 0.2}' }];
    return {
      type: "about:blank",
      title: "Invalid parameters",
      status: 422,
      code: "validation_failed",
      detail: "The parameters are not a JSON object.",
      errors,
      request_id: "",
    };
  }
  return {
    name: text(form, "name"),
    provider: text(form, "provider"),
    model: text(form, "model"),
    credential_id: text(form, "credential_id") || null,
    environment: text(form, "environment") || null,
    params,
    fallbacks,
    active: form.get("active") === "on",
    description: text(form, "description") || null,
    owner: text(form, "owner") || null,
  };
}

export const isProblem = (value: AliasValues | Problem): value is Problem => "status" in value;

/** Alias names a fallback may name: the project's own and, if it inherits, the organization's; for an organization alias, the organization's. */
function visibleNames(aliases: ModelAlias[], projectId: string | null, project: Project | undefined, self: string | undefined): string[] {
  const scopes = projectId ? [projectId, ...(project?.inherit_organization_credentials ? [null] : [])] : [null];
  const names = aliases.filter((a) => a.id !== self && scopes.includes(a.project_id)).map((a) => a.name);
  return [...new Set(names)].sort();
}

const credentialLabel = (c: Credential) => `${c.name} (${c.environment}, ${c.key_hint})${c.active ? "" : " — inactive"}`;

interface Props {
  org: string;
  /** The alias being edited; absent when adding one. */
  alias?: ModelAlias;
  /** The alias's project (fixed after create), or null for the organization. */
  projectId: string | null;
  /** That project, once loaded (whether it inherits decides which fallbacks it sees). */
  project: Project | undefined;
  problem: Problem | null;
  fallbacks: string[];
  onFallbacks: (fallbacks: string[]) => void;
}

export function AliasFields({ org, alias, projectId, project, problem, fallbacks, onFallbacks }: Props) {
  const providers = useProviders();
  const [provider, setProvider] = useState(alias?.provider ?? "openai");
  const [credentialId, setCredentialId] = useState(alias?.credential_id ?? "");
  // An alias pins a credential of its provider, organization-level or of its own project: the
  // service narrows to those, scope by scope, so a cut list holds only pinnable ones.
  const scopes = projectId ? [projectId, "none"] : ["none"];
  const credentials = useLoad(async () => {
    const lists = await Promise.all(
      scopes.map((scope) =>
        allPages((query) =>
          call(api.GET("/v1/organizations/{org}/credentials", { params: { path: { org }, query: { ...query, provider, project_id: scope } } })),
        ),
      ),
    );
    return { items: lists.flatMap((l) => l.items), more: lists.some((l) => l.more) };
  }, `${org}:credentials:${provider}:${scopes.join()}`);
  const aliases = useLoad(
    () => allPages((query) => call(api.GET("/v1/organizations/{org}/model-aliases", { params: { path: { org }, query } }))),
    `${org}:aliases`,
  );
  const pinnable = credentials.data?.items ?? [];
  const pins = useChoiceSearch(pinnable, credentialLabel, (c) => c.id === credentialId, "credentials");
  const candidates = visibleNames(aliases.data?.items ?? [], projectId, project, alias?.id);
  const unused = candidates.filter((n) => !fallbacks.includes(n));
  const err = (path: string) => fieldError(problem, path);
  const params = alias && Object.keys(alias.params).length > 0 ? JSON.stringify(alias.params, null, 2) : "";

  const move = (from: number, to: number) => {
    const next = [...fallbacks];
    const [name] = next.splice(from, 1);
    next.splice(to, 0, name);
    onFallbacks(next);
  };

  return (
    <>
      <Field label="Name" hint="What AI features ask for: lower case, digits, '.', '_' and '-'." error={err("body.name")}>
        {(input) => <input {...input} name="name" defaultValue={alias?.name} required maxLength={63} />}
      </Field>
      <Field label="Provider" error={err("body.provider")}>
        {(input) => (
          <select
            {...input}
            name="provider"
            value={provider}
            onChange={(e) => {
              setProvider(e.target.value);
              // A pin of another provider is no longer a choice.
              setCredentialId(alias?.provider === e.target.value ? (alias.credential_id ?? "") : "");
            }}
          >
            {/* Until the catalog arrives, the current choice is still the one sent. */}
            {providers.data ? <ProviderOptions providers={providers.data} /> : <option value={provider}>{provider}</option>}
          </select>
        )}
      </Field>
      <Field label="Model" hint="As the provider spells it, e.g. gpt-5 or claude-sonnet-4-5." error={err("body.model")}>
        {(input) => <input {...input} name="model" defaultValue={alias?.model} required maxLength={200} />}
      </Field>
      <Field
        label="Pinned credential"
        hint={[
          `Without a pin the alias resolves ${providerName(providers.data, provider)} as usual.`,
          `${projectId ? "Organization-level credentials and the project's own" : "Organization-level credentials"} can be pinned.`,
          cutNote(credentials.data, "credentials"),
        ]
          .filter(Boolean)
          .join(" ")}
        error={err("body.credential_id")}
      >
        {(input) => (
          <>
            {pins.box}
            {/* Controlled: the choices arrive after the form is drawn, and the alias's pin must stay chosen. */}
            <select {...input} name="credential_id" value={credentialId} onChange={(e) => setCredentialId(e.target.value)}>
              <option value="">None: resolve by provider</option>
              {/* Until the credentials arrive, the pin is still the one sent (a DOM select cannot hold a value it has no option for). */}
              {credentialId && !pinnable.some((c) => c.id === credentialId) && <option value={credentialId}>{credentialId}</option>}
              {pins.shown.map((c) => (
                <option key={c.id} value={c.id}>
                  {credentialLabel(c)}
                </option>
              ))}
            </select>
          </>
        )}
      </Field>
      <Field label="Environment" hint="Narrows resolution when nothing is pinned; empty: the caller's." error={err("body.environment")}>
        {(input) => <input {...input} name="environment" defaultValue={alias?.environment ?? ""} />}
      </Field>
      <fieldset>
        <legend>Fallbacks, tried in order when this alias resolves no active credential</legend>
        {fallbacks.length === 0 && <p className="hint">None.</p>}
        <ol className="fallbacks">
          {fallbacks.map((name, i) => (
            <li key={`${i}:${name}`}>
              <Field label={`Fallback ${i + 1}`} error={err(`body.fallbacks.${i}`)}>
                {(input) => (
                  <select {...input} value={name} onChange={(e) => onFallbacks(fallbacks.map((n, j) => (j === i ? e.target.value : n)))}>
                    {[name, ...unused].map((n) => (
                      <option key={n}>{n}</option>
                    ))}
                  </select>
                )}
              </Field>
              <button type="button" aria-label={`Move ${name} up`} disabled={i === 0} onClick={() => move(i, i - 1)}>
                Up
              </button>
              <button type="button" aria-label={`Move ${name} down`} disabled={i === fallbacks.length - 1} onClick={() => move(i, i + 1)}>
                Down
              </button>
              <button type="button" aria-label={`Remove fallback ${name}`} onClick={() => onFallbacks(fallbacks.filter((_, j) => j !== i))}>
                Remove
              </button>
            </li>
          ))}
        </ol>
        {fieldError(problem, "body.fallbacks") && <p className="field-error">{fieldError(problem, "body.fallbacks")}</p>}
        <button type="button" disabled={unused.length === 0 || fallbacks.length >= MAX_FALLBACKS} onClick={() => onFallbacks([...fallbacks, unused[0]])}>
          Add fallback
        </button>
        {candidates.length === 0 && <p className="hint">No other alias is visible from this scope yet.</p>}
      </fieldset>
      <Field
        label="Parameters (JSON object)"
        hint='Non-secret call parameters handed over with the key, e.g. {"temperature": 0.2, "max_tokens": 2048}.'
        error={fieldError(problem, "body.params", { nested: true })}
      >
        {(input) => <textarea {...input} name="params" rows={Math.min(8, params.split("\n").length + 1)} spellCheck={false} defaultValue={params} />}
      </Field>
      <Field label="Owner" error={err("body.owner")}>
        {(input) => <input {...input} name="owner" defaultValue={alias?.owner ?? ""} />}
      </Field>
      <Field label="Description" error={err("body.description")}>
        {(input) => <textarea {...input} name="description" rows={2} defaultValue={alias?.description ?? ""} />}
      </Field>
      <div className="check">
        <input id="alias-active" name="active" type="checkbox" defaultChecked={alias?.active ?? true} />
        <label htmlFor="alias-active">Active (an inactive alias resolves nothing and is skipped as a fallback)</label>
      </div>
    </>
  );
}
