//! OpenAI chat requests to and from the canonical model: `system`/`developer` messages, text and
//! image parts, `tool_calls` and `tool` results, tools and `tool_choice`, `reasoning_effort`
//! (and LiteLLM's `thinking` and `thinking_blocks`).

use serde_json::{json, Map, Value};

use crate::canonical::{ChatRequest, Image, Message, Part, Role, Thinking, ToolChoice, ToolDef};
use crate::LlmError;

fn invalid(at: &str, what: &str) -> LlmError {
    LlmError::Invalid(format!("{at}: {what}"))
}

/// Reads an OpenAI chat request. Errors name the failing field (`messages[2].content[0]`).
pub fn request_from_openai(body: &Value) -> Result<ChatRequest, LlmError> {
    let mut req = ChatRequest {
        model: str_of(body, "model").unwrap_or_default(),
        max_tokens: body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens"))
            .and_then(Value::as_u64),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        top_k: body.get("top_k").and_then(Value::as_u64),
        stream: body.get("stream").and_then(Value::as_bool) == Some(true),
        user: str_of(body, "user"),
        ..ChatRequest::default()
    };
    req.stop = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(Into::into).collect(),
        _ => Vec::new(),
    };
    req.thinking = body
        .pointer("/thinking/budget_tokens")
        .and_then(Value::as_u64)
        .map(|budget_tokens| Thinking { budget_tokens })
        .or_else(|| {
            body.get("reasoning_effort")
                .and_then(Value::as_str)
                .and_then(Thinking::from_effort)
        });
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "must be a list of messages"))?;
    let mut system = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        read_message(m, &format!("messages[{i}]"), &mut system, &mut req.messages)?;
    }
    req.system = (!system.is_empty()).then(|| system.join("\n\n"));
    req.tools = read_tools(body.get("tools"))?;
    req.tool_choice = read_tool_choice(body.get("tool_choice"));
    Ok(req)
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Appends to the last message when it has the same role, so that roles alternate.
fn push(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(parts),
        _ => messages.push(Message {
            role,
            content: parts,
        }),
    }
}

fn read_message(
    m: &Value,
    at: &str,
    system: &mut Vec<String>,
    out: &mut Vec<Message>,
) -> Result<(), LlmError> {
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(at, "role is required"))?;
    match role {
        "system" | "developer" => {
            let parts = content_parts(m.get("content"), &format!("{at}.content"))?;
            system.extend(parts.into_iter().filter_map(|p| match p {
                Part::Text(t) => Some(t),
                _ => None,
            }));
        }
        "user" => {
            let parts = content_parts(m.get("content"), &format!("{at}.content"))?;
            push(out, Role::User, parts);
        }
        "assistant" => push(out, Role::Assistant, assistant_parts(m, at)?),
        "tool" | "function" => {
            let id = str_of(m, "tool_call_id")
                .or_else(|| str_of(m, "name"))
                .ok_or_else(|| invalid(at, "tool_call_id is required"))?;
            let content = content_parts(m.get("content"), &format!("{at}.content"))?
                .into_iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("");
            let part = Part::ToolResult {
                id,
                content,
                is_error: false,
            };
            push(out, Role::User, vec![part]);
        }
        other => return Err(invalid(at, &format!("unknown role '{other}'"))),
    }
    Ok(())
}

fn assistant_parts(m: &Value, at: &str) -> Result<Vec<Part>, LlmError> {
    let mut parts = Vec::new();
    for b in m
        .get("thinking_blocks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match b.get("type").and_then(Value::as_str) {
            Some("thinking") => parts.push(Part::Thinking {
                text: str_of(b, "thinking").unwrap_or_default(),
                signature: str_of(b, "signature"),
            }),
            Some("redacted_thinking") => {
                parts.push(Part::RedactedThinking(
                    str_of(b, "data").unwrap_or_default(),
                ));
            }
            _ => {}
        }
    }
    parts.extend(content_parts(m.get("content"), &format!("{at}.content"))?);
    for (j, c) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = c.get("function").unwrap_or(&Value::Null);
        parts.push(Part::ToolCall {
            id: str_of(c, "id").unwrap_or_else(|| format!("call_{j}")),
            name: str_of(f, "name").ok_or_else(|| {
                invalid(
                    &format!("{at}.tool_calls[{j}]"),
                    "function.name is required",
                )
            })?,
            arguments: str_of(f, "arguments").unwrap_or_else(|| "{}".into()),
        });
    }
    Ok(parts)
}

/// A message content: a string, `null`, or a list of parts.
fn content_parts(content: Option<&Value>, at: &str) -> Result<Vec<Part>, LlmError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, p)| content_part(p, &format!("{at}[{j}]")))
            .collect(),
        Some(_) => Err(invalid(at, "must be a string or a list of parts")),
    }
}

fn content_part(p: &Value, at: &str) -> Result<Part, LlmError> {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Part::Text(str_of(p, "text").unwrap_or_default())),
        Some("image_url") => {
            let url = p
                .pointer("/image_url/url")
                .or_else(|| p.get("image_url"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(at, "image_url.url is required"))?;
            Ok(Part::Image(Image::from_url(url)))
        }
        Some(other) => Err(invalid(
            at,
            &format!("content part type '{other}' is not supported here"),
        )),
        None => Err(invalid(at, "type is required")),
    }
}

fn read_tools(tools: Option<&Value>) -> Result<Vec<ToolDef>, LlmError> {
    let mut out = Vec::new();
    for (i, t) in tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = t.get("function").unwrap_or(t);
        out.push(ToolDef {
            name: str_of(f, "name")
                .ok_or_else(|| invalid(&format!("tools[{i}]"), "function.name is required"))?,
            description: str_of(f, "description"),
            parameters: f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    Ok(out)
}

fn read_tool_choice(v: Option<&Value>) -> Option<ToolChoice> {
    match v? {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" | "any" => Some(ToolChoice::Required),
            _ => None,
        },
        o => o
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tool(n.to_owned())),
    }
}

/// Writes an OpenAI chat request.
pub fn request_to_openai(req: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    for m in &req.messages {
        write_message(m, &mut messages);
    }
    let mut o = Map::new();
    o.insert("model".into(), json!(req.model));
    o.insert("messages".into(), Value::Array(messages));
    let opt = |o: &mut Map<String, Value>, k: &str, v: Value| {
        if !v.is_null() {
            o.insert(k.into(), v);
        }
    };
    opt(&mut o, "max_tokens", json!(req.max_tokens));
    opt(&mut o, "temperature", json!(req.temperature));
    opt(&mut o, "top_p", json!(req.top_p));
    opt(&mut o, "user", json!(req.user));
    if !req.stop.is_empty() {
        o.insert("stop".into(), json!(req.stop));
    }
    if let Some(t) = req.thinking {
        o.insert("reasoning_effort".into(), json!(t.effort()));
    }
    write_tools(req, &mut o);
    if req.stream {
        o.insert("stream".into(), json!(true));
        o.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(o)
}

/// `tools` and `tool_choice`.
fn write_tools(req: &ChatRequest, o: &mut Map<String, Value>) {
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        o.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = &req.tool_choice {
        let v = match c {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
        };
        o.insert("tool_choice".into(), v);
    }
}

fn write_message(m: &Message, out: &mut Vec<Value>) {
    let mut content = Vec::new();
    let mut calls = Vec::new();
    for p in &m.content {
        match p {
            Part::Text(t) => content.push(json!({"type": "text", "text": t})),
            Part::Image(i) => {
                content.push(json!({"type": "image_url", "image_url": {"url": i.to_url()}}));
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})),
            Part::ToolResult { id, content, .. } => {
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            Part::Thinking { .. } | Part::RedactedThinking(_) => {}
        }
    }
    let role = match m.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    if content.is_empty() && calls.is_empty() {
        return;
    }
    let all_text = content.iter().all(|c| c["type"] == "text");
    let content = if all_text && (m.role == Role::Assistant || content.len() == 1) {
        let text: String = content.iter().filter_map(|c| c["text"].as_str()).collect();
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        }
    } else {
        Value::Array(content)
    };
    let mut msg = json!({"role": role, "content": content});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    out.push(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_results_images_and_system_round_trip() {
        let body = json!({
            "model": "m", "max_tokens": 50, "stream": true, "reasoning_effort": "high",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}
        });
        let req = request_from_openai(&body).unwrap();
        assert_eq!(req.system.as_deref(), Some("be brief"));
        assert_eq!(req.messages.len(), 3);
        assert_eq!(
            req.thinking,
            Some(Thinking {
                budget_tokens: 4096
            })
        );
        assert_eq!(req.tool_choice, Some(ToolChoice::Tool("f".into())));
        assert!(
            matches!(&req.messages[0].content[1], Part::Image(Image::Base64 { media_type, .. }) if media_type == "image/png")
        );
        assert!(
            matches!(&req.messages[2].content[0], Part::ToolResult { id, content, .. } if id == "c1" && content == "42")
        );
        let out = request_to_openai(&req);
        assert_eq!(out["messages"][2]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!(out["messages"][3]["role"], "tool");
        assert_eq!(request_from_openai(&out).unwrap().messages, req.messages);
    }

    #[test]
    fn errors_name_the_field() {
        let e = request_from_openai(
            &json!({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("messages[0].content[0]"), "{e}");
        assert!(request_from_openai(&json!({"model": "m"})).is_err());
    }
}
