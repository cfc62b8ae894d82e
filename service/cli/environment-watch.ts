// `--watch` of `keyplane run` and `keyplane env`: long-polls the environment (If-None-Match with
// the last ETag, the server holds the request until the variables change) and hands each new set
// of variables on. Failures back off exponentially; requests never follow each other faster than
// MIN_INTERVAL_MS, even against a server that answers at once.
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, RefusedAnswer, type EnvironmentAnswer, type environmentSource } from "./env.js";

const WAIT_SECONDS = 30;
const MIN_INTERVAL_MS = 1_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

export interface WatchOptions {
  source: ReturnType<typeof environmentSource>;
  /** The ETag of the variables in use. */
  etag: string | undefined;
  /** Called with each new set of variables; the next request starts once it settles. */
  onChange: (variables: Record<string, string>) => Promise<void> | void;
  /** Said on stderr: a failure (the message never holds a secret). */
  report: (message: string) => void;
  /** Ends the watch. */
  signal: AbortSignal;
}

/** Runs until `signal` aborts; never throws for a failed request (reported, then retried later). */
export async function watchEnvironment({ source, etag, onChange, report, signal }: WatchOptions): Promise<void> {
  let backoffMs = BACKOFF_MIN_MS;
  let lastFailure: string | undefined;
  while (!signal.aborted) {
    const started = Date.now();
    let pauseMs: number | undefined;
    try {
      // Without an ETag (a server that sent none) the first answer is taken as the change.
      const answer: EnvironmentAnswer | null = await source(etag === undefined ? undefined : { etag, waitSeconds: WAIT_SECONDS }, signal);
      if (lastFailure !== undefined) report("Keyplane answers again; watching for changes");
      lastFailure = undefined;
      backoffMs = BACKOFF_MIN_MS;
      if (answer && answer.etag !== etag) {
        etag = answer.etag;
        await onChange(answer.variables);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (!(error instanceof CliError)) throw error;
      if (error instanceof RefusedAnswer) {
        // Waiting for the next change rather than asking again for the same refused answer.
        etag = error.etag;
        report(`${error.message}\nkeeping the previous values`);
      } else {
        // Said once per kind of failure, not on every retry.
        if (error.message !== lastFailure) report(`${error.message}; retrying (the previous values stay in use)`);
        lastFailure = error.message;
        pauseMs = backoffMs / 2 + Math.random() * backoffMs;
        backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
      }
    }
    const wait = pauseMs ?? MIN_INTERVAL_MS - (Date.now() - started);
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => {});
  }
}
