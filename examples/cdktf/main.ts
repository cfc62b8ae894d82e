// An organization's AI provider credentials as a CDKTF app: one OpenAI and one Anthropic key at
// organization level, and a project that inherits them. The keys are secret variables: the program
// never holds them, cdk.tf.json holds only `var.openai_api_key`, and the engine reads the values
// from TF_VAR_openai_api_key / TF_VAR_anthropic_api_key at plan and apply time. The provider takes
// its endpoint, token and organization from KEYPLANE_ENDPOINT, KEYPLANE_TOKEN and
// KEYPLANE_ORGANIZATION_ID.
import { App, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { Credential, KeyplaneProvider, Project, secretVariable } from "keyplane/cdktf";

class AiCredentials extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new KeyplaneProvider(this, "keyplane");
    // The bindings' source is "keyplane/keyplane" (the development mirror of README.md). To install
    // the provider from your Keyplane service instead, name its host (README.md, "Install the
    // provider from your Keyplane service"):
    // this.addOverride("terraform.required_providers.keyplane.source", "keyplane.example.com/keyplane/keyplane");

    const openai = new Credential(this, "openai", {
      providerType: "openai",
      name: "production",
      apiKeyWo: secretVariable(this, "openai_api_key", { description: "OpenAI API key (sk-…)" }).value,
      // Increase to push a new key from TF_VAR_openai_api_key (a rotation); the plan shows the new hint.
      apiKeyWoVersion: 1,
      isDefault: true,
      owner: "platform-team",
      description: "Organization-wide OpenAI key",
      rotationPeriodDays: 90,
    });

    const anthropic = new Credential(this, "anthropic", {
      providerType: "anthropic",
      name: "production",
      apiKeyWo: secretVariable(this, "anthropic_api_key", { description: "Anthropic API key (sk-ant-…)" }).value,
      apiKeyWoVersion: 1,
      isDefault: true,
      owner: "platform-team",
      description: "Organization-wide Anthropic key",
      // The tests that deploy this example resolve this key through the project, then destroy the
      // stack at once; without this, Keyplane refuses to delete a key resolved in the last 24 hours.
      forceDestroy: true,
    });

    // Has no keys of its own: resolution falls through to the organization's.
    const assistant = new Project(this, "assistant", {
      name: "support-assistant",
      description: "Customer support assistant",
      inheritOrganizationCredentials: true,
    });

    new TerraformOutput(this, "openai_key_hint", { value: openai.keyHint });
    new TerraformOutput(this, "anthropic_key_hint", { value: anthropic.keyHint });
    new TerraformOutput(this, "assistant_project_id", { value: assistant.id });
  }
}

const app = new App();
new AiCredentials(app, "ai-credentials");
app.synth();
