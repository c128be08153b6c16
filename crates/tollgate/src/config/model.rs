//! `model_list` entries: one deployment each, with LiteLLM's `litellm_params`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scalar;
use super::secret::Secret;

/// One deployment. Several entries with the same `model_name` form a model group.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelEntry {
    /// The public name clients ask for (`"gpt-4o"`, `"*"`, `"openai/*"`).
    pub model_name: String,
    pub litellm_params: LitellmParams,
    /// Free-form: `id`, `mode`, `base_model`, prices...
    pub model_info: Map<String, Value>,
}

/// How to reach the deployment. Provider parameters not named here land in `extra` without a
/// warning, since every provider has its own.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LitellmParams {
    /// `provider/model`, e.g. `"openai/gpt-4o"`, `"azure/my-deployment"`.
    pub model: String,
    pub custom_llm_provider: Option<String>,
    pub api_base: Option<String>,
    pub api_key: Option<Secret>,
    pub api_version: Option<String>,
    pub organization: Option<String>,
    pub region_name: Option<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub rpm: Option<u64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub tpm: Option<u64>,
    /// Seconds.
    #[serde(deserialize_with = "scalar::opt")]
    pub timeout: Option<f64>,
    /// Seconds.
    #[serde(deserialize_with = "scalar::opt")]
    pub stream_timeout: Option<f64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub max_retries: Option<u32>,
    #[serde(deserialize_with = "scalar::opt")]
    pub input_cost_per_token: Option<f64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub output_cost_per_token: Option<f64>,
    /// Relative share of traffic for simple-shuffle routing.
    #[serde(deserialize_with = "scalar::opt")]
    pub weight: Option<f64>,
    pub aws_access_key_id: Option<Secret>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    pub aws_web_identity_token: Option<Secret>,
    pub aws_region_name: Option<String>,
    pub aws_role_name: Option<String>,
    pub aws_session_name: Option<String>,
    pub aws_profile_name: Option<String>,
    pub aws_bedrock_runtime_endpoint: Option<String>,
    pub vertex_project: Option<String>,
    pub vertex_location: Option<String>,
    /// A service-account JSON document or the path to one.
    pub vertex_credentials: Option<Secret>,
    pub azure_ad_token: Option<Secret>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// Every other provider parameter, passed through as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
