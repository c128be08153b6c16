//! OpenAI chat completions to and from the canonical answer. Reasoning goes out as
//! `reasoning_content` and LiteLLM's `thinking_blocks` (which keep the signatures a later turn
//! needs).

use serde_json::{json, Value};

use crate::canonical::{ChatResponse, Part, StopReason, Usage};
use crate::LlmError;

pub(crate) fn stop_from_openai(reason: &str) -> StopReason {
    match reason {
        "length" => StopReason::Length,
        "tool_calls" | "function_call" => StopReason::ToolCalls,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::Stop,
    }
}

pub(crate) fn stop_to_openai(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Stop => "stop",
        StopReason::Length => "length",
        StopReason::ToolCalls => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

/// Reads a `chat.completion` (its first choice).
pub fn response_from_openai(body: &Value) -> Result<ChatResponse, LlmError> {
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| LlmError::Protocol("chat completion without choices".into()))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if let Some(r) = msg.get("reasoning_content").and_then(Value::as_str) {
        content.push(Part::Thinking {
            text: r.to_owned(),
            signature: None,
        });
    }
    if let Some(t) = msg.get("content").and_then(Value::as_str) {
        content.push(Part::Text(t.to_owned()));
    }
    for c in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |p: &str| {
            c.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        content.push(Part::ToolCall {
            id: s("/id"),
            name: s("/function/name"),
            arguments: s("/function/arguments"),
        });
    }
    Ok(ChatResponse {
        id: body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        content,
        stop: stop_from_openai(
            choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop"),
        ),
        usage: body
            .get("usage")
            .map(Usage::from_openai)
            .unwrap_or_default(),
    })
}

/// Writes a `chat.completion`.
pub fn response_to_openai(r: &ChatResponse, created: u64) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut blocks = Vec::new();
    let mut calls = Vec::new();
    for p in &r.content {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text, signature } => {
                reasoning.push_str(text);
                blocks.push(json!({"type": "thinking", "thinking": text, "signature": signature}));
            }
            Part::RedactedThinking(d) => blocks.push(json!({"type": "redacted_thinking", "data": d})),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})),
            Part::Image(_) | Part::ToolResult { .. } => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !blocks.is_empty() {
        message["thinking_blocks"] = Value::Array(blocks);
    }
    json!({
        "id": r.id,
        "object": "chat.completion",
        "created": created,
        "model": r.model,
        "choices": [{"index": 0, "message": message, "finish_reason": stop_to_openai(r.stop)}],
        "usage": r.usage.to_openai(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        let r = ChatResponse {
            id: "x".into(),
            model: "m".into(),
            content: vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("hi".into()),
                Part::ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                },
            ],
            stop: StopReason::ToolCalls,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            },
        };
        let v = response_to_openai(&r, 1);
        assert_eq!(
            v["choices"][0]["message"]["thinking_blocks"][0]["signature"],
            "sig"
        );
        let back = response_from_openai(&v).unwrap();
        assert_eq!(back.stop, StopReason::ToolCalls);
        assert_eq!(back.usage, r.usage);
        assert_eq!(back.content.len(), 3);
    }
}
