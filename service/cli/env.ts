// `keyplane env`: fetch the resolved variables of an organization (and project) from a running
// Keyplane and print them as dotenv, JSON or shell exports, or keep a file of them up to date
// (`--watch --output FILE`). Fetching is shared with `keyplane run`.
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import { Command, Option } from "commander";
import { ApiError, KeyplaneApi } from "../client/keyplane-api.js";
import { variableNameProblem } from "../providers/env-var-names.js";
import { exchangedBearer, staticBearer, type BearerSource } from "./identity-exchange.js";
import { watchEnvironment } from "./environment-watch.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";
const REQUEST_TIMEOUT_MS = 30_000;

/** A failure of the CLI itself (not of a child command); the message never holds a secret. */
export class CliError extends Error {
  override readonly name = "CliError";
}

export interface ConnectionOptions {
  endpoint: string;
  token?: string;
  org?: string;
  project?: string;
  environment?: string;
  identityTokenFile?: string;
  identityBinding?: string;
}

/**
 * The options both commands share. Flags beat the environment variables, which are only
 * defaults (Commander's `.env()`).
 */
export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option("--org <id>", "organization id").env("KEYPLANE_ORGANIZATION_ID"))
    .addOption(new Option("--project <id>", "project id (its own credentials, then the organization's if it inherits)").env("KEYPLANE_PROJECT_ID"))
    .addOption(new Option("--environment <label>", "only credentials with this environment label").env("KEYPLANE_ENVIRONMENT"))
    .addOption(new Option("--endpoint <url>", "Keyplane base URL").env("KEYPLANE_ENDPOINT").default(DEFAULT_ENDPOINT))
    .addOption(new Option("--token <token>", "resolver token (prefer the environment variable: flags show up in `ps`)").env("KEYPLANE_TOKEN"))
    .addOption(
      new Option(
        "--identity-token-file <path>",
        "instead of a resolver token: exchange the workload identity token (OIDC JWT) in this file for a short-lived Keyplane token; the file is read again before every exchange",
      ).env("KEYPLANE_IDENTITY_TOKEN_FILE"),
    )
    .addOption(
      new Option("--identity-binding <id>", "with --identity-token-file: exchange through this identity binding (idb_…) only").env("KEYPLANE_IDENTITY_BINDING"),
    );
}

/** The bearer token of each request: the resolver token, or one exchanged for the workload's identity token. */
function bearerSource(opts: ConnectionOptions, org: string, endpoint: string): BearerSource {
  const { token, identityTokenFile, identityBinding } = opts;
  if (identityTokenFile !== undefined) {
    // Two ways to authenticate is one too many to guess between: say so rather than pick one.
    if (token) throw new CliError("give either a resolver token (KEYPLANE_TOKEN, --token) or --identity-token-file (KEYPLANE_IDENTITY_TOKEN_FILE), not both");
    return exchangedBearer({ endpoint, organizationId: org, tokenFile: identityTokenFile, binding: identityBinding });
  }
  if (identityBinding !== undefined) throw new CliError("--identity-binding applies only with --identity-token-file");
  if (!token)
    throw new CliError("a resolver token is required: set KEYPLANE_TOKEN (or pass --token), or exchange an identity token with --identity-token-file");
  return staticBearer(token);
}

const REFUSED = Symbol("refused");

/** The variables and the ETag that names them (sent back in If-None-Match to wait for a change). */
export interface EnvironmentAnswer {
  variables: Record<string, string>;
  etag: string | undefined;
}

/** An answer refused for its names or values; its ETag lets a watcher wait for the next change instead. */
export class RefusedAnswer extends CliError {
  constructor(
    message: string,
    readonly etag: string | undefined,
  ) {
    super(message);
  }
}

/**
 * GET …/environment of the organization (and project) the options name. With `since`, a long-poll:
 * the server holds the request up to `waitSeconds` and null means nothing changed. Failures are
 * CliErrors with the server's problem detail; an answer holding a name that must not be injected
 * is a RefusedAnswer.
 */
export function environmentSource(
  opts: ConnectionOptions,
): (since?: { etag: string; waitSeconds: number }, signal?: AbortSignal) => Promise<EnvironmentAnswer | null> {
  const { org, project, environment } = opts;
  if (!org) throw new CliError("--org (or KEYPLANE_ORGANIZATION_ID) is required");
  const endpoint = httpEndpoint(opts.endpoint);
  const bearer = bearerSource(opts, org, endpoint);
  const apis = new Map<number, KeyplaneApi>();
  // The timeout is per request: a long-poll's is its wait plus the usual one.
  const apiFor = (waitSeconds: number) => {
    let api = apis.get(waitSeconds);
    if (!api)
      apis.set(
        waitSeconds,
        (api = new KeyplaneApi({ endpoint, token: undefined, userAgent: "keyplane-cli", timeoutMs: REQUEST_TIMEOUT_MS + waitSeconds * 1000, maxAttempts: 1 })),
      );
    return api;
  };
  const get = async (since: { etag: string; waitSeconds: number } | undefined, signal: AbortSignal | undefined) => {
    const token = await bearer.token(signal);
    // An exchanged token is renewed before it expires: a long-poll ends in time for that.
    const waitSeconds = since && Math.max(1, Math.min(since.waitSeconds, Math.ceil(bearer.msUntilRenewal() / 1000)));
    const api = apiFor(waitSeconds ?? 0);
    try {
      return await api.send(
        (client, attemptSignal) =>
          client.GET("/v1/organizations/{org}/environment", {
            params: {
              path: { org },
              query: { project_id: project, environment, wait: waitSeconds },
              header: since ? { "If-None-Match": since.etag } : undefined,
            },
            headers: { Authorization: `Bearer ${token}` },
            signal: attemptSignal,
          }),
        { retryable: false, signal },
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 304 && since) return null;
      if (error.status === 401 && bearer.refused(token)) return REFUSED;
      throw cliError(error, new URL(api.endpoint).origin);
    }
  };
  return async (since, signal) => {
    // An exchanged token the service refuses (revoked, say) is exchanged again, once.
    let answer = await get(since, signal);
    if (answer === REFUSED) answer = await get(since, signal);
    if (answer === REFUSED) throw new CliError("Keyplane refused the token it had just issued for the identity token (HTTP 401)");
    if (answer === null) return null;
    // Typed by the contract, but a hostile or outdated server can send anything.
    const variables: unknown = answer.body?.variables;
    if (!variables || typeof variables !== "object") throw new CliError("unexpected answer from Keyplane (no variables)");
    const problems = receivedVariableProblems(variables as Record<string, unknown>);
    if (problems.length) {
      throw new RefusedAnswer(`Keyplane sent variables that must not be injected; nothing was used:\n  ${problems.join("\n  ")}`, answer.etag);
    }
    return { variables: variables as Record<string, string>, etag: answer.etag };
  };
}

function httpEndpoint(endpoint: string): string {
  try {
    const { protocol } = new URL(endpoint);
    if (protocol === "http:" || protocol === "https:") return endpoint;
  } catch {
    // not a URL: the same answer as another scheme
  }
  throw new CliError("--endpoint (or KEYPLANE_ENDPOINT) must be an http:// or https:// URL");
}

function cliError(error: ApiError, origin: string): CliError {
  if (error.unreachable) return new CliError(`cannot reach Keyplane at ${origin} (${error.reason ?? error.code})`);
  if (error.notProblem) return new CliError(error.message);
  return new CliError(`${error.message} (HTTP ${error.status} ${error.code})`);
}

/**
 * The server refuses these names already; checking again means a compromised or outdated server
 * cannot take over the command either. One refused name refuses the whole answer: a server that
 * sends it is not one to trust with the other values, and a loud failure gets it fixed where a
 * warning in a workload's log would not.
 */
function receivedVariableProblems(variables: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(variables)) {
    const problem = variableNameProblem(name);
    if (problem) problems.push(problem);
    else if (typeof value !== "string" || value.includes("\0")) problems.push(`the value of ${name} is not a string an environment can hold`);
  }
  return problems;
}

export type EnvFormat = "dotenv" | "json" | "shell";

/** POSIX single quotes: everything is literal up to the next `'`, which is written `'\''`. */
function singleQuoted(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Output that is safe to source: values are never expanded, so `$(…)`, backticks and `$VAR` in a
 * value stay text.
 * - dotenv: `NAME='value'`. `set -a; . file` reads it back byte for byte, newlines (PEM keys)
 *   included. dotenv readers take single quotes literally too but escape `'` differently and not
 *   all keep line endings; API keys have neither, and json is exact for anything.
 * - shell: `export NAME='value'`, for `eval "$(keyplane env --format shell)"`.
 * - json: one object, exact for any value.
 * Names are checked again here: a line is only as safe as its name.
 */
export function formatVariables(variables: Record<string, string>, format: EnvFormat): string {
  const names = Object.keys(variables).sort();
  if (format === "json") return `${JSON.stringify(Object.fromEntries(names.map((n) => [n, variables[n]])), null, 2)}\n`;
  const problems = names.map(variableNameProblem).filter((p) => p !== null);
  if (problems.length) throw new CliError(`refusing to print these variables:\n  ${problems.join("\n  ")}`);
  const prefix = format === "shell" ? "export " : "";
  return names.map((n) => `${prefix}${n}=${singleQuoted(variables[n])}\n`).join("");
}

/**
 * Replaces `path` so that a reader sees the old content or the new, never a part of either: a
 * temporary file in the same directory (mode 0600 from its creation), synced, renamed over it.
 */
export async function writeFileAtomically(path: string, content: string): Promise<void> {
  const directory = dirname(resolvePath(path));
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const file = await open(temporary, "wx", 0o600);
  try {
    await file.writeFile(content);
    await file.sync();
    await file.close();
    await rename(temporary, path);
  } catch (error) {
    await file.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
  // The rename survives a crash once the directory is synced; not every file system can.
  const dir = await open(directory, "r");
  await dir
    .sync()
    .catch(() => {})
    .finally(() => dir.close());
}

interface EnvOptions extends ConnectionOptions {
  format: EnvFormat;
  output?: string;
  watch: boolean;
}

export function registerEnvCommand(program: Command): void {
  addConnectionOptions(program.command("env").description("print the resolved credentials of an organization or project as environment variables"))
    .addOption(new Option("--format <format>", "output format").choices(["dotenv", "json", "shell"]).default("dotenv"))
    .option("--output <file>", "write to this file instead of stdout: replaced atomically, mode 0600")
    .option("--watch", "keep running and rewrite --output whenever the variables change", false)
    .action(async (opts: EnvOptions) => {
      try {
        await printEnvironment(opts);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        process.stderr.write(`keyplane: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
}

async function printEnvironment(opts: EnvOptions): Promise<void> {
  const { output, format } = opts;
  if (opts.watch && output === undefined) {
    throw new CliError("--watch needs --output FILE: the file is rewritten on every change (stdout would only get one copy after another)");
  }
  const source = environmentSource(opts);
  const first = (await source())!;
  const write = (variables: Record<string, string>) =>
    output === undefined ? void process.stdout.write(formatVariables(variables, format)) : writeFileAtomically(output, formatVariables(variables, format));
  await write(first.variables);
  if (!opts.watch) return;

  const stop = new AbortController();
  // A write under way finishes first: no temporary file is left behind.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
  const report = (message: string) => process.stderr.write(`keyplane: ${message}\n`);
  await watchEnvironment({
    source,
    etag: first.etag,
    async onChange(variables) {
      await write(variables);
      report(`the variables changed; rewrote ${output}`);
    },
    report,
    signal: stop.signal,
  });
}
