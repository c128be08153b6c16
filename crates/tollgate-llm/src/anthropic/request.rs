//! Anthropic Messages requests to and from the canonical model: `system` (a string or text
//! blocks), text, image, `tool_use`, `tool_result`, `thinking` and `redacted_thinking` blocks,
//! tools with `input_schema`, `tool_choice`, `thinking.budget_tokens`, `stop_sequences`.

use serde_json::{json, Map, Value};

use crate::canonical::{ChatRequest, Image, Message, Part, Role, Thinking, ToolChoice, ToolDef};
use crate::LlmError;

/// `max_tokens` when the client gave none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

fn invalid(at: &str, what: &str) -> LlmError {
    LlmError::Invalid(format!("{at}: {what}"))
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Reads an Anthropic Messages request. Errors name the failing field.
pub fn request_from_anthropic(body: &Value) -> Result<ChatRequest, LlmError> {
    let system = read_system(body.get("system"))?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "must be a list of messages"))?;
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match m.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => return Err(invalid(&at, "role must be 'user' or 'assistant'")),
        };
        out.push(Message {
            role,
            content: blocks(m.get("content"), &format!("{at}.content"))?,
        });
    }
    let tools = read_tools(body.get("tools"))?;
    let tool_choice = read_tool_choice(body.get("tool_choice"));
    Ok(ChatRequest {
        model: str_of(body, "model").unwrap_or_default(),
        system,
        messages: out,
        tools,
        tool_choice,
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        top_k: body.get("top_k").and_then(Value::as_u64),
        stop: body
            .get("stop_sequences")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(Into::into).collect())
            .unwrap_or_default(),
        stream: body.get("stream").and_then(Value::as_bool) == Some(true),
        thinking: (body.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled"))
            .then(|| {
                body.pointer("/thinking/budget_tokens")
                    .and_then(Value::as_u64)
            })
            .flatten()
            .map(|budget_tokens| Thinking { budget_tokens }),
        user: body
            .pointer("/metadata/user_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn read_system(system: Option<&Value>) -> Result<Option<String>, LlmError> {
    Ok(match system {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(blocks)) => Some(
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
        Some(_) => {
            return Err(invalid(
                "system",
                "must be a string or a list of text blocks",
            ))
        }
    })
}

fn read_tools(tools: Option<&Value>) -> Result<Vec<ToolDef>, LlmError> {
    let mut out = Vec::new();
    for (i, t) in tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        out.push(ToolDef {
            name: str_of(t, "name")
                .ok_or_else(|| invalid(&format!("tools[{i}]"), "name is required"))?,
            description: str_of(t, "description"),
            parameters: t
                .get("input_schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        });
    }
    Ok(out)
}

fn read_tool_choice(choice: Option<&Value>) -> Option<ToolChoice> {
    choice.and_then(|c| match c.get("type")?.as_str()? {
        "auto" => Some(ToolChoice::Auto),
        "any" => Some(ToolChoice::Required),
        "none" => Some(ToolChoice::None),
        "tool" => str_of(c, "name").map(ToolChoice::Tool),
        _ => None,
    })
}

fn blocks(content: Option<&Value>, at: &str) -> Result<Vec<Part>, LlmError> {
    match content {
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, b)| block(b, &format!("{at}[{j}]")))
            .collect(),
        _ => Err(invalid(at, "must be a string or a list of content blocks")),
    }
}

fn block(b: &Value, at: &str) -> Result<Part, LlmError> {
    let s = |k: &str| str_of(b, k).unwrap_or_default();
    Ok(match b.get("type").and_then(Value::as_str) {
        Some("text") => Part::Text(s("text")),
        Some("image") => {
            let src = b
                .get("source")
                .ok_or_else(|| invalid(at, "source is required"))?;
            match src.get("type").and_then(Value::as_str) {
                Some("base64") => Part::Image(Image::Base64 {
                    media_type: str_of(src, "media_type").unwrap_or_default(),
                    data: str_of(src, "data").unwrap_or_default(),
                }),
                Some("url") => Part::Image(Image::Url(str_of(src, "url").unwrap_or_default())),
                _ => return Err(invalid(at, "source.type must be 'base64' or 'url'")),
            }
        }
        Some("tool_use") => Part::ToolCall {
            id: s("id"),
            name: s("name"),
            arguments: b.get("input").map_or_else(|| "{}".into(), Value::to_string),
        },
        Some("tool_result") => Part::ToolResult {
            id: s("tool_use_id"),
            content: match b.get("content") {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect(),
                _ => String::new(),
            },
            is_error: b.get("is_error").and_then(Value::as_bool) == Some(true),
        },
        Some("thinking") => Part::Thinking {
            text: s("thinking"),
            signature: str_of(b, "signature"),
        },
        Some("redacted_thinking") => Part::RedactedThinking(s("data")),
        Some(other) => {
            return Err(invalid(
                at,
                &format!("content block type '{other}' is not supported here"),
            ))
        }
        None => return Err(invalid(at, "type is required")),
    })
}

/// Writes an Anthropic Messages request.
pub fn request_to_anthropic(req: &ChatRequest) -> Result<Value, LlmError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let content = m
            .content
            .iter()
            .map(|p| write_block(p, &format!("messages[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if content.is_empty() {
            continue;
        }
        let role = if m.role == Role::User {
            "user"
        } else {
            "assistant"
        };
        messages.push(json!({"role": role, "content": content}));
    }
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let mut o = Map::new();
    o.insert("model".into(), json!(req.model));
    o.insert("messages".into(), Value::Array(messages));
    if let Some(s) = &req.system {
        o.insert("system".into(), json!(s));
    }
    if let Some(t) = req.thinking {
        max_tokens = max_tokens.max(t.budget_tokens + 1);
        o.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": t.budget_tokens}),
        );
    }
    o.insert("max_tokens".into(), json!(max_tokens));
    for (k, v) in [
        ("temperature", json!(req.temperature)),
        ("top_p", json!(req.top_p)),
        ("top_k", json!(req.top_k)),
    ] {
        if !v.is_null() {
            o.insert(k.into(), v);
        }
    }
    if !req.stop.is_empty() {
        o.insert("stop_sequences".into(), json!(req.stop));
    }
    if req.stream {
        o.insert("stream".into(), json!(true));
    }
    if let Some(u) = &req.user {
        o.insert("metadata".into(), json!({"user_id": u}));
    }
    write_tools(req, &mut o);
    Ok(Value::Object(o))
}

/// `tools` and `tool_choice`.
fn write_tools(req: &ChatRequest, o: &mut Map<String, Value>) {
    if !req.tools.is_empty() {
        let tools = req.tools.iter().map(|t| {
            let mut v = json!({"name": t.name, "input_schema": t.parameters});
            if let Some(d) = &t.description {
                v["description"] = json!(d);
            }
            v
        });
        o.insert("tools".into(), Value::Array(tools.collect()));
    }
    if let Some(c) = &req.tool_choice {
        let v = match c {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(n) => json!({"type": "tool", "name": n}),
        };
        o.insert("tool_choice".into(), v);
    }
}

fn write_block(p: &Part, at: &str) -> Result<Value, LlmError> {
    Ok(match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(Image::Base64 { media_type, data }) => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        Part::Image(Image::Url(u)) => json!({"type": "image", "source": {"type": "url", "url": u}}),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            let input: Value = if arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(arguments).map_err(|e| {
                    invalid(
                        at,
                        &format!("tool call '{name}' has arguments that are not JSON: {e}"),
                    )
                })?
            };
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Part::ToolResult {
            id,
            content,
            is_error,
        } => {
            let mut v = json!({"type": "tool_result", "tool_use_id": id, "content": content});
            if *is_error {
                v["is_error"] = json!(true);
            }
            v
        }
        Part::Thinking { text, signature } => {
            json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
        }
        Part::RedactedThinking(d) => json!({"type": "redacted_thinking", "data": d}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_request_round_trips() {
        let body = json!({
            "model": "claude", "max_tokens": 3000, "system": [{"type": "text", "text": "sys"}],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}
            ],
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"}, "stop_sequences": ["X"]
        });
        let req = request_from_anthropic(&body).unwrap();
        assert_eq!(req.system.as_deref(), Some("sys"));
        assert_eq!(req.tool_choice, Some(ToolChoice::Required));
        let out = request_to_anthropic(&req).unwrap();
        assert_eq!(out["messages"], body["messages"]);
        assert_eq!(out["tools"], body["tools"]);
        assert_eq!(out["thinking"], body["thinking"]);
        assert_eq!(out["max_tokens"], 3000);
    }

    #[test]
    fn bad_blocks_are_named() {
        let e = request_from_anthropic(
            &json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]}),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("messages[0].content[0]"), "{e}");
    }
}
