// The CLI prints a refused field as the option it came from only when the command being run has
// that option; every other path stays as the service wrote it.
import { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import { domainErrorText } from "../../service/cli/domain-error-text.js";
import { ConflictError, ValidationError } from "../../service/errors.js";

/** `token create`'s options, as main.ts declares them. */
function tokenCreate(): Command {
  return new Command("create")
    .option("--org <id>")
    .addOption(new Option("--role <role>").makeOptionMandatory())
    .option("--name <name>")
    .option("--expires-at <iso>");
}

const refused = (...errors: { path: string; message: string }[]) => new ValidationError(errors);

describe("domainErrorText", () => {
  it("prints a top-level body field as the command's option of that name", () => {
    const text = domainErrorText(
      refused({ path: "body.expires_at", message: "must be in the future" }, { path: "body.name", message: "is too long" }),
      tokenCreate(),
    );
    expect(text).toBe("--expires-at must be in the future; --name is too long");
  });

  it("leaves paths that are no option of the command as the service wrote them", () => {
    const command = tokenCreate().option("--provider-type <type>");
    const text = domainErrorText(
      refused(
        // A body field the command has no option for (its organization is --org).
        { path: "body.organization_id", message: "is not an organization" },
        { path: "body.project_id", message: "is not a project of this organization" },
        // Nested: not the command's --provider-type, although the last segment is spelled alike.
        { path: "body.settings.provider_type", message: "is not a setting of this provider" },
        { path: "header.idempotency_key", message: "was used for another request" },
        { path: "query.rotation_due", message: "must be true or false" },
        // Paths the CLI wrote itself.
        { path: "--expires-at", message: "must be a date-time" },
        { path: "signing key", message: "does not exist" },
      ),
      command,
    );
    expect(text.split("; ")).toEqual([
      "body.organization_id is not an organization",
      "body.project_id is not a project of this organization",
      "body.settings.provider_type is not a setting of this provider",
      "header.idempotency_key was used for another request",
      "query.rotation_due must be true or false",
      "--expires-at must be a date-time",
      "signing key does not exist",
    ]);
  });

  it("maps nothing when no command's action ran, and prints an error without fields as its message", () => {
    expect(domainErrorText(refused({ path: "body.expires_at", message: "must be in the future" }), undefined)).toBe("body.expires_at must be in the future");
    expect(domainErrorText(new ConflictError("credential_active", "The credential is active."), tokenCreate())).toBe("The credential is active.");
  });
});
