//! The `litellm_settings`, `router_settings` and `general_settings` sections of `config.yaml`,
//! with LiteLLM's key names. Unknown keys are not collected here, so a typo produces a warning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scalar;
use super::secret::Secret;

/// `[{"gpt-4": ["gpt-3.5-turbo"]}]`: for each model group, the groups to try next.
pub type Fallbacks = Vec<BTreeMap<String, Vec<String>>>;

/// `litellm_settings`: library-wide behaviour, the proxy budget, cache and key defaults.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LitellmSettings {
    #[serde(deserialize_with = "scalar::opt")]
    pub drop_params: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub num_retries: Option<u32>,
    /// Seconds (LiteLLM's default is 600).
    #[serde(deserialize_with = "scalar::opt")]
    pub request_timeout: Option<f64>,
    pub fallbacks: Fallbacks,
    pub context_window_fallbacks: Fallbacks,
    pub content_policy_fallbacks: Fallbacks,
    /// The whole gateway's budget, in USD.
    #[serde(deserialize_with = "scalar::opt")]
    pub max_budget: Option<f64>,
    /// How often the gateway budget resets (`"30d"`, `"1mo"`...).
    pub budget_duration: Option<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub cache: Option<bool>,
    pub cache_params: Option<CacheParams>,
    #[serde(deserialize_with = "scalar::one_or_many")]
    pub success_callback: Vec<String>,
    #[serde(deserialize_with = "scalar::one_or_many")]
    pub failure_callback: Vec<String>,
    #[serde(deserialize_with = "scalar::one_or_many")]
    pub callbacks: Vec<String>,
    /// Fills the fields a `/key/generate` request leaves unset.
    pub default_key_generate_params: Option<KeyParams>,
    /// Caps what a `/key/generate` request may ask for.
    pub upperbound_key_generate_params: Option<KeyParams>,
    pub default_team_settings: Vec<Value>,
    #[serde(deserialize_with = "scalar::opt")]
    pub max_end_user_budget: Option<f64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub telemetry: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub set_verbose: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub json_logs: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub turn_off_message_logging: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub redact_user_api_key_info: Option<bool>,
    pub default_internal_user_params: Option<Value>,
}

/// `litellm_settings.cache_params`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheParams {
    /// `redis` (LiteLLM's proxy default when absent), `local`, `s3`...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub host: Option<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub port: Option<u16>,
    pub password: Option<Secret>,
    /// A `redis://` URL; it may carry a password.
    pub url: Option<Secret>,
    pub namespace: Option<String>,
    /// Seconds.
    #[serde(deserialize_with = "scalar::opt")]
    pub ttl: Option<f64>,
    pub supported_call_types: Vec<String>,
}

/// `default_key_generate_params` / `upperbound_key_generate_params`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyParams {
    #[serde(deserialize_with = "scalar::opt")]
    pub max_budget: Option<f64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub soft_budget: Option<f64>,
    pub budget_duration: Option<String>,
    /// Key lifetime (`"30d"`).
    pub duration: Option<String>,
    pub models: Vec<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub tpm_limit: Option<u64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub rpm_limit: Option<u64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub max_parallel_requests: Option<u32>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub metadata: Map<String, Value>,
}

/// `router_settings`: load balancing, retries, cooldowns, and the Redis shared between replicas.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouterSettings {
    /// `simple-shuffle` (default), `least-busy`, `usage-based-routing`, ...
    pub routing_strategy: Option<String>,
    /// Options of the strategy: `lowest_latency_buffer` for `latency-based-routing`.
    pub routing_strategy_args: Map<String, Value>,
    pub redis_host: Option<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub redis_port: Option<u16>,
    pub redis_password: Option<Secret>,
    pub redis_url: Option<Secret>,
    #[serde(deserialize_with = "scalar::opt")]
    pub num_retries: Option<u32>,
    /// Seconds.
    #[serde(deserialize_with = "scalar::opt")]
    pub timeout: Option<f64>,
    /// Minimum seconds to wait before retrying.
    #[serde(deserialize_with = "scalar::opt")]
    pub retry_after: Option<f64>,
    /// Failures per minute before a deployment cools down (LiteLLM's default is 3).
    #[serde(deserialize_with = "scalar::opt")]
    pub allowed_fails: Option<u32>,
    /// Seconds a failing deployment is left out (LiteLLM's default is 5).
    #[serde(deserialize_with = "scalar::opt")]
    pub cooldown_time: Option<f64>,
    pub fallbacks: Fallbacks,
    pub context_window_fallbacks: Fallbacks,
    pub content_policy_fallbacks: Fallbacks,
    pub model_group_alias: BTreeMap<String, Value>,
    #[serde(deserialize_with = "scalar::opt")]
    pub enable_pre_call_checks: Option<bool>,
    pub retry_policy: Option<Value>,
    pub allowed_fails_policy: Option<Value>,
}

/// `general_settings`: the proxy itself (keys, database, spend logging, alerting).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneralSettings {
    pub master_key: Option<Secret>,
    pub database_url: Option<Secret>,
    #[serde(deserialize_with = "scalar::opt")]
    pub database_connection_pool_limit: Option<u32>,
    /// Seconds.
    #[serde(deserialize_with = "scalar::opt")]
    pub database_connection_timeout: Option<f64>,
    /// A header read for the key besides `Authorization`.
    pub litellm_key_header_name: Option<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub store_model_in_db: Option<bool>,
    /// Seconds between spend write batches.
    #[serde(deserialize_with = "scalar::opt")]
    pub proxy_batch_write_at: Option<f64>,
    /// Seconds; the budget reset job runs at a random time between min and max.
    #[serde(deserialize_with = "scalar::opt")]
    pub proxy_budget_rescheduler_min_time: Option<u64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub proxy_budget_rescheduler_max_time: Option<u64>,
    #[serde(deserialize_with = "scalar::opt")]
    pub disable_spend_logs: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub disable_reset_budget: Option<bool>,
    #[serde(deserialize_with = "scalar::opt")]
    pub allow_requests_on_db_unavailable: Option<bool>,
    /// Seconds a cached key lives without an invalidation (default 60).
    #[serde(deserialize_with = "scalar::opt")]
    pub user_api_key_cache_ttl: Option<f64>,
    /// Seconds between runs of the spend-log retention job (default 3600).
    #[serde(deserialize_with = "scalar::opt")]
    pub maximum_spend_logs_cleanup_interval: Option<f64>,
    /// How long spend log rows are kept (`"90d"`).
    pub maximum_spend_logs_retention_period: Option<String>,
    #[serde(deserialize_with = "scalar::opt")]
    pub use_redis_transaction_buffer: Option<bool>,
    #[serde(deserialize_with = "scalar::one_or_many")]
    pub alerting: Vec<String>,
    /// Seconds before a slow request is alerted on.
    #[serde(deserialize_with = "scalar::opt")]
    pub alerting_threshold: Option<f64>,
    pub pass_through_endpoints: Option<Value>,
    #[serde(deserialize_with = "scalar::opt")]
    pub background_health_checks: Option<bool>,
    /// Seconds.
    #[serde(deserialize_with = "scalar::opt")]
    pub health_check_interval: Option<u64>,
}
