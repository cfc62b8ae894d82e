// Base class of the generated ephemeral-resource bindings. CDKTF 0.21 has no ephemeral resources;
// an ephemeral block has the shape of a data block (arguments, computed attributes, the same
// meta-arguments), so this reuses TerraformDataSource's synthesis and changes what differs: the
// block is `ephemeral "<type>" "<name>"` and references read `ephemeral.<type>.<name>.<attribute>`.
// The engine opens the resource during plan and apply and never stores its values; they may only
// flow into write-only arguments, provider configuration and other ephemeral contexts.
//
// Rendering: JSON (the default synth output). CDKTF 0.21's HCL renderer (`hclOutput: true`) drops
// block kinds it does not know, this one included; CDK Terrain renders it.
import * as cdktf from "cdktf";

const EPHEMERAL_SYMBOL = Symbol.for("keyplane/TerraformEphemeralResource");

export class TerraformEphemeralResource extends cdktf.TerraformDataSource {
  private fqnToken?: string;

  constructor(...args: ConstructorParameters<typeof cdktf.TerraformDataSource>) {
    super(...args);
    Object.defineProperty(this, EPHEMERAL_SYMBOL, { value: true });
  }

  static isTerraformEphemeralResource(x: unknown): x is TerraformEphemeralResource {
    return x !== null && typeof x === "object" && EPHEMERAL_SYMBOL in x;
  }

  /** `ephemeral.<type>.<name>`, e.g. for `dependsOn`. */
  override get fqn(): string {
    this.fqnToken ??= cdktf.Token.asString(cdktf.ref(`ephemeral.${this.terraformResourceType}.${this.friendlyUniqueId}`, this.cdktfStack));
    return this.fqnToken;
  }

  override interpolationForAttribute(terraformAttribute: string): cdktf.IResolvable {
    const each = this.forEach ? ".*" : "";
    return cdktf.ref(`ephemeral.${this.terraformResourceType}.${this.friendlyUniqueId}${each}.${terraformAttribute}`, this.cdktfStack);
  }

  override toTerraform(): Record<string, unknown> {
    return asEphemeral(super.toTerraform() as Record<string, unknown>);
  }

  override toHclTerraform(): Record<string, unknown> {
    return asEphemeral(super.toHclTerraform() as Record<string, unknown>);
  }
}

function asEphemeral(fragment: { data?: unknown }): Record<string, unknown> {
  const { data, ...rest } = fragment;
  return { ...rest, ephemeral: data };
}
