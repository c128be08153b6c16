//! The OpenAI wire as an adapter, for clients in another format (Anthropic Messages) calling an
//! OpenAI-compatible upstream. OpenAI clients skip it: their bodies pass through untouched.

use serde_json::Value;

use super::{request_to_openai, response_from_openai, OpenAiStreamIn};
use crate::adapter::{join, unsupported, Endpoint, Format, StreamTranslator, Wire};
use crate::canonical::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use crate::{LlmError, Target};

/// OpenAI's chat completions and embeddings under the target's base URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiWire;

impl Wire for OpenAiWire {
    fn format(&self) -> Option<Format> {
        Some(Format::OpenAi)
    }

    fn url(&self, endpoint: Endpoint, target: &Target, _stream: bool) -> Result<String, LlmError> {
        let path = match endpoint {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Embed => "/embeddings",
            Endpoint::CountTokens => return Err(unsupported(endpoint)),
        };
        Ok(join(&target.api_base, path))
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        Ok(request_to_openai(req))
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        response_from_openai(body)
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(OpenAiStreamIn::default())
    }

    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        Ok(super::embed::request_to_openai(req))
    }

    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        super::embed::response_from_openai(body)
    }
}
