// The HCL every engine suite starts with: the required provider, the variables the provider block
// reads (endpoint, org, token) and the provider block, plus the variables a scenario adds. Secret
// variables are sensitive and ephemeral, as the docs tell users to declare them; `optional` ones
// default to null, so a run can leave them unset (e.g. a destroy without the secret).

export interface VariableSpec {
  type?: string;
  /** Sensitive and ephemeral: a secret passed as TF_VAR_<name> at plan/apply time. */
  secret?: boolean;
  /** An HCL expression, e.g. `null` or `1`. */
  default?: string;
}

export function variables(specs: Record<string, VariableSpec>): string {
  return Object.entries(specs)
    .map(([name, spec]) => {
      const lines = [`  type = ${spec.type ?? "string"}`];
      if (spec.secret) lines.push("  sensitive = true", "  ephemeral = true");
      if (spec.default !== undefined) lines.push(`  default = ${spec.default}`);
      return `variable "${name}" {\n${lines.join("\n")}\n}\n`;
    })
    .join("\n");
}

/** terraform block, `endpoint`/`org`/`token` variables, the keyplane provider block, and `extra` variables. */
export function keyplanePrologue(extra: Record<string, VariableSpec> = {}): string {
  return `terraform {
  required_providers {
    keyplane = { source = "keyplane/keyplane" }
  }
}

${variables({ endpoint: {}, org: {}, token: { secret: true }, ...extra })}
provider "keyplane" {
  endpoint        = var.endpoint
  token           = var.token
  organization_id = var.org
}
`;
}
