//! Canonical requests into Gemini's `GenerateContentRequest`: `contents` with `user` / `model`
//! roles and `text`, `inlineData`, `fileData`, `functionCall` and `functionResponse` parts,
//! `systemInstruction`, `tools[].functionDeclarations`, `toolConfig`, `generationConfig`
//! (with `thinkingConfig`).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::canonical::{ChatRequest, Image, Part, Role, ToolChoice};
use crate::LlmError;

/// JSON-Schema keywords Gemini's schema subset refuses.
const UNSUPPORTED_SCHEMA_KEYS: &[&str] =
    &["$schema", "additionalProperties", "strict", "$id", "$defs"];

/// A tool's schema with the keywords Gemini refuses removed, at every depth.
pub(crate) fn clean_schema(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !UNSUPPORTED_SCHEMA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), clean_schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

pub fn request_to_gemini(req: &ChatRequest) -> Result<Value, LlmError> {
    // Gemini answers a function by name; the canonical model links results by call id.
    let names: HashMap<&str, &str> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            Part::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let mut contents = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let parts = m
            .content
            .iter()
            .filter_map(|p| part(p, &names, &format!("messages[{i}]")).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        if parts.is_empty() {
            continue;
        }
        let role = if m.role == Role::User {
            "user"
        } else {
            "model"
        };
        contents.push(json!({"role": role, "parts": parts}));
    }
    let mut o = Map::new();
    o.insert("contents".into(), Value::Array(contents));
    if let Some(s) = &req.system {
        o.insert("systemInstruction".into(), json!({"parts": [{"text": s}]}));
    }
    write_tools(req, &mut o);
    let g = generation_config(req);
    if !g.is_empty() {
        o.insert("generationConfig".into(), Value::Object(g));
    }
    Ok(Value::Object(o))
}

/// `tools` and `toolConfig`.
fn write_tools(req: &ChatRequest, o: &mut Map<String, Value>) {
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description.clone().unwrap_or_default(), "parameters": clean_schema(&t.parameters)}))
            .collect();
        o.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(c) = &req.tool_choice {
        let cfg = match c {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
        };
        o.insert("toolConfig".into(), json!({"functionCallingConfig": cfg}));
    }
}

/// `generationConfig`.
fn generation_config(req: &ChatRequest) -> Map<String, Value> {
    let mut g = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            g.insert(k.into(), v);
        }
    };
    put("maxOutputTokens", json!(req.max_tokens));
    put("temperature", json!(req.temperature));
    put("topP", json!(req.top_p));
    put("topK", json!(req.top_k));
    if !req.stop.is_empty() {
        put("stopSequences", json!(req.stop));
    }
    if let Some(t) = req.thinking {
        put(
            "thinkingConfig",
            json!({"thinkingBudget": t.budget_tokens, "includeThoughts": true}),
        );
    }
    g
}

fn part(p: &Part, names: &HashMap<&str, &str>, at: &str) -> Result<Option<Value>, LlmError> {
    Ok(Some(match p {
        Part::Text(t) => json!({"text": t}),
        Part::Image(Image::Base64 { media_type, data }) => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        Part::Image(Image::Url(u)) => json!({"fileData": {"fileUri": u}}),
        Part::ToolCall {
            name, arguments, ..
        } => {
            let args: Value = if arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(arguments).map_err(|e| {
                    LlmError::Invalid(format!(
                        "{at}: tool call '{name}' has arguments that are not JSON: {e}"
                    ))
                })?
            };
            json!({"functionCall": {"name": name, "args": args}})
        }
        Part::ToolResult { id, content, .. } => {
            let name = names.get(id.as_str()).copied().unwrap_or(id.as_str());
            json!({"functionResponse": {"name": name, "response": {"content": content}}})
        }
        Part::Thinking { .. } | Part::RedactedThinking(_) => return Ok(None),
    }))
}
