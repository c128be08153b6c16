//! Anthropic `message` answers to and from the canonical answer.

use serde_json::{json, Value};

use crate::canonical::{ChatResponse, Part, StopReason, Usage};
use crate::LlmError;

pub(crate) fn stop_from_anthropic(reason: &str) -> StopReason {
    match reason {
        "max_tokens" => StopReason::Length,
        "tool_use" => StopReason::ToolCalls,
        "refusal" => StopReason::ContentFilter,
        _ => StopReason::Stop,
    }
}

pub(crate) fn stop_to_anthropic(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Stop => "end_turn",
        StopReason::Length => "max_tokens",
        StopReason::ToolCalls => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

/// Reads an Anthropic `message`.
pub fn response_from_anthropic(body: &Value) -> Result<ChatResponse, LlmError> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::Protocol("message without content".into()))?;
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut content = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => content.push(Part::Text(s(b, "text"))),
            Some("tool_use") => content.push(Part::ToolCall {
                id: s(b, "id"),
                name: s(b, "name"),
                arguments: b.get("input").map_or_else(|| "{}".into(), Value::to_string),
            }),
            Some("thinking") => content.push(Part::Thinking {
                text: s(b, "thinking"),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            Some("redacted_thinking") => content.push(Part::RedactedThinking(s(b, "data"))),
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: s(body, "id"),
        model: s(body, "model"),
        content,
        stop: stop_from_anthropic(
            body.get("stop_reason")
                .and_then(Value::as_str)
                .unwrap_or("end_turn"),
        ),
        usage: body
            .get("usage")
            .map(Usage::from_anthropic)
            .unwrap_or_default(),
    })
}

/// Writes an Anthropic `message`.
pub fn response_to_anthropic(r: &ChatResponse) -> Value {
    let content: Vec<Value> = r
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(json!({"type": "text", "text": t})),
            Part::ToolCall { id, name, arguments } => {
                let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                Some(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
            }
            Part::Thinking { text, signature } => Some(json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})),
            Part::RedactedThinking(d) => Some(json!({"type": "redacted_thinking", "data": d})),
            Part::Image(_) | Part::ToolResult { .. } => None,
        })
        .collect();
    let id = if r.id.starts_with("msg_") {
        r.id.clone()
    } else {
        format!("msg_{}", r.id)
    };
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": stop_to_anthropic(r.stop),
        "stop_sequence": null,
        "usage": r.usage.to_anthropic(),
    })
}

/// Anthropic's error `type` for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// Anthropic's error envelope.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_cache_usage() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "hi"}, {"type": "tool_use", "id": "tu", "name": "f", "input": {"x": 1}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 5, "output_tokens": 7, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 200}
        });
        let r = response_from_anthropic(&body).unwrap();
        assert_eq!(r.usage.input_tokens, 305);
        assert_eq!(r.stop, StopReason::ToolCalls);
        assert_eq!(response_to_anthropic(&r), body);
    }
}
