# Secrets: sensitive (redacted in output) and ephemeral (never stored in plan or state). Supply
# them at plan and apply time as TF_VAR_openai_api_key and TF_VAR_anthropic_api_key.
variable "openai_api_key" {
  description = "OpenAI API key (sk-…). Only read when openai_api_key_version changes."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "anthropic_api_key" {
  description = "Anthropic API key (sk-ant-…). Only read when anthropic_api_key_version changes."
  type        = string
  sensitive   = true
  ephemeral   = true
}

# Bump a version to rotate: the next apply stores the key given with it as a new key version.
variable "openai_api_key_version" {
  description = "Change (e.g. increase) to push openai_api_key as a new key version."
  type        = number
  default     = 1
}

variable "anthropic_api_key_version" {
  description = "Change (e.g. increase) to push anthropic_api_key as a new key version."
  type        = number
  default     = 1
}

variable "chat_provider" {
  description = "Provider behind the support bot's chat alias: openai or anthropic."
  type        = string
  default     = "openai"

  validation {
    condition     = contains(["openai", "anthropic"], var.chat_provider)
    error_message = "chat_provider must be openai or anthropic."
  }
}
