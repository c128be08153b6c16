//! Canonical chat request → Converse request. Consecutive turns of one role are merged (Converse
//! wants user and assistant to alternate), empty text is dropped (Converse refuses it), tool
//! results become `toolResult` blocks, and what Converse has no field for (`top_k`, and
//! extended thinking for Claude models) goes in `additionalModelRequestFields`.

use serde_json::{json, Value};

use super::converse::{
    ContentBlock, ConverseRequest, Empty, ImageBlock, ImageSource, InferenceConfig, Message,
    ReasoningContentBlock, ReasoningText, Role, SystemContentBlock, Tool, ToolChoice, ToolConfig,
    ToolInputSchema, ToolResultBlock, ToolResultContent, ToolResultStatus, ToolSpec, ToolUseBlock,
};
use crate::canonical::{self, ChatRequest, Image, Part};
use crate::LlmError;

/// The Converse body of a canonical request.
pub fn request_to_converse(req: &ChatRequest) -> Result<ConverseRequest, LlmError> {
    let mut messages: Vec<Message> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            canonical::Role::User => Role::User,
            canonical::Role::Assistant => Role::Assistant,
        };
        let mut blocks = Vec::new();
        for p in &m.content {
            if let Some(b) = block(p)? {
                blocks.push(b);
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    let system = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| SystemContentBlock::Text(s.clone()))
        .collect();
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: inference_config(req)?,
        tool_config: tool_config(req),
        additional_model_request_fields: additional_fields(req),
        ..ConverseRequest::default()
    })
}

fn inference_config(req: &ChatRequest) -> Result<Option<InferenceConfig>, LlmError> {
    let max_tokens = req
        .max_tokens
        .map(|n| {
            u32::try_from(n).map_err(|_| LlmError::Invalid(format!("max_tokens {n} is too large")))
        })
        .transpose()?;
    let config = InferenceConfig {
        max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: (!req.stop.is_empty()).then(|| req.stop.clone()),
    };
    Ok((config != InferenceConfig::default()).then_some(config))
}

fn tool_config(req: &ChatRequest) -> Option<ToolConfig> {
    if req.tools.is_empty() {
        return None;
    }
    let tools = req
        .tools
        .iter()
        .map(|t| {
            Tool::ToolSpec(ToolSpec {
                name: t.name.clone(),
                description: t.description.clone().filter(|d| !d.is_empty()),
                input_schema: ToolInputSchema::Json(match &t.parameters {
                    Value::Object(_) => t.parameters.clone(),
                    _ => json!({"type": "object", "properties": {}}),
                }),
            })
        })
        .collect();
    // Converse has no "none": the tools stay declared (earlier turns may use them) and the
    // model chooses.
    let tool_choice = match &req.tool_choice {
        Some(canonical::ToolChoice::Required) => Some(ToolChoice::Any(Empty {})),
        Some(canonical::ToolChoice::Tool(name)) => Some(ToolChoice::Tool { name: name.clone() }),
        Some(canonical::ToolChoice::Auto) => Some(ToolChoice::Auto(Empty {})),
        Some(canonical::ToolChoice::None) | None => None,
    };
    Some(ToolConfig { tools, tool_choice })
}

fn additional_fields(req: &ChatRequest) -> Option<Value> {
    let mut extra = serde_json::Map::new();
    if let Some(k) = req.top_k {
        extra.insert("top_k".into(), json!(k));
    }
    // Extended thinking is Claude's; other Bedrock models would refuse the field.
    if let Some(t) = req.thinking.filter(|_| req.model.contains("anthropic.")) {
        extra.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": t.budget_tokens}),
        );
    }
    (!extra.is_empty()).then_some(Value::Object(extra))
}

/// One canonical part as a content block; `None` for parts Converse would refuse as empty.
fn block(p: &Part) -> Result<Option<ContentBlock>, LlmError> {
    Ok(Some(match p {
        Part::Text(t) if t.is_empty() => return Ok(None),
        Part::Text(t) => ContentBlock::Text(t.clone()),
        Part::Image(img) => ContentBlock::Image(image(img)?),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: id.clone(),
            name: name.clone(),
            input: tool_input(arguments)?,
        }),
        Part::ToolResult {
            id,
            content,
            is_error,
        } => ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id: id.clone(),
            content: vec![ToolResultContent::Text(if content.is_empty() {
                // Converse refuses empty text, and a tool may well return nothing.
                "(empty)".into()
            } else {
                content.clone()
            })],
            status: is_error.then_some(ToolResultStatus::Error),
        }),
        Part::Thinking { text, signature } => {
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(ReasoningText {
                text: text.clone(),
                signature: signature.clone(),
            }))
        }
        Part::RedactedThinking(data) => {
            ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(data.clone()))
        }
    }))
}

/// Tool arguments (JSON text) as the `input` object; empty text is `{}`.
fn tool_input(arguments: &str) -> Result<Value, LlmError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(arguments).map_err(|e| {
        LlmError::Invalid(format!("tool call arguments must be JSON for bedrock: {e}"))
    })
}

/// Converse takes image bytes only: `data:` URLs are accepted, remote URLs are not fetched.
fn image(img: &Image) -> Result<ImageBlock, LlmError> {
    match img {
        Image::Base64 { media_type, data } => {
            let format = media_type
                .strip_prefix("image/")
                .unwrap_or(media_type)
                .replace("jpg", "jpeg");
            if !matches!(format.as_str(), "png" | "jpeg" | "gif" | "webp") {
                return Err(LlmError::Invalid(format!(
                    "image type {media_type} is not supported by bedrock (png, jpeg, gif, webp)"
                )));
            }
            Ok(ImageBlock {
                format,
                source: ImageSource::Bytes(data.clone()),
            })
        }
        Image::Url(_) => Err(LlmError::Invalid(
            "bedrock takes images as data: URLs (base64), not remote URLs".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Message as CMessage, Role as CRole, Thinking, ToolDef};

    fn user(parts: Vec<Part>) -> CMessage {
        CMessage {
            role: CRole::User,
            content: parts,
        }
    }

    #[test]
    fn a_tool_round_trip_in_converse_shape() {
        let req = ChatRequest {
            system: Some("Be brief.".into()),
            messages: vec![
                user(vec![Part::Text("weather?".into())]),
                CMessage {
                    role: CRole::Assistant,
                    content: vec![
                        Part::Text(String::new()),
                        Part::ToolCall {
                            id: "t1".into(),
                            name: "get_weather".into(),
                            arguments: "{\"city\":\"Paris\"}".into(),
                        },
                    ],
                },
                user(vec![Part::ToolResult {
                    id: "t1".into(),
                    content: "sunny".into(),
                    is_error: false,
                }]),
                user(vec![Part::Text("and?".into())]),
            ],
            tools: vec![ToolDef {
                name: "get_weather".into(),
                description: Some("Weather".into()),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(canonical::ToolChoice::Required),
            model: "anthropic.claude-sonnet-4-20250514-v1:0".into(),
            max_tokens: Some(100),
            top_k: Some(5),
            thinking: Some(Thinking {
                budget_tokens: 1024,
            }),
            ..ChatRequest::default()
        };
        let v = serde_json::to_value(request_to_converse(&req).unwrap()).unwrap();
        assert_eq!(v["system"], json!([{"text": "Be brief."}]));
        assert_eq!(v["messages"].as_array().unwrap().len(), 3, "{v}");
        assert_eq!(
            v["messages"][1]["content"],
            json!([{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}])
        );
        assert_eq!(
            v["messages"][2]["content"],
            json!([{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}, {"text": "and?"}])
        );
        assert_eq!(v["inferenceConfig"], json!({"maxTokens": 100}));
        assert_eq!(v["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(
            v["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"],
            json!({"json": {"type": "object"}})
        );
        assert_eq!(
            v["additionalModelRequestFields"],
            json!({"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}})
        );
    }

    #[test]
    fn images_must_be_inline_and_arguments_json() {
        let with = |p: Part| ChatRequest {
            messages: vec![user(vec![p])],
            ..ChatRequest::default()
        };
        let ok = request_to_converse(&with(Part::Image(Image::from_url(
            "data:image/png;base64,AAAA",
        ))))
        .unwrap();
        let v = serde_json::to_value(ok).unwrap();
        assert_eq!(
            v["messages"][0]["content"][0],
            json!({"image": {"format": "png", "source": {"bytes": "AAAA"}}})
        );
        let e = request_to_converse(&with(Part::Image(Image::Url("https://x/a.png".into()))))
            .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = request_to_converse(&ChatRequest {
            messages: vec![CMessage {
                role: CRole::Assistant,
                content: vec![Part::ToolCall {
                    id: "a".into(),
                    name: "f".into(),
                    arguments: "{not json".into(),
                }],
            }],
            ..ChatRequest::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("tool call arguments"), "{e}");
    }
}
