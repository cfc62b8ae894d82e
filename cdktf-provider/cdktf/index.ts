// `keyplane/cdktf`: CDKTF bindings for the Keyplane provider. Resource, data source and ephemeral
// resource classes are generated from the plugin's own schema (generated/, `npm run gen:cdktf`);
// the rest keeps secrets out of synthesized configuration.
export * from "./generated/index.js";
export { secretAttributes } from "./generated/secret-attributes.js";
export { KeyplaneProvider } from "./provider.js";
export { secretVariable, SecretVariable, type SecretVariableOptions } from "./secret-variable.js";
export { NoLiteralSecrets, LiteralSecretError, findLiteralSecrets, type LiteralSecretFinding } from "./literal-secrets.js";
export { TerraformEphemeralResource } from "./ephemeral-resource.js";
