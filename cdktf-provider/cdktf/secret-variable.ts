// secretVariable(): how a CDKTF program takes a secret without ever holding it. The program only
// declares the variable; the engine reads its value from TF_VAR_<name> (or a -var flag) while
// planning and applying. `ephemeral = true` keeps the value out of the plan file and the state,
// and limits it to write-only arguments (api_key_wo, fields_wo), provider configuration and other
// ephemeral contexts; `sensitive = true` redacts it from CLI output.
import { TerraformStack, TerraformVariable } from "cdktf";
import type { Construct } from "constructs";

export interface SecretVariableOptions {
  /** Shown when the engine prompts for the value. */
  readonly description?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A sensitive, ephemeral string variable named exactly `name` (so its value comes from TF_VAR_<name>). */
export class SecretVariable extends TerraformVariable {
  /** The variable's name in the configuration. */
  readonly name: string;

  constructor(scope: Construct, name: string, options: SecretVariableOptions = {}) {
    if (!NAME.test(name)) {
      throw new Error(
        `secretVariable name "${name}" must start with a letter or underscore and contain only letters, digits and underscores, so that TF_VAR_${name} can be exported from a shell.`,
      );
    }
    const stack = TerraformStack.of(scope);
    const taken = stack.node.findAll().some((c) => c instanceof SecretVariable && c.name === name);
    if (taken) throw new Error(`secretVariable "${name}" is declared twice in stack ${stack.node.id}; declare it once and share its value.`);
    super(scope, name, {
      type: "string",
      sensitive: true,
      description: options.description ?? `Secret; supplied as TF_VAR_${name} at plan and apply time.`,
    });
    this.name = name;
    // Nested scopes would otherwise get a hashed name, and TF_VAR_<name> would not reach it.
    this.overrideLogicalId(name);
  }

  /** The environment variable that supplies the value. */
  get envVar(): string {
    return `TF_VAR_${this.name}`;
  }

  /** A token for `var.<name>`; typed as a string for arguments such as `apiKeyWo`. */
  override get value(): string {
    return this.stringValue;
  }

  override synthesizeAttributes(): { [key: string]: unknown } {
    return { ...super.synthesizeAttributes(), ephemeral: true };
  }

  override synthesizeHclAttributes(): { [key: string]: unknown } {
    return { ...super.synthesizeHclAttributes(), ephemeral: { value: true, type: "simple", storageClassType: "boolean" } };
  }
}

/**
 * Declares a secret input of the stack: sensitive, ephemeral, of type string, named `name`. Its
 * `.value` is a reference (`var.<name>`), never the secret; supply the secret as TF_VAR_<name>
 * when running `cdktf deploy` / `tofu apply`, not at synth.
 */
export function secretVariable(scope: Construct, name: string, options: SecretVariableOptions = {}): SecretVariable {
  return new SecretVariable(scope, name, options);
}
