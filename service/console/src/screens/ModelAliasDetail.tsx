import { useState, type FormEvent } from "react";
import { api, call, ifMatch, type ModelAlias, type ModelAliasUpdate, type Project } from "../api";
import { AliasFields, isProblem, readAlias } from "../alias-fields";
import { projectName, providerName, useProjects, useProviders } from "../catalog";
import { Link, navigate } from "../router";
import { useSession } from "../session";
import { ActiveBadge, Badge, EditPanel, Dialog, formatTime, ProblemBanner, Unloaded, useAction, useEdit, useLoad } from "../ui";
import { Params } from "./ModelAliases";

type Panel = "edit" | "delete" | null;

export function ModelAliasDetail({ org, id }: { org: string; id: string }) {
  const { canManage } = useSession();
  const loaded = useLoad(() => call(api.GET("/v1/organizations/{org}/model-aliases/{id}", { params: { path: { org, id } } })), `${org}/${id}`);
  const alias = loaded.data;
  const pinned = useLoad(
    () =>
      alias?.credential_id
        ? call(api.GET("/v1/organizations/{org}/credentials/{id}", { params: { path: { org, id: alias.credential_id } } }))
        : Promise.resolve(null),
    `${org}/${alias?.credential_id ?? ""}`,
  );
  const providers = useProviders();
  const projects = useProjects(org);
  const [panel, setPanel] = useState<Panel>(null);

  if (!alias) return <Unloaded title="Model alias" problem={loaded.problem} />;
  const project = projects.data?.items.find((p) => p.id === alias.project_id);

  return (
    <>
      <p className="crumbs">
        <Link to={`/orgs/${org}/model-aliases`}>Model aliases</Link> /
      </p>
      <div className="page-head">
        <h1 tabIndex={-1}>{alias.name}</h1>
        <span>
          <ActiveBadge active={alias.active} />
        </span>
      </div>
      <dl className="summary">
        <dt>Scope</dt>
        <dd>{projectName(projects.data, alias.project_id)}</dd>
        <dt>Provider</dt>
        <dd>{providerName(providers.data, alias.provider)}</dd>
        <dt>Model</dt>
        <dd>
          <code>{alias.model}</code>
        </dd>
        <dt>Pinned credential</dt>
        <dd>
          {alias.credential_id ? (
            <>
              <Link to={`/orgs/${org}/credentials/${alias.credential_id}`}>{pinned.data?.name ?? alias.credential_id}</Link>
              {pinned.data && (
                <>
                  {" "}
                  <code className="hint-text">{pinned.data.key_hint}</code> {!pinned.data.active && <Badge tone="warn">Inactive: falls through</Badge>}
                </>
              )}
            </>
          ) : (
            "none: resolves by provider"
          )}
        </dd>
        <dt>Environment</dt>
        <dd>{alias.environment ?? "the caller's"}</dd>
        <dt>Fallbacks</dt>
        <dd>{alias.fallbacks.length > 0 ? alias.fallbacks.map((name, i) => <span key={name} className="setting">{`${i + 1}. ${name}`}</span>) : "none"}</dd>
        <dt>Parameters</dt>
        <dd>
          <Params params={alias.params} />
        </dd>
        <dt>Owner</dt>
        <dd>{alias.owner ?? "—"}</dd>
        <dt>Description</dt>
        <dd>{alias.description ?? "—"}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(alias.updated_at)}</dd>
      </dl>
      {canManage && (
        <div className="actions" role="group" aria-label="Model alias actions">
          <button type="button" onClick={() => setPanel(panel === "edit" ? null : "edit")} aria-expanded={panel === "edit"}>
            Edit
          </button>
          <button type="button" className="danger" onClick={() => setPanel("delete")}>
            Delete
          </button>
        </div>
      )}
      {panel === "edit" && (
        <EditForm
          key={alias.version}
          alias={alias}
          project={project}
          onChanged={(updated) => {
            loaded.setData(updated);
            setPanel(null);
          }}
          onReload={loaded.reload}
        />
      )}
      {panel === "delete" && <DeleteDialog alias={alias} onClose={() => setPanel(null)} />}
      <p>
        <Link to={`/orgs/${org}/audit?target_id=${alias.id}`}>Audit events of this model alias</Link>
      </p>
    </>
  );
}

function EditForm({
  alias,
  project,
  onChanged,
  onReload,
}: {
  alias: ModelAlias;
  project: Project | undefined;
  onChanged: (a: ModelAlias) => void;
  onReload: () => void;
}) {
  const [fallbacks, setFallbacks] = useState(alias.fallbacks);
  const { problem, setProblem, save } = useEdit(
    alias,
    (body: ModelAliasUpdate) =>
      call(
        api.PATCH("/v1/organizations/{org}/model-aliases/{id}", {
          params: { path: { org: alias.organization_id, id: alias.id }, header: ifMatch(alias) },
          body,
        }),
      ),
    onChanged,
  );

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const values = readAlias(new FormData(event.currentTarget), fallbacks);
    if (isProblem(values)) return setProblem(values);
    await save(values);
  }

  return (
    <EditPanel noun="model alias" problem={problem} onReload={onReload} onSubmit={submit}>
      <AliasFields
        org={alias.organization_id}
        alias={alias}
        projectId={alias.project_id}
        project={project}
        problem={problem}
        fallbacks={fallbacks}
        onFallbacks={setFallbacks}
      />
    </EditPanel>
  );
}

function DeleteDialog({ alias, onClose }: { alias: ModelAlias; onClose: () => void }) {
  const { problem, busy, run } = useAction();

  const remove = (force: boolean) =>
    run(async () => {
      await call(
        api.DELETE("/v1/organizations/{org}/model-aliases/{id}", {
          params: { path: { org: alias.organization_id, id: alias.id }, header: ifMatch(alias), query: force ? { force: true } : {} },
        }),
      );
      navigate(`/orgs/${alias.organization_id}/model-aliases`);
    });

  // 409 `alias_in_use`: other aliases fall back to this one; forcing also takes it out of their lists.
  const inUse = problem?.code === "alias_in_use";
  return (
    <Dialog title={`Delete ${alias.name}`} onClose={onClose}>
      <p>AI features that ask for {alias.name} will get no answer from it.</p>
      {inUse ? (
        <div className="problem" role="alert">
          <p>{problem.detail}</p>
          <button type="button" className="danger" disabled={busy} onClick={() => void remove(true)}>
            Delete and remove it from their fallbacks
          </button>
        </div>
      ) : (
        <ProblemBanner problem={problem} />
      )}
      <div className="actions">
        <button type="button" className="danger" disabled={busy || inUse} onClick={() => void remove(false)}>
          Delete model alias
        </button>
        <button type="button" onClick={onClose} autoFocus>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
