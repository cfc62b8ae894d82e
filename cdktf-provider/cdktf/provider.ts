// The provider binding users instantiate: the generated one plus the synth-time literal-secret
// check on its stack (see literal-secrets.ts), so no program has to remember to add it.
import type { Construct } from "constructs";
import { KeyplaneProvider as GeneratedKeyplaneProvider, type KeyplaneProviderConfig } from "./generated/provider/index.js";
import { NoLiteralSecrets } from "./literal-secrets.js";

/**
 * The `keyplane` provider block (source `keyplane/keyplane`). Leave `token` unset and export
 * KEYPLANE_TOKEN, or pass `secretVariable(this, "keyplane_token").value`; a literal token fails synthesis.
 */
export class KeyplaneProvider extends GeneratedKeyplaneProvider {
  constructor(scope: Construct, id: string, config: KeyplaneProviderConfig = {}) {
    super(scope, id, config);
    NoLiteralSecrets.applyTo(this);
  }
}
