//! Google AI Studio's Gemini API: `POST {base}/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` (server-sent events), and `:batchEmbedContents` for
//! embeddings, authenticated with `x-goog-api-key`.

mod request;
mod response;

use serde_json::{json, Value};

use crate::adapter::{join, unsupported, Endpoint, StreamTranslator, Wire};
use crate::canonical::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use crate::{LlmError, Target};

pub use request::request_to_gemini;
pub use response::{response_from_gemini, GeminiStreamIn};

/// The API's base URL.
pub const DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";
/// The header that carries the key.
pub const KEY_HEADER: &str = "x-goog-api-key";

/// Gemini's `generateContent` family.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiWire;

impl Wire for GeminiWire {
    fn url(&self, endpoint: Endpoint, target: &Target, stream: bool) -> Result<String, LlmError> {
        let base = target.api_base.trim_end_matches('/');
        let base = base.strip_suffix("/v1beta").unwrap_or(base);
        let method = match (endpoint, stream) {
            (Endpoint::Embed, _) => "batchEmbedContents",
            (Endpoint::CountTokens, _) => return Err(unsupported(endpoint)),
            (Endpoint::Chat, false) => "generateContent",
            (Endpoint::Chat, true) => "streamGenerateContent?alt=sse",
        };
        Ok(join(
            base,
            &format!("/v1beta/models/{}:{method}", target.model),
        ))
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        request_to_gemini(req)
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        response_from_gemini(body)
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(GeminiStreamIn::default())
    }

    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        let requests: Vec<Value> = req
            .inputs
            .iter()
            .map(|t| {
                let mut r = json!({"model": format!("models/{}", req.model), "content": {"parts": [{"text": t}]}});
                if let Some(d) = req.dimensions {
                    r["outputDimensionality"] = json!(d);
                }
                r
            })
            .collect();
        Ok(json!({"requests": requests}))
    }

    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        let list = body
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(|| LlmError::Protocol("embeddings answer without embeddings".into()))?;
        let vectors = list
            .iter()
            .map(|e| {
                e.get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default()
            })
            .collect();
        Ok(EmbedResponse {
            vectors,
            ..EmbedResponse::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Message, Part, Role, StopReason, ToolDef};

    #[test]
    fn tool_results_are_answered_by_name_and_schemas_cleaned() {
        let req = ChatRequest {
            system: Some("s".into()),
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![Part::Text("hi".into())],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![Part::ToolCall {
                        id: "c9".into(),
                        name: "f".into(),
                        arguments: "{\"a\":1}".into(),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![Part::ToolResult {
                        id: "c9".into(),
                        content: "ok".into(),
                        is_error: false,
                    }],
                },
            ],
            tools: vec![ToolDef {
                name: "f".into(),
                description: None,
                parameters: json!({"type": "object", "additionalProperties": false}),
            }],
            ..ChatRequest::default()
        };
        let v = request_to_gemini(&req).unwrap();
        assert_eq!(v["contents"][1]["role"], "model");
        assert_eq!(v["contents"][1]["parts"][0]["functionCall"]["args"]["a"], 1);
        assert_eq!(
            v["contents"][2]["parts"][0]["functionResponse"]["name"],
            "f"
        );
        assert!(v["tools"][0]["functionDeclarations"][0]["parameters"]
            .get("additionalProperties")
            .is_none());
    }

    #[test]
    fn answers_with_thoughts_and_usage() {
        let body = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hm", "thought": true}, {"functionCall": {"name": "f", "args": {"x": 1}}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3, "cachedContentTokenCount": 4}, "modelVersion": "gemini-x", "responseId": "r"});
        let r = response_from_gemini(&body).unwrap();
        assert_eq!(r.stop, StopReason::ToolCalls);
        assert_eq!(
            (
                r.usage.output_tokens,
                r.usage.reasoning_tokens,
                r.usage.cache_read_tokens
            ),
            (8, 3, 4)
        );
        assert!(matches!(&r.content[0], Part::Thinking { .. }));
    }
}
