import { useState, type FormEvent, type ReactNode } from "react";
import {
  allPages,
  api,
  call,
  fieldError,
  ifMatch,
  inUseOf,
  LIST_CAP,
  problemOf,
  type Credential,
  type CredentialUpdate,
  type Problem,
  type Provider,
  type VerifyResult,
} from "../api";
import { projectName, providerName, useProjects, useProviders } from "../catalog";
import { Link, navigate } from "../router";
import { readSecret, SecretInputs, secretShape, type SecretShape } from "../secret-fields";
import { useSession } from "../session";
import {
  ActiveBadge,
  Ago,
  Badge,
  clearSecrets,
  Conflict,
  EditPanel,
  Dialog,
  Field,
  formatTime,
  LastUsed,
  ProblemBanner,
  text,
  Table,
  Unloaded,
  useAction,
  useEdit,
  useLoad,
  UsedBy,
  DialogActions,
} from "../ui";

const CATEGORIES = ["llm_provider", "mcp_service", "runtime", "communication", "ssh_key", "custom"] as const;
const GRACE_CHOICES: [number, string][] = [
  [0, "None: the old key stops at once"],
  [3600, "1 hour"],
  [86400, "1 day"],
  [604800, "7 days"],
];

function shapeOf(credential: Credential, provider: Provider | undefined): SecretShape {
  if (provider && provider.credential_type === credential.type) return secretShape(provider);
  const single = credential.type === "api_token";
  return { single, fields: single ? [{ name: "api_key", required: true }] : credential.secret_fields.map((name) => ({ name, required: true })) };
}

type Panel = "edit" | "rotate" | "delete" | "deactivate" | null;

export function CredentialDetail({ org, id }: { org: string; id: string }) {
  const { canManage } = useSession();
  const path = { org, id };
  const loaded = useLoad(() => call(api.GET("/v1/organizations/{org}/credentials/{id}", { params: { path } })), `${org}/${id}`);
  const credential = loaded.data;
  const versions = useLoad(
    () => call(api.GET("/v1/organizations/{org}/credentials/{id}/versions", { params: { path } })),
    `${org}/${id}/v${credential?.key_version ?? 0}`,
  );
  // The list has no filter by pin: the aliases that pin this credential are found among all of them.
  const pinnedBy = useLoad(
    () =>
      allPages((query) => call(api.GET("/v1/organizations/{org}/model-aliases", { params: { path: { org }, query } }))).then((list) => ({
        ...list,
        items: list.items.filter((a) => a.credential_id === id),
      })),
    `${org}/${id}/aliases`,
  );
  const providers = useProviders();
  const projects = useProjects(org);
  const [panel, setPanel] = useState<Panel>(null);
  const { problem, setProblem, busy, run: act } = useAction();
  const [verified, setVerified] = useState<VerifyResult | null>(null);

  if (!credential) return <Unloaded title="Credential" problem={loaded.problem} />;
  const provider = providers.data?.find((p) => p.id === credential.provider);
  const verify = () =>
    act(async () => {
      setVerified(await call(api.POST("/v1/organizations/{org}/credentials/{id}/verify", { params: { path } })));
      loaded.reload();
    });
  const activate = () =>
    act(async () => {
      loaded.setData(await call(api.POST("/v1/organizations/{org}/credentials/{id}/activate", { params: { path, header: ifMatch(credential) } })));
    });
  // Without force first: a credential in use comes back as a 409 that the warning below explains.
  const deactivate = (force: boolean) =>
    act(async () => {
      try {
        const query = force ? { force: true } : {};
        loaded.setData(await call(api.POST("/v1/organizations/{org}/credentials/{id}/deactivate", { params: { path, header: ifMatch(credential), query } })));
        setPanel(null);
      } catch (error) {
        if (inUseOf(problemOf(error)) && !force) setPanel("deactivate");
        throw error;
      }
    });
  const reload = () => {
    setProblem(null);
    loaded.reload();
  };

  return (
    <>
      <p className="crumbs">
        <Link to={`/orgs/${org}/credentials`}>Credentials</Link> /
      </p>
      <div className="page-head">
        <h1 tabIndex={-1}>{credential.name}</h1>
        <span>
          <ActiveBadge active={credential.active} /> {credential.is_default && <Badge tone="info">Default</Badge>}
        </span>
      </div>
      <dl className="summary">
        <dt>Key hint</dt>
        <dd>
          <code className="hint-text">{credential.key_hint}</code> (version {credential.key_version})
        </dd>
        <dt>Provider</dt>
        <dd>{providerName(providers.data, credential.provider)}</dd>
        <dt>Project</dt>
        <dd>{projectName(projects.data, credential.project_id)}</dd>
        <dt>Environment</dt>
        <dd>{credential.environment}</dd>
        <dt>Type</dt>
        <dd>
          {credential.type} ({credential.category})
        </dd>
        <dt>API base</dt>
        <dd>{credential.api_base ?? "—"}</dd>
        <dt>Environment variable</dt>
        <dd>
          <code>{credential.env_var}</code>
        </dd>
        <dt>Settings</dt>
        <dd>
          {Object.keys(credential.settings).length === 0
            ? "—"
            : Object.entries(credential.settings).map(([k, v]) => (
                <span key={k} className="setting">
                  {k} = {v}
                </span>
              ))}
        </dd>
        <dt>Owner</dt>
        <dd>{credential.owner ?? "—"}</dd>
        <dt>Description</dt>
        <dd>{credential.description ?? "—"}</dd>
        <dt>Rotation</dt>
        <dd>
          {credential.rotation_period_days ? `every ${credential.rotation_period_days} days, due ${formatTime(credential.rotation_due_at)}` : "no period"}; last
          rotated {formatTime(credential.rotated_at)}
        </dd>
        <dt>Last verified</dt>
        <dd>{credential.last_verify_status ? `${credential.last_verify_status}, ${formatTime(credential.last_verified_at)}` : "never"}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(credential.updated_at)}</dd>
      </dl>

      <section aria-labelledby="usage">
        <h2 id="usage">Usage</h2>
        <dl className="summary">
          <dt>Last used</dt>
          <dd>
            <LastUsed usage={credential.usage} />
          </dd>
          <dt>Resolves in 30 days</dt>
          <dd>{credential.usage.resolves_30d}</dd>
          <dt>Denied since deactivation</dt>
          <dd>{credential.active ? "— (active)" : credential.usage.denied_since_deactivation}</dd>
          <dt>Pinned by model aliases</dt>
          <dd>
            {pinnedBy.data?.items.length
              ? pinnedBy.data.items.map((a) => (
                  <span key={a.id} className="setting">
                    <Link to={`/orgs/${org}/model-aliases/${a.id}`}>{a.name}</Link>
                    {!a.active && " (inactive)"}
                  </span>
                ))
              : "none"}
            {pinnedBy.data?.more && <span className="muted"> (looked for among the first {LIST_CAP.toLocaleString("en")} model aliases)</span>}
          </dd>
        </dl>
      </section>

      {canManage && (
        <div className="actions" role="group" aria-label="Credential actions">
          <button type="button" onClick={() => setPanel(panel === "edit" ? null : "edit")} aria-expanded={panel === "edit"}>
            Edit
          </button>
          <button type="button" onClick={() => setPanel("rotate")}>
            Rotate
          </button>
          <button type="button" onClick={() => void verify()} disabled={busy}>
            Verify
          </button>
          {credential.active ? (
            <button type="button" onClick={() => void deactivate(false)} disabled={busy}>
              Deactivate
            </button>
          ) : (
            <button type="button" onClick={() => void activate()} disabled={busy}>
              Activate
            </button>
          )}
          <button type="button" className="danger" onClick={() => setPanel("delete")}>
            Delete
          </button>
        </div>
      )}
      {panel === "deactivate" && inUseOf(problem) ? (
        <InUseWarning org={org} problem={problem}>
          <button type="button" className="danger" disabled={busy} onClick={() => void deactivate(true)}>
            Deactivate anyway
          </button>
          <button
            type="button"
            onClick={() => {
              setPanel(null);
              setProblem(null);
            }}
          >
            Keep it active
          </button>
        </InUseWarning>
      ) : (
        <Conflict noun="credential" problem={problem} onReload={reload} />
      )}
      {verified && (
        <p role="status" className={verified.status === "ok" ? "notice ok" : "notice warn"}>
          Verify: <strong>{verified.status}</strong> — {verified.detail}
          {verified.model_count !== null && ` (${verified.model_count} models)`}
        </p>
      )}
      {panel === "edit" && (
        <EditForm
          key={credential.version}
          credential={credential}
          provider={provider}
          onChanged={(updated) => {
            loaded.setData(updated);
            setPanel(null);
          }}
          onReload={reload}
        />
      )}
      {panel === "rotate" && <RotateDialog credential={credential} provider={provider} onChanged={loaded.setData} onClose={() => setPanel(null)} />}
      {panel === "delete" && <DeleteDialog credential={credential} onClose={() => setPanel(null)} />}

      <section aria-labelledby="versions">
        <h2 id="versions">Key versions</h2>
        <ProblemBanner problem={versions.problem} />
        <Table columns={["Version", "Key hint", "State", "Created", "Grace until", "Destroyed"]} rows={versions.data?.data.length}>
          {versions.data?.data.map((v) => (
            <tr key={v.key_version}>
              <td>{v.key_version}</td>
              <td>
                <code className="hint-text">{v.key_hint}</code>
              </td>
              <td>{v.state}</td>
              <td>{formatTime(v.created_at)}</td>
              <td>{formatTime(v.grace_expires_at)}</td>
              <td>{formatTime(v.destroyed_at)}</td>
            </tr>
          ))}
        </Table>
      </section>
      <p>
        <Link to={`/orgs/${org}/audit?target_id=${credential.id}`}>Audit events of this credential</Link>
      </p>
    </>
  );
}

/** A 409 `credential_in_use`: the service's explanation, the aliases that pin it, its last use, and the choices. */
function InUseWarning({ org, problem, children }: { org: string; problem: Problem | null; children: ReactNode }) {
  const inUse = inUseOf(problem);
  if (!problem || !inUse) return null;
  return (
    <div className="problem" role="alert">
      <p>{problem.detail}</p>
      <ul>
        {inUse.aliases.map((a) => (
          <li key={a.id}>
            Pinned by model alias <Link to={`/orgs/${org}/model-aliases/${a.id}`}>{a.name}</Link>
          </li>
        ))}
        {inUse.last_used_at && (
          <li>
            Last resolved <Ago iso={inUse.last_used_at} /> ({formatTime(inUse.last_used_at)})
            <UsedBy by={inUse.last_used_by} />
          </li>
        )}
      </ul>
      <div className="actions">{children}</div>
    </div>
  );
}

/** What the edit form and the rotate dialog work on, and how they hand back the changed credential. */
interface PanelProps {
  credential: Credential;
  provider: Provider | undefined;
  onChanged: (c: Credential) => void;
}

function EditForm({ credential, provider, onChanged, onReload }: PanelProps & { onReload: () => void }) {
  const { problem, save } = useEdit(
    credential,
    (body: CredentialUpdate) =>
      call(
        api.PATCH("/v1/organizations/{org}/credentials/{id}", {
          params: { path: { org: credential.organization_id, id: credential.id }, header: ifMatch(credential) },
          body,
        }),
      ),
    onChanged,
  );
  const settingNames = [...new Set([...(provider?.settings_allowed ?? []), ...Object.keys(credential.settings)])];

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const nullable = (name: string) => text(form, name) || null;
    const period = text(form, "rotation_period_days");
    const settings = Object.fromEntries(settingNames.map((n) => [n, text(form, `setting.${n}`)] as const).filter(([, v]) => v !== ""));
    const wanted: CredentialUpdate = {
      name: text(form, "name"),
      environment: text(form, "environment"),
      category: text(form, "category") as Credential["category"],
      env_var: text(form, "env_var"),
      owner: nullable("owner"),
      description: nullable("description"),
      rotation_period_days: period ? Number(period) : null,
      is_default: form.get("is_default") === "on",
      settings,
    };
    await save(wanted);
  }

  const err = (path: string) => fieldError(problem, path);
  return (
    <EditPanel noun="credential" problem={problem} onReload={onReload} onSubmit={submit}>
      <Field label="Name" error={err("body.name")}>
        {(input) => <input {...input} name="name" defaultValue={credential.name} required />}
      </Field>
      <Field label="Environment" error={err("body.environment")}>
        {(input) => <input {...input} name="environment" defaultValue={credential.environment} />}
      </Field>
      <Field label="Category" error={err("body.category")}>
        {(input) => (
          <select {...input} name="category" defaultValue={credential.category}>
            {CATEGORIES.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Environment variable" error={err("body.env_var")}>
        {(input) => <input {...input} name="env_var" defaultValue={credential.env_var} />}
      </Field>
      {settingNames.map((name) => (
        <Field
          key={name}
          label={`Setting: ${name}`}
          hint={name === "endpoint" ? "Moving the endpoint takes the secret again: use Rotate." : undefined}
          error={err(`body.settings.${name}`) ?? err("body.settings")}
        >
          {(input) => <input {...input} name={`setting.${name}`} defaultValue={credential.settings[name] ?? ""} />}
        </Field>
      ))}
      <Field label="Owner" error={err("body.owner")}>
        {(input) => <input {...input} name="owner" defaultValue={credential.owner ?? ""} />}
      </Field>
      <Field label="Description" error={err("body.description")}>
        {(input) => <textarea {...input} name="description" rows={2} defaultValue={credential.description ?? ""} />}
      </Field>
      <Field label="Rotation period (days)" error={err("body.rotation_period_days")}>
        {(input) => <input {...input} name="rotation_period_days" type="number" min={1} max={3650} defaultValue={credential.rotation_period_days ?? ""} />}
      </Field>
      <div className="check">
        <input id="edit-default" name="is_default" type="checkbox" defaultChecked={credential.is_default} />
        <label htmlFor="edit-default">Default for its provider and environment</label>
      </div>
      <p className="hint">The API base is changed by a rotation, which takes the secret again.</p>
    </EditPanel>
  );
}

function RotateDialog({ credential, provider, onChanged, onClose }: PanelProps & { onClose: () => void }) {
  const { problem, busy, run } = useAction();
  const [result, setResult] = useState<{ before: string; after: Credential; grace: number } | null>(null);
  const shape = shapeOf(credential, provider);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    clearSecrets(element);
    const grace = Number(text(form, "grace_seconds") || "0");
    const apiBase = text(form, "api_base");
    await run(async () => {
      const after = await call(
        api.POST("/v1/organizations/{org}/credentials/{id}/rotate", {
          params: { path: { org: credential.organization_id, id: credential.id }, header: ifMatch(credential) },
          body: { ...readSecret(form, shape), grace_seconds: grace, ...(apiBase ? { api_base: apiBase } : {}) },
        }),
      );
      setResult({ before: credential.key_hint, after, grace });
      onChanged(after);
    });
  }

  return (
    <Dialog title={`Rotate ${credential.name}`} onClose={onClose}>
      {result ? (
        <>
          <p role="status" className="notice ok">
            Rotated to version {result.after.key_version}: <code className="hint-text">{result.before}</code> →{" "}
            <code className="hint-text">{result.after.key_hint}</code>
          </p>
          <p>
            {result.grace > 0
              ? `The old key stays resolvable as "previous" for ${GRACE_CHOICES.find(([s]) => s === result.grace)?.[1] ?? `${result.grace} seconds`}.`
              : "The old key is no longer resolvable."}
          </p>
          <div className="actions">
            <button type="button" className="primary" onClick={onClose} autoFocus>
              Close
            </button>
          </div>
        </>
      ) : (
        <form className="stacked" onSubmit={(e) => void submit(e)} noValidate>
          <p>
            Current key: <code className="hint-text">{credential.key_hint}</code> (version {credential.key_version})
          </p>
          <SecretInputs provider={provider} shape={shape} problem={problem} />
          <Field label="Grace period for the old key" error={fieldError(problem, "body.grace_seconds")}>
            {(input) => (
              <select {...input} name="grace_seconds" defaultValue="0">
                {GRACE_CHOICES.map(([seconds, label]) => (
                  <option key={seconds} value={seconds}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            label="New API base (optional)"
            hint={`Now: ${credential.api_base ?? "none"}. Leave empty to keep it.`}
            error={fieldError(problem, "body.api_base")}
          >
            {(input) => <input {...input} name="api_base" type="url" />}
          </Field>
          <ProblemBanner problem={problem} />
          <DialogActions onCancel={onClose}>
            <button type="submit" className="primary" disabled={busy}>
              Rotate key
            </button>
          </DialogActions>
        </form>
      )}
    </Dialog>
  );
}

function DeleteDialog({ credential, onClose }: { credential: Credential; onClose: () => void }) {
  const [typed, setTyped] = useState("");
  const { problem, busy, run } = useAction();

  const remove = (force: boolean) =>
    run(async () => {
      await call(
        api.DELETE("/v1/organizations/{org}/credentials/{id}", {
          params: { path: { org: credential.organization_id, id: credential.id }, header: ifMatch(credential), query: force ? { force: true } : {} },
        }),
      );
      navigate(`/orgs/${credential.organization_id}/credentials`);
    });

  // A 409 (active, or in use) is the warning; forcing still takes the typed name.
  const refused = problem?.status === 409;
  const forceButton = (
    <button type="button" className="danger" disabled={busy || typed !== credential.name} onClick={() => void remove(true)}>
      Delete anyway
    </button>
  );
  return (
    <Dialog title={`Delete ${credential.name}`} onClose={onClose}>
      <p>Deleting destroys every version of this secret. Workloads that resolve it will no longer get it, and it cannot be undone.</p>
      {credential.active && (
        <p className="notice warn">This credential is active, so it may be in use. Deactivate it first and confirm nothing depends on it, then delete it.</p>
      )}
      <form
        className="stacked"
        onSubmit={(e) => {
          e.preventDefault();
          void remove(false);
        }}
      >
        <Field label={`Type the credential's name (${credential.name}) to confirm`}>
          {(input) => <input {...input} name="confirm" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />}
        </Field>
        {inUseOf(problem) ? (
          <InUseWarning org={credential.organization_id} problem={problem}>
            {forceButton}
          </InUseWarning>
        ) : refused ? (
          <div className="problem" role="alert">
            <p>{problem.detail}</p>
            {forceButton}
          </div>
        ) : (
          <ProblemBanner problem={problem} />
        )}
        <DialogActions onCancel={onClose}>
          <button type="submit" className="danger" disabled={busy || typed !== credential.name}>
            Delete credential
          </button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
