import { useState, type FormEvent } from "react";
import { allPages, api, call, fieldError, problemOf, type Problem, type Token, type TokenCreated } from "../api";
import { CutNote, Field, formatTime, ProblemBanner, text, useLoad, Table } from "../ui";

export function Tokens({ org }: { org: string }) {
  const tokens = useLoad(() => allPages((query) => call(api.GET("/v1/organizations/{org}/tokens", { params: { path: { org }, query } }))), `tokens:${org}`);
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [copied, setCopied] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    const expires = text(form, "expires_at");
    setProblem(null);
    setCopied(false);
    try {
      const token = await call(
        api.POST("/v1/organizations/{org}/tokens", {
          params: { path: { org } },
          body: {
            name: text(form, "name"),
            role: text(form, "role") as "admin" | "member" | "resolver",
            ...(expires ? { expires_at: new Date(expires).toISOString() } : {}),
          },
        }),
      );
      setCreated(token);
      element.reset();
      tokens.reload();
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  async function revoke(token: Token) {
    setProblem(null);
    try {
      await call(api.DELETE("/v1/organizations/{org}/tokens/{id}", { params: { path: { org, id: token.id } } }));
    } catch (error) {
      setProblem(problemOf(error));
    }
    setConfirming(null);
    tokens.reload();
  }

  async function copy(value: string) {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setProblem({
        type: "about:blank",
        title: "Copy failed",
        status: 400,
        code: "copy_failed",
        detail: "The browser refused the clipboard: select the token and copy it.",
        request_id: "",
      });
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>Tokens</h1>
      {created && (
        <section className="panel once" aria-labelledby="new-token">
          <h2 id="new-token">
            New {created.role} token “{created.name}”
          </h2>
          <p>Copy it now: it is shown this once and cannot be shown again.</p>
          <p>
            <code className="token-value" data-testid="new-token">
              {created.token}
            </code>
          </p>
          <div className="actions">
            <button type="button" className="primary" onClick={() => void copy(created.token)}>
              Copy token
            </button>
            <button type="button" onClick={() => setCreated(null)}>
              Done
            </button>
            {copied && <span role="status">Copied.</span>}
          </div>
        </section>
      )}
      <ProblemBanner problem={tokens.problem} />
      <Table columns={["Name", "Role", "Created", "Expires", "Last used", <span className="visually-hidden">Actions</span>]} rows={tokens.data?.items.length}>
        {tokens.data?.items.map((token) => (
          <tr key={token.id}>
            <td>{token.name}</td>
            <td>{token.role}</td>
            <td>{formatTime(token.created_at)}</td>
            <td>{token.expires_at ? formatTime(token.expires_at) : "never"}</td>
            <td>{formatTime(token.last_used_at)}</td>
            <td>
              {confirming === token.id ? (
                <>
                  <button type="button" className="danger" onClick={() => void revoke(token)}>
                    Confirm revoke {token.name}
                  </button>{" "}
                  <button type="button" onClick={() => setConfirming(null)}>
                    Keep
                  </button>
                </>
              ) : (
                <button type="button" onClick={() => setConfirming(token.id)}>
                  Revoke {token.name}
                </button>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <CutNote list={tokens.data} noun="tokens" />
      <section aria-labelledby="create-token">
        <h2 id="create-token">Create token</h2>
        <form className="inline-form" onSubmit={(e) => void create(e)} noValidate>
          <Field label="Name" error={fieldError(problem, "body.name")}>
            {(input) => <input {...input} name="name" required />}
          </Field>
          <Field label="Role" error={fieldError(problem, "body.role")}>
            {(input) => (
              <select {...input} name="role" defaultValue="member">
                <option value="admin">admin: manages the organization</option>
                <option value="member">member: reads metadata and hints</option>
                <option value="resolver">resolver: resolves secrets (workloads)</option>
              </select>
            )}
          </Field>
          <Field label="Expires (optional)" error={fieldError(problem, "body.expires_at")}>
            {(input) => <input {...input} name="expires_at" type="datetime-local" />}
          </Field>
          <button type="submit" className="primary">
            Create token
          </button>
        </form>
        <ProblemBanner problem={problem} />
      </section>
    </>
  );
}
