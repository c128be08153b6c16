//! Anthropic stream events into canonical chunks: `message_start`, `content_block_start`,
//! `content_block_delta` (`text_delta`, `input_json_delta`, `thinking_delta`,
//! `signature_delta`), `content_block_stop`, `message_delta`, `message_stop`, `ping` and
//! `error`.

use std::collections::HashMap;

use serde_json::Value;

use super::response::stop_from_anthropic;
use crate::adapter::StreamTranslator;
use crate::canonical::{Chunk, Usage};
use crate::sse::Event;
use crate::LlmError;

/// State of one Anthropic stream being read.
#[derive(Debug, Default)]
pub struct AnthropicStreamIn {
    /// Content block index → tool-call index, for `tool_use` blocks.
    tools: HashMap<u64, usize>,
    usage: Usage,
}

/// The status an Anthropic error type stands for.
pub(crate) fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

impl StreamTranslator for AnthropicStreamIn {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError> {
        let v: Value = serde_json::from_str(&event.data)
            .map_err(|e| LlmError::Protocol(format!("stream event is not JSON: {e}")))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default();
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                out.push(Chunk::Start {
                    id: s("/message/id"),
                    model: s("/message/model"),
                });
                if let Some(u) = v.pointer("/message/usage") {
                    self.usage.merge(&Usage::from_anthropic(u));
                    out.push(Chunk::Usage(self.usage));
                }
            }
            "content_block_start" => self.block_start(&v, &mut out),
            "content_block_delta" => self.block_delta(&v, &mut out),
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    let mut delta = Usage::from_anthropic(u);
                    // Cache counts arrive either here or in message_start; never both summed.
                    if delta.input_tokens == 0 {
                        delta.input_tokens = self.usage.input_tokens;
                    }
                    self.usage.merge(&delta);
                    out.push(Chunk::Usage(self.usage));
                }
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push(Chunk::Stop(stop_from_anthropic(r)));
                }
            }
            "error" => {
                let status = status_of(&s("/error/type"));
                return Err(LlmError::Status {
                    status,
                    message: s("/error/message"),
                    body: Some(v.clone()),
                    retry_after: None,
                });
            }
            // content_block_stop, message_stop, ping, and event types added later.
            _ => {}
        }
        Ok(out)
    }
}

impl AnthropicStreamIn {
    fn block_start(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let b = v.get("content_block").unwrap_or(&Value::Null);
        let s = |k: &str| {
            b.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match b.get("type").and_then(Value::as_str) {
            Some("tool_use") => {
                let tool = self.tools.len();
                self.tools.insert(index, tool);
                out.push(Chunk::ToolCallStart {
                    index: tool,
                    id: s("id"),
                    name: s("name"),
                });
            }
            Some("text") if !s("text").is_empty() => out.push(Chunk::Text(s("text"))),
            Some("thinking") if !s("thinking").is_empty() => {
                out.push(Chunk::Thinking(s("thinking")))
            }
            Some("redacted_thinking") => out.push(Chunk::RedactedThinking(s("data"))),
            _ => {}
        }
    }

    fn block_delta(&mut self, v: &Value, out: &mut Vec<Chunk>) {
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let d = v.get("delta").unwrap_or(&Value::Null);
        let s = |k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match d.get("type").and_then(Value::as_str) {
            Some("text_delta") => out.push(Chunk::Text(s("text"))),
            Some("thinking_delta") => out.push(Chunk::Thinking(s("thinking"))),
            Some("signature_delta") => out.push(Chunk::ThinkingSignature(s("signature"))),
            Some("input_json_delta") => {
                let tool = self.tools.get(&index).copied().unwrap_or(0);
                let json = s("partial_json");
                if !json.is_empty() {
                    out.push(Chunk::ToolCallArgs { index: tool, json });
                }
            }
            _ => {}
        }
    }
}
