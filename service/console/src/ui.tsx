// Small shared pieces: loading state, labelled fields, the problem banner, dialogs.
import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { LIST_CAP, problemOf, type Credential, type Listed, type Problem } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  problem: Problem | null;
  reload: () => void;
  /** Replaces the data with a newer answer (e.g. a mutation's response). */
  setData: (data: T) => void;
}

/** Runs `load` when `key` changes (and on reload); keeps the last answer or the problem. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [data, setData] = useState<T>();
  const [problem, setProblem] = useState<Problem | null>(null);
  const [generation, setGeneration] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let current = true;
    latest.current().then(
      (value) => {
        if (!current) return;
        setData(value);
        setProblem(null);
      },
      (error: unknown) => {
        if (current) setProblem(problemOf(error));
      },
    );
    return () => {
      current = false;
    };
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, problem, reload, setData };
}

/**
 * A filtered, cursor-paged list: submitting the filter form (`applyFilters`, which reads it with
 * `read`) starts again from the first page, and `load` runs for the filters and the page shown.
 */
export function useFilteredList<F, T>(
  key: string,
  initial: NoInfer<F> | (() => NoInfer<F>),
  read: (form: FormData) => F,
  load: (filters: F, cursor: string | undefined) => Promise<T>,
) {
  const [filters, setFilters] = useState<F>(initial);
  const [cursor, setCursor] = useState<string | undefined>();
  const list = useLoad(() => load(filters, cursor), JSON.stringify([key, filters, cursor]));
  const applyFilters = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setCursor(undefined);
    setFilters(read(form));
  };
  return { filters, cursor, setCursor, list, applyFilters };
}

/** What a list cut at LIST_CAP says of itself; undefined when it is whole. */
export const cutNote = (list: Listed<unknown> | undefined, noun: string) =>
  list?.more ? `Showing the first ${LIST_CAP.toLocaleString("en")} ${noun}.` : undefined;

/** A list's cut note as a paragraph; nothing when the list is whole. */
export function CutNote({ list, noun }: { list: Listed<unknown> | undefined; noun: string }) {
  const note = cutNote(list, noun);
  return note ? <p className="hint">{note}</p> : null;
}

/** How many choices a picker holds before it offers a search box. */
const SEARCH_FROM = 20;

/**
 * A search box for a picker with many choices: `shown` keeps the choices whose label holds the
 * typed text (any case), and always the chosen one, since a select shows only a value it has an
 * option for. No box for a short list.
 */
export function useChoiceSearch<T>(choices: T[], label: (choice: T) => string, isChosen: (choice: T) => boolean, noun: string) {
  const [query, setQuery] = useState("");
  const needle = query.trim().toLowerCase();
  const shown = needle ? choices.filter((c) => isChosen(c) || label(c).toLowerCase().includes(needle)) : choices;
  const box =
    choices.length >= SEARCH_FROM ? (
      <input
        type="search"
        aria-label={`Search ${noun}`}
        placeholder={`Type to search ${choices.length.toLocaleString("en")} ${noun}`}
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
    ) : null;
  return { shown, box };
}

/** A call the user started: `busy` while it runs, and the service's problem once it fails. */
export function useAction() {
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await action();
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  };
  return { problem, setProblem, busy, run };
}

/** The service's explanation and every field it blames, by path. */
export function ProblemBanner({ problem }: { problem: Problem | null }) {
  if (!problem) return null;
  return (
    <div className="problem" role="alert">
      <p>{problem.detail}</p>
      {problem.errors && problem.errors.length > 0 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.path + e.message}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The service's problem; a stale If-Match (412) gets the one fix that works: load the current state of the `noun`. */
export function Conflict({ noun, problem, onReload }: { noun: string; problem: Problem | null; onReload: () => void }) {
  if (problem?.status !== 412) return <ProblemBanner problem={problem} />;
  return (
    <div className="problem" role="alert">
      <p>Someone changed this {noun} after you loaded it, so your change was not saved. Reload it to see the current version, then make your change again.</p>
      <button type="button" onClick={onReload}>
        {`Reload ${noun}`}
      </button>
    </div>
  );
}

/** The edit form of a `noun` in its panel: the fields, the service's problem (see Conflict), and Save. */
export function EditPanel({
  noun,
  problem,
  onReload,
  onSubmit,
  children,
}: {
  noun: string;
  problem: Problem | null;
  onReload: () => void;
  onSubmit: (event: FormEvent<HTMLFormElement>) => Promise<void>;
  children: ReactNode;
}) {
  return (
    <section aria-labelledby="edit-title" className="panel">
      <h2 id="edit-title">{`Edit ${noun}`}</h2>
      <form className="stacked" onSubmit={(e) => void onSubmit(e)} noValidate>
        {children}
        <Conflict noun={noun} problem={problem} onReload={onReload} />
        <div className="actions">
          <button type="submit" className="primary">
            Save changes
          </button>
        </div>
      </form>
    </section>
  );
}

/** A detail page whose object has not arrived: its title, and the problem if loading it failed. */
export function Unloaded({ title, problem }: { title: string; problem: Problem | null }) {
  return (
    <>
      <h1 tabIndex={-1}>{title}</h1>
      <ProblemBanner problem={problem} />
    </>
  );
}

/** What an edit that changes nothing shows, without asking the service. */
const NO_CHANGE: Problem = { type: "about:blank", title: "No change", status: 400, code: "no_change", detail: "Nothing was changed.", request_id: "" };

/**
 * An edit form of `current`: `save` sends (`send`) only the fields of the wanted update body `W`
 * (whose fields are all optional) that differ from it, since an unchanged field is no reason to
 * refuse or to audit, and hands the answer to `onChanged`; when nothing differs it says so
 * without asking the service.
 */
export function useEdit<W extends object, R>(current: object, send: (changes: W) => Promise<R>, onChanged: (updated: R) => void) {
  const [problem, setProblem] = useState<Problem | null>(null);
  const save = async (wanted: W) => {
    const changed = Object.entries(wanted).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify((current as Record<string, unknown>)[key]));
    if (changed.length === 0) return setProblem(NO_CHANGE);
    setProblem(null);
    try {
      onChanged(await send(Object.fromEntries(changed) as W));
    } catch (error) {
      setProblem(problemOf(error));
    }
  };
  return { problem, setProblem, save };
}

/** A dialog form's buttons: its own, then Cancel. */
export function DialogActions({ onCancel, children }: { onCancel: () => void; children: ReactNode }) {
  return (
    <div className="actions">
      {children}
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

export interface InputProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: boolean;
}

/** A visible label, the control, an optional hint and the service's message for this field. */
export function Field({ label, hint, error, children }: { label: ReactNode; hint?: ReactNode; error?: string; children: (input: InputProps) => ReactNode }) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className={error ? "field invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-describedby": described || undefined, "aria-invalid": error ? true : undefined })}
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** A modal dialog (Escape closes it, focus stays inside), shown while mounted. */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeHandler = useRef(onClose);
  closeHandler.current = onClose;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const closed = () => closeHandler.current();
    dialog.addEventListener("close", closed);
    dialog.showModal();
    return () => {
      dialog.removeEventListener("close", closed);
      dialog.close();
    };
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={titleId}>
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/** "3 hours ago"; "just now" under a minute; "—" for never. The exact time is in the title. */
export function Ago({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>—</>;
  const elapsed = Date.now() - Date.parse(iso);
  const unit = UNITS.find(([, ms]) => Math.abs(elapsed) >= ms);
  const words = unit ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(-Math.round(elapsed / unit[1]), unit[0]) : "just now";
  return (
    <time dateTime={iso} title={formatTime(iso)}>
      {words}
    </time>
  );
}

/** When a credential was last resolved, and by which token. */
export function LastUsed({ usage }: { usage: Credential["usage"] }) {
  if (!usage.last_used_at) return <>never</>;
  return (
    <>
      <Ago iso={usage.last_used_at} />
      <UsedBy by={usage.last_used_by} />
    </>
  );
}

/** " by" the token of a credential's last resolve: its name, or its id once deleted; nothing when unknown. */
export function UsedBy({ by }: { by: Credential["usage"]["last_used_by"] }) {
  return by && <span className="muted"> by {by.name ?? `${by.token_id} (deleted)`}</span>;
}

export function Badge({ tone, children }: { tone: "ok" | "off" | "warn" | "info"; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function ActiveBadge({ active }: { active: boolean }) {
  return active ? <Badge tone="ok">Active</Badge> : <Badge tone="off">Inactive</Badge>;
}

/** The text of a form field (FormData), trimmed; "" when absent. */
export function text(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === "string" ? value.trim() : "";
}

/** Empties the form's password fields: a typed secret is sent once and not kept on the page. */
export function clearSecrets(form: HTMLFormElement) {
  for (const input of form.querySelectorAll<HTMLInputElement>('input[type="password"]')) input.value = "";
}

/** First/next page buttons over a cursor-paged list. */
export function Pager({ cursor, next, onPage }: { cursor: string | undefined; next: string | null | undefined; onPage: (cursor: string | undefined) => void }) {
  return (
    <div className="pager">
      {cursor && (
        <button type="button" onClick={() => onPage(undefined)}>
          First page
        </button>
      )}
      {next && (
        <button type="button" onClick={() => onPage(next)}>
          Next page
        </button>
      )}
    </div>
  );
}

/** A table that scrolls sideways in a narrow window; `empty` shows when there are no rows. */
export function Table({ columns, rows, empty, children }: { columns: ReactNode[]; rows: number | undefined; empty?: string; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            {columns.map((column, i) => (
              <th scope="col" key={i}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
      {rows === 0 && empty && <p className="empty">{empty}</p>}
    </div>
  );
}
