//! Anthropic's Messages API (`POST /v1/messages`, `x-api-key`, `anthropic-version`): the wire
//! as an adapter, and the Anthropic client format (requests in, answers and stream events out)
//! for `/v1/messages` callers.

mod request;
mod response;
mod stream_in;
mod stream_out;

use serde_json::Value;

use crate::adapter::{join, unsupported, Endpoint, Format, StreamTranslator, Wire};
use crate::canonical::{ChatRequest, ChatResponse};
use crate::{LlmError, Target};

pub use request::{request_from_anthropic, request_to_anthropic, DEFAULT_MAX_TOKENS};
pub use response::{error_body, error_type, response_from_anthropic, response_to_anthropic};
pub use stream_in::AnthropicStreamIn;
pub use stream_out::{event, AnthropicStreamOut};

/// The API's base URL.
pub const DEFAULT_BASE: &str = "https://api.anthropic.com";
/// The API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";
/// The header that carries the key.
pub const KEY_HEADER: &str = "x-api-key";

/// Anthropic's Messages API under the target's base URL (`https://api.anthropic.com`; a base
/// ending in `/v1` is accepted too).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicWire;

impl Wire for AnthropicWire {
    fn format(&self) -> Option<Format> {
        Some(Format::Anthropic)
    }

    fn url(&self, endpoint: Endpoint, target: &Target, _stream: bool) -> Result<String, LlmError> {
        let path = match endpoint {
            Endpoint::Chat => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
            Endpoint::Embed => return Err(unsupported(endpoint)),
        };
        let base = target.api_base.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        Ok(join(base, path))
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![("anthropic-version".into(), API_VERSION.into())]
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        request_to_anthropic(req)
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        response_from_anthropic(body)
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(AnthropicStreamIn::default())
    }
}
