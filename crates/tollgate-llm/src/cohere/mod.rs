//! Cohere's v2 API: `POST {base}/v2/chat` (JSON, or server-sent events with `stream: true`)
//! and `POST {base}/v2/embed`, authenticated with a bearer key.

mod request;
mod response;

use serde_json::{json, Value};

use crate::adapter::{join, unsupported, Endpoint, StreamTranslator, Wire};
use crate::canonical::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use crate::{LlmError, Target};

pub use request::request_to_cohere;
pub use response::{response_from_cohere, CohereStreamIn};

/// The API's base URL.
pub const DEFAULT_BASE: &str = "https://api.cohere.com";

/// Cohere's v2 chat and embed.
#[derive(Debug, Clone, Copy, Default)]
pub struct CohereWire;

impl Wire for CohereWire {
    fn url(&self, endpoint: Endpoint, target: &Target, _stream: bool) -> Result<String, LlmError> {
        let base = target.api_base.trim_end_matches('/');
        let base = base
            .strip_suffix("/v2")
            .or_else(|| base.strip_suffix("/v1"))
            .unwrap_or(base);
        let path = match endpoint {
            Endpoint::Chat => "/v2/chat",
            Endpoint::Embed => "/v2/embed",
            Endpoint::CountTokens => return Err(unsupported(endpoint)),
        };
        Ok(join(base, path))
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        Ok(request_to_cohere(req))
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        response_from_cohere(body)
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(CohereStreamIn::default())
    }

    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        let mut v = json!({"model": req.model, "texts": req.inputs, "input_type": "search_document", "embedding_types": ["float"]});
        if let Some(d) = req.dimensions {
            v["output_dimension"] = json!(d);
        }
        Ok(v)
    }

    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        let list = body
            .pointer("/embeddings/float")
            .and_then(Value::as_array)
            .ok_or_else(|| LlmError::Protocol("embed answer without embeddings.float".into()))?;
        let vectors = list
            .iter()
            .map(|e| {
                e.as_array()
                    .map(|v| v.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default()
            })
            .collect();
        let tokens = body
            .pointer("/meta/billed_units/input_tokens")
            .and_then(Value::as_f64)
            .map_or(0, |f| f.max(0.0) as u64);
        let usage = crate::canonical::Usage {
            input_tokens: tokens,
            ..Default::default()
        };
        Ok(EmbedResponse {
            vectors,
            usage,
            ..EmbedResponse::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Message, Part, Role, StopReason};

    #[test]
    fn tool_turns_and_answers() {
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::Assistant,
                    content: vec![Part::ToolCall {
                        id: "c".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![Part::ToolResult {
                        id: "c".into(),
                        content: "r".into(),
                        is_error: false,
                    }],
                },
            ],
            ..ChatRequest::default()
        };
        let v = request_to_cohere(&req);
        assert_eq!(v["messages"][0]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!(v["messages"][1]["role"], "tool");
        let body = json!({"id": "x", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "p", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 4}, "tokens": {"input_tokens": 30, "output_tokens": 4}}});
        let r = response_from_cohere(&body).unwrap();
        assert_eq!(r.stop, StopReason::ToolCalls);
        assert_eq!(r.usage.input_tokens, 30);
    }
}
