// `keyplane env`: fetch the resolved variables of an organization (and project) from a running
// Keyplane and print them as dotenv, JSON or shell exports. Shared with `keyplane run`.
import { Command, Option } from "commander";
import { ApiError, KeyplaneApi, type ApiSchemas } from "../client/keyplane-api.js";
import { variableNameProblem } from "../providers/env-var-names.js";

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
    .addOption(new Option("--token <token>", "resolver token (prefer the environment variable: flags show up in `ps`)").env("KEYPLANE_TOKEN"));
}

/** GET …/environment → the variables. Throws CliError with the server's problem detail. */
export async function fetchEnvironment(opts: ConnectionOptions): Promise<Record<string, string>> {
  const { org, token, project, environment } = opts;
  if (!org) throw new CliError("--org (or KEYPLANE_ORGANIZATION_ID) is required");
  if (!token) throw new CliError("a resolver token is required: set KEYPLANE_TOKEN (or pass --token)");
  const api = new KeyplaneApi({ endpoint: httpEndpoint(opts.endpoint), token, userAgent: "keyplane-cli", timeoutMs: REQUEST_TIMEOUT_MS, maxAttempts: 1 });
  let body: ApiSchemas["EnvironmentResponse"];
  try {
    ({ body } = await api.send(
      (client, signal) => client.GET("/v1/organizations/{org}/environment", { params: { path: { org }, query: { project_id: project, environment } }, signal }),
      { retryable: false },
    ));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    throw cliError(error, new URL(api.endpoint).origin);
  }
  // Typed by the contract, but a hostile or outdated server can send anything.
  const variables: unknown = body?.variables;
  if (!variables || typeof variables !== "object") throw new CliError("unexpected answer from Keyplane (no variables)");
  return checkReceivedVariables(variables as Record<string, unknown>);
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
function checkReceivedVariables(variables: Record<string, unknown>): Record<string, string> {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(variables)) {
    const problem = variableNameProblem(name);
    if (problem) problems.push(problem);
    else if (typeof value !== "string" || value.includes("\0")) problems.push(`the value of ${name} is not a string an environment can hold`);
  }
  if (problems.length) {
    throw new CliError(`Keyplane sent variables that must not be injected; nothing was used:\n  ${problems.join("\n  ")}`);
  }
  return variables as Record<string, string>;
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

export function registerEnvCommand(program: Command): void {
  addConnectionOptions(program.command("env").description("print the resolved credentials of an organization or project as environment variables"))
    .addOption(new Option("--format <format>", "output format").choices(["dotenv", "json", "shell"]).default("dotenv"))
    .action(async (opts: ConnectionOptions & { format: EnvFormat }) => {
      try {
        process.stdout.write(formatVariables(await fetchEnvironment(opts), opts.format));
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        process.stderr.write(`keyplane: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
}
