import { useCallback, useEffect, useState } from "react";
import { api, call, problemOf, session as storedSession, SESSION_ENDED, type Whoami } from "./api";
import { Link, navigate, usePath } from "./router";
import { SessionContext, useSession } from "./session";
import { SignIn } from "./screens/SignIn";
import { Organizations } from "./screens/Organizations";
import { Credentials } from "./screens/Credentials";
import { CredentialNew } from "./screens/CredentialNew";
import { CredentialDetail } from "./screens/CredentialDetail";
import { Projects } from "./screens/Projects";
import { ModelAliases } from "./screens/ModelAliases";
import { ModelAliasNew } from "./screens/ModelAliasNew";
import { ModelAliasDetail } from "./screens/ModelAliasDetail";
import { Tokens } from "./screens/Tokens";
import { Audit } from "./screens/Audit";

const canManage = (me: Whoami) => me.role === "platform_admin" || me.role === "admin";

export function App() {
  const [me, setMe] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(() => storedSession.token() !== null);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((message: string | null = null) => {
    storedSession.signOut();
    setMe(null);
    setNotice(message);
    navigate("/", { replace: true });
  }, []);

  useEffect(() => {
    const ended = () => signOut("The service no longer accepts this token (revoked or expired). Sign in again.");
    window.addEventListener(SESSION_ENDED, ended);
    return () => window.removeEventListener(SESSION_ENDED, ended);
  }, [signOut]);

  // A reload keeps the session (sessionStorage lives as long as the tab): ask who it is again.
  useEffect(() => {
    if (!checking) return;
    call(api.GET("/v1/whoami")).then(
      (who) => {
        setMe(who);
        setChecking(false);
      },
      (error: unknown) => {
        storedSession.signOut();
        setNotice(problemOf(error).detail);
        setChecking(false);
      },
    );
  }, [checking]);

  if (checking) return <p className="loading">Loading…</p>;
  if (!me)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(who) => {
          setNotice(null);
          setMe(who);
        }}
      />
    );
  return (
    <SessionContext.Provider value={{ me, canManage: canManage(me) }}>
      <Shell onSignOut={() => signOut("Signed out.")} />
    </SessionContext.Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const { me } = useSession();
  const path = usePath();
  const org = /^\/orgs\/(org_[0-9A-Z]{26})(?:\/|$)/.exec(path)?.[1] ?? me.organization_id;

  // Each page's heading takes the focus after navigation, so keyboard and screen-reader users start there.
  useEffect(() => {
    document.querySelector<HTMLElement>("main h1")?.focus();
  }, [path]);

  const sections: [string, string][] = org
    ? [
        [`/orgs/${org}/credentials`, "Credentials"],
        [`/orgs/${org}/projects`, "Projects"],
        [`/orgs/${org}/model-aliases`, "Model aliases"],
        ...(me.role === "member"
          ? []
          : ([
              [`/orgs/${org}/tokens`, "Tokens"],
              [`/orgs/${org}/audit`, "Audit log"],
            ] as [string, string][])),
      ]
    : [];
  if (me.role === "platform_admin") sections.unshift(["/orgs", "Organizations"]);

  return (
    <>
      <header className="topbar">
        <span className="brand">Keyplane console</span>
        <nav aria-label="Sections">
          <ul>
            {sections.map(([to, label]) => (
              <li key={to}>
                <Link to={to} aria-current={path === to || path.startsWith(`${to}/`) ? "page" : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          {me.name} <span className="role">({me.role.replace("_", " ")})</span>
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>
        <Page path={path} org={org} />
      </main>
    </>
  );
}

function Page({ path, org }: { path: string; org: string | null }) {
  const { me } = useSession();
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0) {
    if (me.role === "platform_admin") return <Redirect to="/orgs" />;
    return <Redirect to={`/orgs/${me.organization_id}/credentials`} />;
  }
  if (parts[0] === "orgs" && parts.length === 1 && me.role === "platform_admin") return <Organizations />;
  if (parts[0] === "orgs" && org && parts[1] === org) {
    const [section, id, extra] = parts.slice(2);
    if (section === "credentials" && !id) return <Credentials org={org} />;
    if (section === "credentials" && id === "new" && !extra) return <CredentialNew org={org} />;
    if (section === "credentials" && id && !extra) return <CredentialDetail key={id} org={org} id={id} />;
    if (section === "projects" && !id) return <Projects org={org} />;
    if (section === "model-aliases" && !id) return <ModelAliases org={org} />;
    if (section === "model-aliases" && id === "new" && !extra) return me.role === "member" ? <NotFound /> : <ModelAliasNew org={org} />;
    if (section === "model-aliases" && id && !extra) return <ModelAliasDetail key={id} org={org} id={id} />;
    if (section === "tokens" && !id && me.role !== "member") return <Tokens org={org} />;
    if (section === "audit" && !id && me.role !== "member") return <Audit org={org} />;
  }
  return <NotFound />;
}

function NotFound() {
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <p>
        There is no page at this address. <Link to="/">Go to the start page</Link>.
      </p>
    </>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}
