import type { Command } from "commander";
import type { DomainError } from "../errors.js";

/**
 * What a service refused, in the command line's words. A field path that names an option of the
 * command being run is printed as that option (`body.expires_at` is `--expires-at` of
 * `token create`); any other path (a nested field, a header, a query parameter, a path the CLI
 * wrote itself) as the service wrote it, since no option of that name exists to point to.
 */
export function domainErrorText(error: DomainError, command: Command | undefined): string {
  if (!error.errors?.length) return error.message;
  const options = new Set(command?.options.map((option) => option.long));
  return error.errors.map(({ path, message }) => `${optionOf(path, options) ?? path} ${message}`).join("; ");
}

/** The option a top-level body field came from, when the command has one of that name. */
function optionOf(path: string, options: ReadonlySet<string | undefined>): string | undefined {
  const field = /^body\.([a-z0-9_]+)$/.exec(path)?.[1];
  const option = field && `--${field.replaceAll("_", "-")}`;
  return option && options.has(option) ? option : undefined;
}
