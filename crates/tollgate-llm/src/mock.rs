//! The built-in `mock` provider: deterministic answers with usage, for demos and tests. A request
//! may carry `mock_response` (LiteLLM's field) to choose the text. Token counts are a quarter of
//! the characters, rounded up, so the same request always costs the same.

use serde_json::{json, Value};

use crate::sse::Event;

/// The text the mock answers with unless the request asks for another.
pub const DEFAULT_TEXT: &str = "This is a mock response from Tollgate.";

const CREATED: u64 = 1_700_000_000;

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

fn answer(body: &Value) -> String {
    body.get("mock_response")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_TEXT)
        .to_owned()
}

/// All text of a request: messages' contents (text parts), prompt or input.
fn input_text(body: &Value) -> String {
    let mut out = String::new();
    let mut push = |v: &Value| match v {
        Value::String(s) => out.push_str(s),
        Value::Array(parts) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str).or(p.as_str()) {
                    out.push_str(t);
                }
            }
        }
        _ => {}
    };
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            if let Some(c) = m.get("content") {
                push(c);
            }
        }
    }
    for field in ["prompt", "input"] {
        if let Some(v) = body.get(field) {
            push(v);
        }
    }
    out
}

fn usage(body: &Value, text: &str) -> Value {
    let p = tokens(&input_text(body));
    let c = tokens(text);
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

/// A `chat.completion`.
pub fn chat(body: &Value, model: &str, id: &str) -> Value {
    let text = answer(body);
    json!({
        "id": id, "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage(body, &text),
    })
}

/// The events of a streamed chat completion; the usage chunk comes when `include_usage`.
pub fn chat_stream(body: &Value, model: &str, id: &str, include_usage: bool) -> Vec<Event> {
    let text = answer(body);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for word in text.split_inclusive(' ') {
        events.push(chunk(json!({"content": word}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        events.push(
            json!({"id": id, "object": "chat.completion.chunk", "created": CREATED,
                           "model": model, "choices": [], "usage": usage(body, &text)}),
        );
    }
    let mut out: Vec<Event> = events
        .into_iter()
        .map(|v| Event {
            event: None,
            data: v.to_string(),
        })
        .collect();
    out.push(Event {
        event: None,
        data: "[DONE]".into(),
    });
    out
}

/// A `text_completion`.
pub fn completion(body: &Value, model: &str, id: &str) -> Value {
    let text = answer(body);
    json!({
        "id": id, "object": "text_completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": null}],
        "usage": usage(body, &text),
    })
}

/// Embeddings: one deterministic vector per input.
pub fn embedding(body: &Value, model: &str) -> Value {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![String::new()],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let seed = s
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            let v: Vec<f64> = (0..8)
                .map(|k| f64::from((seed >> k) % 1000) / 1000.0)
                .collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let p: u64 = inputs.iter().map(|s| tokens(s)).sum();
    json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": p, "total_tokens": p}})
}

/// A Responses API `response`.
pub fn responses(body: &Value, model: &str, id: &str) -> Value {
    let text = answer(body);
    let p = tokens(&input_text(body));
    let c = tokens(&text);
    json!({
        "id": id, "object": "response", "created_at": CREATED, "status": "completed", "model": model,
        "output": [{"type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "usage": {"input_tokens": p, "output_tokens": c, "total_tokens": p + c,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
    })
}

/// The events of a streamed Responses API call.
pub fn responses_stream(body: &Value, model: &str, id: &str) -> Vec<Event> {
    let done = responses(body, model, id);
    let text = answer(body);
    let mut started = done.clone();
    started["status"] = json!("in_progress");
    started["usage"] = Value::Null;
    let mut events = vec![(
        "response.created",
        json!({"type": "response.created", "response": started}),
    )];
    for word in text.split_inclusive(' ') {
        events.push(("response.output_text.delta", json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": word})));
    }
    events.push((
        "response.completed",
        json!({"type": "response.completed", "response": done}),
    ));
    events
        .into_iter()
        .map(|(name, v)| Event {
            event: Some(name.into()),
            data: v.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_is_deterministic_with_usage() {
        let body = json!({"messages": [{"role": "user", "content": "12345678"}]});
        let a = chat(&body, "m", "id1");
        assert_eq!(a, chat(&body, "m", "id1"));
        assert_eq!(a["usage"]["prompt_tokens"], 2);
        assert_eq!(a["usage"]["completion_tokens"], tokens(DEFAULT_TEXT));
    }

    #[test]
    fn stream_has_usage_only_when_asked() {
        let body = json!({"messages": [], "mock_response": "a b"});
        let with = chat_stream(&body, "m", "id", true);
        let without = chat_stream(&body, "m", "id", false);
        assert_eq!(with.len(), without.len() + 1);
        assert_eq!(with.last().unwrap().data, "[DONE]");
        let text: String = without
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .filter_map(|v| {
                v.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "a b");
    }

    #[test]
    fn embeddings_one_per_input() {
        let e = embedding(&json!({"input": ["a", "bb"]}), "emb");
        assert_eq!(e["data"].as_array().unwrap().len(), 2);
        assert_eq!(e["usage"]["prompt_tokens"], 2);
    }
}
