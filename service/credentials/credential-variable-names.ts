// The variable names a credential write would make Keyplane inject, checked before anything is
// stored: a name that reconfigures the workload (see env-var-names.ts) is refused with its field path.
import { ValidationError, type FieldError } from "../errors.js";
import { variableNameProblem } from "../providers/env-var-names.js";
import type { ProviderEntry } from "../providers/catalog.js";
import { fieldVariableName, SETTING_VARIABLE_SOURCES } from "../resolve/environment-variables.js";

const REFUSED = "The credential would inject a variable that is refused.";

export interface VariableNamePaths {
  /** Where to report a refused `env_var`; null when the write does not set it. */
  envVar: string | null;
  /** Where to report a refused name derived from a secret field. */
  field: (field: string) => string;
}

/**
 * Throws a ValidationError when `envVar` or a name derived from `fieldNames` may not be injected. The
 * variables Keyplane exports from settings (AZURE_OPENAI_ENDPOINT…) are refused as well: a secret
 * under such a name would override the destination the settings chose, around the rule that
 * changing where a secret goes needs the secret again.
 */
export function checkVariableNames(provider: ProviderEntry, envVar: string, fieldNames: readonly string[], paths: VariableNamePaths): void {
  if (paths.envVar !== null) {
    // The field names extend env_var; reporting them as well would only repeat its problem.
    const problem = nameProblem(envVar);
    if (problem) throw new ValidationError([{ path: paths.envVar, message: problem }], REFUSED);
  }
  const errors: FieldError[] = [];
  for (const field of fieldNames) {
    const name = fieldVariableName(provider, envVar, field);
    if (name === envVar) continue;
    const problem = nameProblem(name);
    if (problem) errors.push({ path: paths.field(field), message: `field ${field} is exported as ${name}; ${problem}` });
  }
  if (errors.length) throw new ValidationError(errors, REFUSED);
}

function nameProblem(name: string): string | null {
  const setting = SETTING_VARIABLE_SOURCES.get(name);
  if (setting) return `${name} is exported from ${setting} and cannot hold a secret`;
  return variableNameProblem(name);
}
