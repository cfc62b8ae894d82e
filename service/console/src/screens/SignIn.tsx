import { useState, type FormEvent } from "react";
import { api, call, problemOf, session, type Problem, type Whoami } from "../api";
import { clearSecrets, Field, ProblemBanner, text } from "../ui";

export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (me: Whoami) => void }) {
  const [problem, setProblem] = useState<Problem | null>(null);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const token = text(new FormData(form), "token");
    clearSecrets(form);
    setProblem(null);
    setRefusal(null);
    if (!token) {
      setRefusal("Enter a Keyplane API token (it starts with kp_).");
      return;
    }
    setBusy(true);
    try {
      const me = await call(api.GET("/v1/whoami", { headers: { Authorization: `Bearer ${token}` } }));
      if (me.role === "resolver") {
        setRefusal("This is a resolver token: it can only resolve secrets for workloads and cannot use the console. Sign in with an admin or member token.");
        return;
      }
      session.signIn(token);
      onSignedIn(me);
    } catch (error) {
      const answer = problemOf(error);
      setProblem(answer.status === 401 ? { ...answer, detail: "This token is not valid: it is unknown, expired or revoked." } : answer);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <h1 tabIndex={-1}>Sign in to Keyplane</h1>
      {notice && <p role="status">{notice}</p>}
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field
          label="API token"
          hint="An admin or member token of your organization, or a platform-admin token. It is kept in this tab only, until you sign out."
        >
          {(input) => <input {...input} name="token" type="password" autoComplete="off" spellCheck={false} required />}
        </Field>
        {refusal && (
          <p className="problem" role="alert">
            {refusal}
          </p>
        )}
        <ProblemBanner problem={problem} />
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
