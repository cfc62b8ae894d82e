// `keyplane env`: fetch the resolved variables of an organization (and project) from a running
// Keyplane and print them as dotenv, JSON or shell exports. Shared with `keyplane run`.
import { Command, Option } from "commander";

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
  if (!opts.org) throw new CliError("--org (or KEYPLANE_ORGANIZATION_ID) is required");
  if (!opts.token) throw new CliError("a resolver token is required: set KEYPLANE_TOKEN (or pass --token)");
  let base: URL;
  try {
    base = new URL(opts.endpoint);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error("scheme");
  } catch {
    throw new CliError("--endpoint (or KEYPLANE_ENDPOINT) must be an http:// or https:// URL");
  }
  const url = new URL(`${base.pathname.replace(/\/+$/, "")}/v1/organizations/${encodeURIComponent(opts.org)}/environment`, base);
  if (opts.project) url.searchParams.set("project_id", opts.project);
  if (opts.environment) url.searchParams.set("environment", opts.environment);

  let response: Response;
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${opts.token}`, accept: "application/json" },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const e = error as { name?: string; cause?: { code?: unknown } };
    const why = e?.name === "TimeoutError" ? "no answer within 30 s" : typeof e?.cause?.code === "string" ? e.cause.code : "connection failed";
    throw new CliError(`cannot reach Keyplane at ${base.origin} (${why})`);
  }
  const text = await response.text();
  if (response.status !== 200) {
    let detail = `HTTP ${response.status}`;
    try {
      const problem = JSON.parse(text) as { detail?: unknown; code?: unknown };
      if (typeof problem.detail === "string") detail = `${problem.detail} (HTTP ${response.status}${typeof problem.code === "string" ? ` ${problem.code}` : ""})`;
    } catch {
      // not a problem document: the status alone says enough
    }
    throw new CliError(detail);
  }
  const body = JSON.parse(text) as { variables?: unknown };
  if (!body.variables || typeof body.variables !== "object") throw new CliError("unexpected answer from Keyplane (no variables)");
  return body.variables as Record<string, string>;
}

export type EnvFormat = "dotenv" | "json" | "shell";

/**
 * dotenv: `NAME="value"` with `\`, `"`, newline and carriage return backslash-escaped (dotenv
 * dialects disagree on escapes; API keys need none, and json or shell are exact for anything);
 * shell: `export NAME='value'`, POSIX single quotes, safe for `eval "$(keyplane env --format shell)"`;
 * json: one object.
 */
export function formatVariables(variables: Record<string, string>, format: EnvFormat): string {
  const names = Object.keys(variables).sort();
  if (format === "json") return `${JSON.stringify(Object.fromEntries(names.map((n) => [n, variables[n]])), null, 2)}\n`;
  const line =
    format === "shell"
      ? (n: string) => `export ${n}='${variables[n].replace(/'/g, `'\\''`)}'`
      : (n: string) =>
          `${n}="${variables[n].replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r")}"`;
  return names.map((n) => `${line(n)}\n`).join("");
}

export function registerEnvCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("env")
      .description("print the resolved credentials of an organization or project as environment variables"),
  )
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
