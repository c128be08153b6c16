//! A deployment: one `model_list` entry (or one model stored in the database), resolved into
//! the provider, the upstream model name, and where and how to call it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tollgate_llm::providers::{self, Native};
use tollgate_llm::Target;

use tollgate_llm::bedrock::BedrockParams;
use tollgate_llm::vertex::VertexParams;

use crate::config::{LitellmParams, ModelEntry, Secret};

/// Providers this gateway speaks.
#[derive(Debug, Clone)]
pub enum Provider {
    /// Any server with OpenAI's API (OpenAI itself and the compatible family).
    OpenAiCompatible,
    /// The built-in mock.
    Mock,
    /// A provider with an adapter of its own (Anthropic, Azure, Gemini, Cohere, ...).
    Native(Arc<Native>),
}

impl Provider {
    pub fn is_mock(&self) -> bool {
        matches!(self, Provider::Mock)
    }
}

/// One place a model group can send a request.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Stable id: `model_info.id`, or the SHA-256 of the entry's parameters.
    pub id: Arc<str>,
    /// The public name clients ask for (the model group).
    pub model_name: String,
    /// `litellm_params.model` as configured, e.g. `openai/gpt-4o`.
    pub litellm_model: String,
    pub provider: Provider,
    /// The provider's name, as `custom_llm_provider` in spend logs.
    pub provider_name: Arc<str>,
    pub target: Target,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub weight: f64,
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub model_info: Map<String, Value>,
    /// Stored in the database (managed through /model/new) rather than the config file.
    pub db_model: bool,
    /// The deployment's prices, looked up in the price table on first use.
    pub price: std::sync::OnceLock<Option<crate::spend::pricing::ModelPrice>>,
}

/// Why a model entry cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("model {model_name} ({model}): {reason}")]
pub struct DeploymentError {
    pub model_name: String,
    pub model: String,
    pub reason: String,
}

impl Deployment {
    /// Resolves a model entry. `env` looks up provider key variables (e.g. `OPENAI_API_KEY`).
    pub fn from_entry(
        entry: &ModelEntry,
        db_model: bool,
        default_timeout: Duration,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DeploymentError> {
        let p = &entry.litellm_params;
        let fail = |reason: String| DeploymentError {
            model_name: entry.model_name.clone(),
            model: p.model.clone(),
            reason,
        };
        let (prefix, model) = match (p.custom_llm_provider.as_deref(), p.model.split_once('/')) {
            (Some(provider), _) => (provider.to_owned(), p.model.clone()),
            (None, Some((prefix, rest))) => (prefix.to_owned(), rest.to_owned()),
            (None, None) if p.model == "mock" => ("mock".to_owned(), "mock".to_owned()),
            (None, None) => ("openai".to_owned(), p.model.clone()),
        };
        let options = providers::Options {
            api_version: p.api_version.clone().or_else(|| {
                (prefix == "azure")
                    .then(|| env("AZURE_API_VERSION"))
                    .flatten()
            }),
            bearer: p.api_key.is_none() && p.azure_ad_token.is_some(),
            aws: aws_params(p),
            vertex: vertex_params(p),
            env: providers::ENV_VARS
                .iter()
                .filter_map(|n| env(n).map(|v| ((*n).to_owned(), v)))
                .collect(),
        };
        let (provider, base, key_var) = if prefix == "mock" {
            (Provider::Mock, String::new(), "")
        } else if let Some((base, var)) = super::compatible::lookup(&prefix) {
            (Provider::OpenAiCompatible, base.to_owned(), var)
        } else if let Some(n) = providers::native(&prefix, &options) {
            let (base, var) = (n.default_base.to_owned(), n.key_var);
            (Provider::Native(Arc::new(n)), base, var)
        } else if p.api_base.is_some() {
            (Provider::OpenAiCompatible, String::new(), "")
        } else {
            return Err(fail(format!(
                "provider '{prefix}' is not supported yet; give an api_base to call it as an OpenAI-compatible server"
            )));
        };
        let api_base = p
            .api_base
            .clone()
            .or_else(|| (prefix == "azure").then(|| env("AZURE_API_BASE")).flatten())
            .unwrap_or(base);
        if !provider.is_mock() && api_base.is_empty() {
            return Err(fail(format!("provider '{prefix}' needs an api_base")));
        }
        let api_key = p
            .api_key
            .as_ref()
            .or(p.azure_ad_token.as_ref())
            .map(|s| s.expose().to_owned())
            .or_else(|| (!key_var.is_empty()).then(|| env(key_var)).flatten());
        let secs = |v: Option<f64>, d: Duration| {
            v.filter(|s| *s > 0.0 && s.is_finite())
                .map_or(d, Duration::from_secs_f64)
        };
        let timeout = secs(p.timeout, default_timeout);
        let mut headers = Vec::new();
        if let Some(org) = &p.organization {
            headers.push(("OpenAI-Organization".to_owned(), org.clone()));
        }
        Ok(Deployment {
            id: entry
                .model_info
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| entry_hash(entry).into(), Arc::from),
            model_name: entry.model_name.clone(),
            litellm_model: p.model.clone(),
            provider,
            provider_name: prefix.into(),
            target: Target {
                api_base: api_base.into(),
                api_key,
                model: model.into(),
                timeout,
                stream_timeout: secs(p.stream_timeout, timeout),
                headers,
            },
            rpm: p.rpm,
            tpm: p.tpm,
            weight: p.weight.filter(|w| *w > 0.0).unwrap_or(1.0),
            input_cost_per_token: p
                .input_cost_per_token
                .or_else(|| info_f64(entry, "input_cost_per_token")),
            output_cost_per_token: p
                .output_cost_per_token
                .or_else(|| info_f64(entry, "output_cost_per_token")),
            model_info: entry.model_info.clone(),
            db_model,
            price: std::sync::OnceLock::new(),
        })
    }

    /// This deployment, serving a concrete model matched by a wildcard (`openai/*`).
    pub fn for_model(&self, requested: &str) -> Deployment {
        let mut d = self.clone();
        let upstream = requested.split_once('/').map_or(requested, |(_, m)| m);
        d.target.model = upstream.into();
        d.model_name = requested.to_owned();
        d.price = std::sync::OnceLock::new();
        d
    }
}

/// Bedrock's parameters of a deployment.
fn aws_params(p: &LitellmParams) -> BedrockParams {
    let secret = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
    BedrockParams {
        aws_access_key_id: secret(&p.aws_access_key_id),
        aws_secret_access_key: secret(&p.aws_secret_access_key),
        aws_session_token: secret(&p.aws_session_token),
        aws_region_name: p.aws_region_name.clone(),
        api_base: p.aws_bedrock_runtime_endpoint.clone(),
    }
}

/// Vertex AI's parameters of a deployment.
fn vertex_params(p: &LitellmParams) -> VertexParams {
    VertexParams {
        vertex_project: p.vertex_project.clone(),
        vertex_location: p.vertex_location.clone(),
        vertex_credentials: p.vertex_credentials.as_ref().map(|s| s.expose().to_owned()),
    }
}

fn info_f64(entry: &ModelEntry, field: &str) -> Option<f64> {
    entry.model_info.get(field).and_then(Value::as_f64)
}

/// LiteLLM's id for a config model: the SHA-256 of its name and parameters.
fn entry_hash(entry: &ModelEntry) -> String {
    let params = serde_json::to_string(&entry.litellm_params).unwrap_or_default();
    hex::encode(Sha256::digest(
        format!("{}{params}", entry.model_name).as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: serde_json::Value) -> ModelEntry {
        serde_json::from_value(v).unwrap()
    }

    fn resolve(
        v: serde_json::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Deployment, DeploymentError> {
        Deployment::from_entry(&entry(v), false, Duration::from_secs(600), env)
    }

    #[test]
    fn compatible_providers_get_their_base_url_and_key_variable() {
        let env = |name: &str| (name == "GROQ_API_KEY").then(|| "gsk-test".to_owned());
        let d = resolve(serde_json::json!({"model_name": "fast", "litellm_params": {"model": "groq/llama-3.3-70b"}}), &env).unwrap();
        assert_eq!(&*d.target.api_base, "https://api.groq.com/openai/v1");
        assert_eq!(d.target.api_key.as_deref(), Some("gsk-test"));
        assert_eq!(&*d.target.model, "llama-3.3-70b");
        assert_eq!(&*d.provider_name, "groq");
        let d = resolve(serde_json::json!({"model_name": "local", "litellm_params": {"model": "ollama_chat/llama3", "api_base": "http://gpu:11434/v1"}}), &|_| None).unwrap();
        assert_eq!(&*d.target.api_base, "http://gpu:11434/v1");
        assert_eq!(d.target.api_key, None);
    }

    #[test]
    fn unknown_providers_need_an_api_base() {
        let e = resolve(
            serde_json::json!({"model_name": "x", "litellm_params": {"model": "nosuch/model"}}),
            &|_| None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        assert!(resolve(
            serde_json::json!({"model_name": "v", "litellm_params": {"model": "hosted_vllm/m"}}),
            &|_| None
        )
        .is_err());
        let d = resolve(serde_json::json!({"model_name": "v", "litellm_params": {"model": "nosuch/m", "api_base": "http://h/v1"}}), &|_| None).unwrap();
        assert!(matches!(d.provider, Provider::OpenAiCompatible));
    }

    #[test]
    fn native_providers_get_their_base_url_key_and_auth() {
        let env = |name: &str| match name {
            "ANTHROPIC_API_KEY" => Some("sk-ant".to_owned()),
            "AZURE_API_BASE" => Some("https://res.openai.azure.com".to_owned()),
            _ => None,
        };
        let d = resolve(serde_json::json!({"model_name": "c", "litellm_params": {"model": "anthropic/claude-sonnet-4-5"}}), &env).unwrap();
        assert_eq!(&*d.target.api_base, "https://api.anthropic.com");
        assert_eq!(d.target.api_key.as_deref(), Some("sk-ant"));
        assert!(matches!(&d.provider, Provider::Native(n) if n.provider.name == "anthropic"));
        let d = resolve(serde_json::json!({"model_name": "a", "litellm_params": {"model": "azure/dep", "azure_ad_token": "ad-token"}}), &env).unwrap();
        assert_eq!(&*d.target.api_base, "https://res.openai.azure.com");
        assert_eq!(d.target.api_key.as_deref(), Some("ad-token"));
        assert!(
            format!("{:?}", d.provider).contains("Bearer"),
            "{:?}",
            d.provider
        );
        let e = resolve(
            serde_json::json!({"model_name": "a", "litellm_params": {"model": "azure/dep"}}),
            &|_| None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs an api_base"), "{e}");
        for (model, base) in [
            (
                "gemini/gemini-2.5-flash",
                "https://generativelanguage.googleapis.com",
            ),
            ("cohere/command-a-03-2025", "https://api.cohere.com"),
        ] {
            let d = resolve(
                serde_json::json!({"model_name": "g", "litellm_params": {"model": model}}),
                &|_| None,
            )
            .unwrap();
            assert_eq!(&*d.target.api_base, base);
        }
    }
}
