// The synth-time guard: a secret written as a literal in the program would land in cdk.tf.json
// (and from there in the repository, CI artifacts, caches). KeyplaneProvider adds this aspect to its
// stack; when the stack is synthesized it scans every element for the arguments that the plugin's
// schema marks sensitive or write-only (generated/secret-attributes.ts) and throws before anything
// of the stack is written. References (variables, other resources' attributes, functions) are
// tokens and pass. The error names the argument, never its value.
import { Aspects, TerraformElement, TerraformStack, Token, type IAspect } from "cdktf";
import type { IConstruct } from "constructs";
import { secretAttributes } from "./generated/secret-attributes.js";

export interface LiteralSecretFinding {
  /** Construct path, e.g. "prod/openai". */
  readonly constructPath: string;
  /** Terraform type: "keyplane" for the provider block, else e.g. "keyplane_credential". */
  readonly terraformType: string;
  /** Argument path, e.g. "api_key_wo" or "fields_wo.secret_access_key". */
  readonly argument: string;
  /** What to write instead. */
  readonly advice: string;
}

export class LiteralSecretError extends Error {
  override name = "LiteralSecretError";
  constructor(readonly findings: readonly LiteralSecretFinding[]) {
    super(
      [
        `Keyplane: ${findings.length === 1 ? "a secret is written as a literal value" : `${findings.length} secrets are written as literal values`} in the CDKTF program; synthesis stopped so that cdk.tf.json never holds them.`,
        ...findings.map(
          (f) => `  - ${f.terraformType === "keyplane" ? "provider keyplane" : f.terraformType} at ${f.constructPath}, argument ${f.argument}: ${f.advice}`,
        ),
      ].join("\n"),
    );
  }
}

type TypedElement = TerraformElement & { terraformResourceType?: unknown };

/** Every literal secret argument in the stack. */
export function findLiteralSecrets(stack: TerraformStack): LiteralSecretFinding[] {
  const findings: LiteralSecretFinding[] = [];
  for (const node of stack.node.findAll()) {
    if (!TerraformElement.isTerraformElement(node)) continue;
    const type = (node as TypedElement).terraformResourceType;
    if (typeof type !== "string") continue;
    const secrets = secretAttributes[type];
    if (!secrets) continue;
    const body = elementBody(node, type);
    if (!body) continue;
    for (const argument of secrets) {
      for (const path of literalPaths(body[argument], argument)) {
        findings.push({ constructPath: node.node.path, terraformType: type, argument: path, advice: advice(type, node.node.id, path) });
      }
    }
  }
  return findings;
}

/** The element's arguments as they would be synthesized (overrides included), tokens unresolved. */
function elementBody(element: TerraformElement, type: string): Record<string, unknown> | undefined {
  const fragment = element.toTerraform() as Record<string, Record<string, unknown> | undefined>;
  for (const kind of ["resource", "data", "ephemeral"]) {
    const block = (fragment[kind]?.[type] as Record<string, unknown> | undefined)?.[element.friendlyUniqueId];
    if (block && typeof block === "object") return block as Record<string, unknown>;
  }
  const providerBlocks = fragment.provider?.[type];
  if (Array.isArray(providerBlocks) && providerBlocks[0] && typeof providerBlocks[0] === "object") return providerBlocks[0] as Record<string, unknown>;
  return undefined;
}

/** Paths of literal (non-token) strings and numbers inside a value. */
function literalPaths(value: unknown, path: string): string[] {
  if (value === undefined || value === null || typeof value === "boolean") return [];
  // References of every shape: string, number, list and map tokens, resolvables.
  if (Token.isUnresolved(value)) return [];
  if (typeof value === "string" || typeof value === "number") return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => literalPaths(v, `${path}[${i}]`));
  if (typeof value === "object") return Object.entries(value).flatMap(([k, v]) => literalPaths(v, `${path}.${k}`));
  return [path];
}

const snake = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .toLowerCase() || "secret";

function advice(type: string, constructId: string, path: string): string {
  if (type === "keyplane") {
    return 'leave it unset and export KEYPLANE_TOKEN when running the engine, or use secretVariable(this, "keyplane_token").value and export TF_VAR_keyplane_token.';
  }
  const leaf = path.includes(".") ? path.slice(path.lastIndexOf(".") + 1) : path.replace(/_wo$/, "");
  const name = `${snake(constructId)}_${snake(leaf)}`;
  return `use secretVariable(this, "${name}").value and export TF_VAR_${name} at plan/apply time (or a reference such as EphemeralKeyplaneResolvedCredential's secret).`;
}

/** The aspect KeyplaneProvider adds to its stack. */
export class NoLiteralSecrets implements IAspect {
  /** Adds the check to the stack of `scope`, once. */
  static applyTo(scope: IConstruct): void {
    const stack = TerraformStack.of(scope);
    const aspects = Aspects.of(stack);
    if (!aspects.all.some((a) => a instanceof NoLiteralSecrets)) aspects.add(new NoLiteralSecrets());
  }

  visit(node: IConstruct): void {
    // Aspects visit the stack before its children: one scan there reports every finding at once.
    if (!TerraformStack.isStack(node)) return;
    const findings = findLiteralSecrets(node);
    if (findings.length > 0) throw new LiteralSecretError(findings);
  }
}
