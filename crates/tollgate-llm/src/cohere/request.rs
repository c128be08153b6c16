//! Canonical requests into Cohere's v2 chat request: `system`, `user`, `assistant` (with
//! `tool_calls`) and `tool` messages, OpenAI-shaped tools, `tool_choice`, `thinking`.

use serde_json::{json, Map, Value};

use crate::canonical::{ChatRequest, Message, Part, Role, ToolChoice};

pub fn request_to_cohere(req: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    for m in &req.messages {
        write(m, &mut messages);
    }
    let mut o = Map::new();
    o.insert("model".into(), json!(req.model));
    o.insert("messages".into(), Value::Array(messages));
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            o.insert(k.into(), v);
        }
    };
    put("max_tokens", json!(req.max_tokens));
    put("temperature", json!(req.temperature));
    put("p", json!(req.top_p));
    put("k", json!(req.top_k));
    if !req.stop.is_empty() {
        put("stop_sequences", json!(req.stop));
    }
    if req.stream {
        put("stream", json!(true));
    }
    if let Some(t) = req.thinking {
        put(
            "thinking",
            json!({"type": "enabled", "token_budget": t.budget_tokens}),
        );
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description.clone().unwrap_or_default(), "parameters": t.parameters}}))
            .collect();
        put("tools", Value::Array(tools));
        match &req.tool_choice {
            Some(ToolChoice::Required | ToolChoice::Tool(_)) => {
                put("tool_choice", json!("REQUIRED"))
            }
            Some(ToolChoice::None) => put("tool_choice", json!("NONE")),
            _ => {}
        }
    }
    Value::Object(o)
}

fn write(m: &Message, out: &mut Vec<Value>) {
    let mut content = Vec::new();
    let mut calls = Vec::new();
    for p in &m.content {
        match p {
            Part::Text(t) => content.push(json!({"type": "text", "text": t})),
            Part::Image(i) => {
                content.push(json!({"type": "image_url", "image_url": {"url": i.to_url()}}))
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}));
            }
            Part::ToolResult { id, content, .. } => out.push(json!({
                "role": "tool", "tool_call_id": id,
                "content": [{"type": "document", "document": {"data": content}}],
            })),
            Part::Thinking { .. } | Part::RedactedThinking(_) => {}
        }
    }
    if content.is_empty() && calls.is_empty() {
        return;
    }
    let role = if m.role == Role::User {
        "user"
    } else {
        "assistant"
    };
    let mut msg = json!({"role": role});
    if !content.is_empty() {
        msg["content"] = Value::Array(content);
    }
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    out.push(msg);
}
