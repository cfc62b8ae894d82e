# Key hints are safe to show: the provider's public prefix and at most the last 4 characters.
output "key_hints" {
  description = "Hint of each managed credential's current key."
  value = {
    openai                = keyplane_credential.openai.key_hint
    support_bot_anthropic = keyplane_credential.support_bot_anthropic.key_hint
  }
}

output "stored_credentials" {
  description = "Every credential of the organization: name => provider, hint, key version, scope."
  value = {
    for c in data.keyplane_credentials.all.credentials :
    c.name => "${c.provider_type} ${c.key_hint} (v${c.key_version}, ${c.project_id == null ? "organization" : c.project_id})"
  }
}

output "support_bot_project_id" {
  description = "Give this to the support bot: it resolves with project_id and a resolver token."
  value       = keyplane_project.support_bot.id
}
