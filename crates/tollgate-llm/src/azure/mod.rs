//! Azure OpenAI: OpenAI's wire under deployment URLs,
//! `{api_base}/openai/deployments/{deployment}/chat/completions?api-version=...` (and
//! `/embeddings`), authenticated with the `api-key` header or an Azure AD bearer token. OpenAI
//! clients' bodies pass through untouched.

use serde_json::Value;

use crate::adapter::{unsupported, Endpoint, Format, StreamTranslator, Wire};
use crate::canonical::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use crate::openai::{self, OpenAiStreamIn};
use crate::{LlmError, Target};

/// The `api-version` used when the deployment names none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";
/// The header that carries the key.
pub const KEY_HEADER: &str = "api-key";

/// Azure OpenAI deployments, with their `api-version`.
#[derive(Debug, Clone)]
pub struct AzureWire {
    pub api_version: String,
}

impl Wire for AzureWire {
    fn format(&self) -> Option<Format> {
        Some(Format::OpenAi)
    }

    fn url(&self, endpoint: Endpoint, target: &Target, _stream: bool) -> Result<String, LlmError> {
        let base = target.api_base.trim_end_matches('/');
        let base = base.strip_suffix("/openai").unwrap_or(base);
        let path = match endpoint {
            Endpoint::Chat => "chat/completions",
            Endpoint::Embed => "embeddings",
            Endpoint::CountTokens => return Err(unsupported(endpoint)),
        };
        Ok(format!(
            "{base}/openai/deployments/{}/{path}?api-version={}",
            target.model, self.api_version
        ))
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        Ok(openai::request_to_openai(req))
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        openai::response_from_openai(body)
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(OpenAiStreamIn::default())
    }

    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        Ok(openai::embed::request_to_openai(req))
    }

    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        openai::embed::response_from_openai(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_urls() {
        let target = Target {
            api_base: "https://res.openai.azure.com/".into(),
            api_key: None,
            model: "gpt4o-prod".into(),
            timeout: std::time::Duration::from_secs(1),
            stream_timeout: std::time::Duration::from_secs(1),
            headers: Vec::new(),
        };
        let w = AzureWire {
            api_version: "2024-10-21".into(),
        };
        assert_eq!(
            w.url(Endpoint::Chat, &target, true).unwrap(),
            "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert!(w
            .url(Endpoint::Embed, &target, false)
            .unwrap()
            .contains("/embeddings?"));
    }
}
