//! The registry of native providers by `model:` prefix: each prefix's adapter, default base URL
//! and key variable. (The OpenAI-compatible family, which needs no adapter, is data in the
//! gateway's router.)

use std::sync::Arc;

use crate::adapter::{KeyAuth, Provider};
use crate::anthropic::{self, AnthropicWire};
use crate::azure::{self, AzureWire};
use crate::bedrock::BedrockParams;
use crate::cohere::{self, CohereWire};
use crate::gemini::{self, GeminiWire};
use crate::vertex::VertexParams;

/// Per-deployment settings an adapter may need.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// Authenticate with a bearer token (an Azure AD token) instead of the provider's key
    /// header.
    pub bearer: bool,
    /// Bedrock: AWS credentials, region and endpoint override.
    pub aws: BedrockParams,
    /// Vertex AI: project, location and service-account credentials.
    pub vertex: VertexParams,
    /// The values of the [`ENV_VARS`] that are set (read by the caller, so tests can supply
    /// their own).
    pub env: Vec<(String, String)>,
}

/// Environment variables the cloud providers fall back to when a deployment leaves a
/// parameter out.
pub const ENV_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "VERTEXAI_PROJECT",
    "VERTEXAI_LOCATION",
    "VERTEX_PROJECT",
    "VERTEX_LOCATION",
];

impl Options {
    /// A variable from [`Options::env`].
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A native provider for a deployment.
#[derive(Debug, Clone)]
pub struct Native {
    pub provider: Provider,
    /// Base URL when the deployment gives none ("" = `api_base` required).
    pub default_base: String,
    /// Environment variable holding the key when the deployment gives none ("" = none).
    pub key_var: &'static str,
}

/// The native provider behind a `model:` prefix, if there is one.
pub fn native(prefix: &str, options: &Options) -> Option<Native> {
    if let Some(n) = cloud(prefix, options) {
        return Some(n);
    }
    let (wire, auth, default_base, key_var): (Arc<dyn crate::adapter::Wire>, KeyAuth, _, _) =
        match prefix {
            "anthropic" => (
                Arc::new(AnthropicWire),
                KeyAuth::Header(anthropic::KEY_HEADER),
                anthropic::DEFAULT_BASE,
                "ANTHROPIC_API_KEY",
            ),
            "azure" => (
                Arc::new(AzureWire {
                    api_version: options
                        .api_version
                        .clone()
                        .unwrap_or_else(|| azure::DEFAULT_API_VERSION.into()),
                }),
                KeyAuth::Header(azure::KEY_HEADER),
                "",
                "AZURE_API_KEY",
            ),
            "gemini" => (
                Arc::new(GeminiWire),
                KeyAuth::Header(gemini::KEY_HEADER),
                gemini::DEFAULT_BASE,
                "GEMINI_API_KEY",
            ),
            "cohere" | "cohere_chat" => (
                Arc::new(CohereWire),
                KeyAuth::Bearer,
                cohere::DEFAULT_BASE,
                "COHERE_API_KEY",
            ),
            _ => return None,
        };
    let auth = if options.bearer {
        KeyAuth::Bearer
    } else {
        auth
    };
    let name = PREFIXES
        .iter()
        .find(|p| **p == prefix)
        .copied()
        .unwrap_or("native");
    Some(Native {
        provider: Provider {
            name,
            wire,
            auth: Arc::new(auth),
        },
        default_base: default_base.to_owned(),
        key_var,
    })
}

/// Providers whose authorization is built from the deployment's cloud parameters.
fn cloud(prefix: &str, options: &Options) -> Option<Native> {
    let (provider, default_base) = match prefix {
        "bedrock" | "bedrock_converse" => {
            crate::bedrock::provider(&options.aws, |n| options.env_var(n))
        }
        "vertex_ai" | "vertex_ai_beta" => {
            crate::vertex::provider(&options.vertex, |n| options.env_var(n))
        }
        _ => return None,
    };
    Some(Native {
        provider,
        default_base,
        key_var: "",
    })
}

/// Every prefix [`native`] knows.
pub const PREFIXES: &[&str] = &[
    "anthropic",
    "azure",
    "gemini",
    "cohere",
    "cohere_chat",
    "bedrock",
    "vertex_ai",
];

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::adapter::Endpoint;
    use crate::Target;

    fn env(vars: &[(&str, &str)]) -> Options {
        Options {
            env: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Options::default()
        }
    }

    fn target(base: &str, model: &str) -> Target {
        Target {
            api_base: base.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(1),
            stream_timeout: Duration::from_secs(1),
            headers: Vec::new(),
        }
    }

    #[tokio::test]
    async fn bedrock_signs_with_the_aws_variables_of_the_environment() {
        let options = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "eu-central-1"),
        ]);
        let n = native("bedrock", &options).unwrap();
        assert_eq!(
            n.default_base,
            "https://bedrock-runtime.eu-central-1.amazonaws.com"
        );
        let call = n
            .provider
            .call(
                Endpoint::Chat,
                &target(&n.default_base, "amazon.nova-lite-v1:0"),
                true,
                &json!({}),
            )
            .await
            .unwrap();
        assert_eq!(
            call.url,
            "https://bedrock-runtime.eu-central-1.amazonaws.com/model/amazon.nova-lite-v1%3A0/converse-stream"
        );
        let auth = call
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert!(
            auth.contains("Credential=AKIDENV/")
                && auth.contains("/eu-central-1/bedrock/aws4_request"),
            "{auth}"
        );
    }

    #[test]
    fn vertex_takes_project_and_location_from_the_environment() {
        let options = env(&[
            ("VERTEXAI_PROJECT", "proj-env"),
            ("VERTEXAI_LOCATION", "asia-northeast1"),
        ]);
        let n = native("vertex_ai", &options).unwrap();
        assert_eq!(
            n.default_base,
            "https://asia-northeast1-aiplatform.googleapis.com"
        );
        let url = n
            .provider
            .wire
            .url(
                Endpoint::Chat,
                &target(&n.default_base, "gemini-2.5-pro"),
                false,
            )
            .unwrap();
        assert_eq!(url, "https://asia-northeast1-aiplatform.googleapis.com/v1/projects/proj-env/locations/asia-northeast1/publishers/google/models/gemini-2.5-pro:generateContent");
    }
}
