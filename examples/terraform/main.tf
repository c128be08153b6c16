# A gateway set up from Terraform: a model, an organization with a team, a user in the team,
# and a key for that user. See README.md beside this file for how to run it.

terraform {
  required_providers {
    tollgate = {
      source = "tollgate/tollgate"
    }
  }
}

variable "api_base" {
  description = "The gateway (the quick start serves on port 4000)."
  default     = "http://127.0.0.1:4000"
}

variable "api_key" {
  description = "The gateway's master key."
  default     = "sk-1234"
  sensitive   = true
}

provider "tollgate" {
  api_base = var.api_base
  api_key  = var.api_key
}

# The built-in mock provider answers without any upstream account.
resource "tollgate_model" "demo" {
  model_name = "demo"
  litellm_params {
    model                 = "mock/demo"
    input_cost_per_token  = 0.000001
    output_cost_per_token = 0.000002
  }
  model_info = {
    mode = "chat"
  }
}

resource "tollgate_organization" "acme" {
  organization_alias = "Acme"
  max_budget         = 1000
}

resource "tollgate_team" "eng" {
  team_alias      = "Engineering"
  organization_id = tollgate_organization.acme.id
  models          = [tollgate_model.demo.model_name]
  max_budget      = 100
  budget_duration = "30d"
}

resource "tollgate_user" "ann" {
  user_id    = "ann"
  user_email = "ann@example.com"
}

resource "tollgate_team_member" "ann" {
  team_id = tollgate_team.eng.id
  user_id = tollgate_user.ann.id
  role    = "admin"
}

resource "tollgate_key" "ci" {
  key_alias  = "ci"
  team_id    = tollgate_team.eng.id # `.id`: follows the team even when it is replaced
  user_id    = tollgate_user.ann.id
  models     = [tollgate_model.demo.model_name]
  max_budget = 10
  # Change a value here to rotate the key in place (new value, same alias, budget and spend).
  rotation_keepers = {
    rotated = "2026-01"
  }
}

resource "tollgate_budget" "shared" {
  budget_id       = "shared-gold"
  max_budget      = 50
  budget_duration = "1mo"
}

resource "tollgate_customer" "shop" {
  user_id   = "shop-customer-1"
  alias     = "Shop customer"
  budget_id = tollgate_budget.shared.id
}

output "ci_key" {
  description = "The key's value: use it as the OpenAI API key against the gateway."
  value       = tollgate_key.ci.key
  sensitive   = true
}
