# Keyplane example: two AI provider credentials, a project that inherits the organization's
# credentials, the project's chat model alias, and a read-back of what is stored (metadata and key
# hints only).
#
# Secrets come in through ephemeral, sensitive variables (TF_VAR_openai_api_key, …) and go to the
# write-only api_key_wo arguments: they never appear in the plan, the plan file or the state.
# See README.md for how to run it.

terraform {
  required_version = ">= 1.11"

  required_providers {
    keyplane = {
      # For options B and C of README.md (the provider from a checkout). For option A, `init` from
      # your Keyplane service, put its host here: "keyplane.example.com/keyplane/keyplane", or
      # "localhost:8443/keyplane/keyplane" for the local service README.md starts.
      source = "keyplane/keyplane"
    }
  }
}

# endpoint, token and organization_id come from KEYPLANE_ENDPOINT, KEYPLANE_TOKEN and
# KEYPLANE_ORGANIZATION_ID. Use an admin token of the organization.
provider "keyplane" {}

# The organization's OpenAI key: every project that inherits resolves to it.
resource "keyplane_credential" "openai" {
  provider_type        = "openai"
  name                 = "openai-production"
  api_key_wo           = var.openai_api_key
  api_key_wo_version   = var.openai_api_key_version
  is_default           = true
  owner                = "platform-team@example.com"
  description          = "Organization-wide OpenAI key"
  rotation_period_days = 90
}

# A project that has its own Anthropic key and falls back to the organization for the rest.
resource "keyplane_project" "support_bot" {
  name                             = "support-bot"
  description                      = "Customer support assistant"
  inherit_organization_credentials = true
}

resource "keyplane_credential" "support_bot_anthropic" {
  project_id         = keyplane_project.support_bot.id
  provider_type      = "anthropic"
  name               = "support-bot-anthropic"
  api_key_wo         = var.anthropic_api_key
  api_key_wo_version = var.anthropic_api_key_version
  is_default         = true
  owner              = "support-team@example.com"
}

# The name the support bot resolves ("alias": "chat") instead of a provider: which provider, model
# and key it gets. Switching providers is a change of var.chat_provider, reviewed as an in-place
# plan of provider_type, model and credential_id — never of a key.
locals {
  chat_models = {
    openai    = { model = "gpt-5", credential_id = keyplane_credential.openai.id }
    anthropic = { model = "claude-sonnet-4-5", credential_id = keyplane_credential.support_bot_anthropic.id }
  }
}

resource "keyplane_model_alias" "support_chat" {
  project_id    = keyplane_project.support_bot.id
  name          = "chat"
  provider_type = var.chat_provider
  model         = local.chat_models[var.chat_provider].model
  credential_id = local.chat_models[var.chat_provider].credential_id
  params = {
    temperature = 0.2
    max_tokens  = 1024
  }
  owner = "support-team@example.com"
}

# Everything stored for the organization (itself and its projects), as metadata and hints.
data "keyplane_credentials" "all" {
  depends_on = [keyplane_credential.openai, keyplane_credential.support_bot_anthropic]
}
