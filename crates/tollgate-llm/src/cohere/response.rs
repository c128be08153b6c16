//! Cohere v2 chat answers and stream events into the canonical model. Stream events (`type` in
//! the data): `message-start`, `content-start`, `content-delta`, `content-end`,
//! `tool-plan-delta`, `tool-call-start`, `tool-call-delta`, `tool-call-end`, `citation-*`,
//! `message-end` (finish reason and usage).

use serde_json::Value;

use crate::adapter::StreamTranslator;
use crate::canonical::{ChatResponse, Chunk, Part, StopReason, Usage};
use crate::sse::Event;
use crate::LlmError;

fn stop(reason: &str) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::Length,
        "TOOL_CALL" => StopReason::ToolCalls,
        _ => StopReason::Stop,
    }
}

/// `usage.tokens` (what the model saw), or `usage.billed_units`.
pub(crate) fn usage(u: &Value) -> Usage {
    let src = u
        .get("tokens")
        .filter(|t| t.is_object())
        .or_else(|| u.get("billed_units"))
        .unwrap_or(u);
    let n = |k: &str| {
        src.get(k)
            .and_then(Value::as_f64)
            .map_or(0, |f| f.max(0.0) as u64)
    };
    Usage {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        ..Usage::default()
    }
}

pub fn response_from_cohere(body: &Value) -> Result<ChatResponse, LlmError> {
    let msg = body
        .get("message")
        .ok_or_else(|| LlmError::Protocol("chat answer without message".into()))?;
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut content = Vec::new();
    for c in msg
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match c.get("type").and_then(Value::as_str) {
            Some("text") => content.push(Part::Text(s(c, "/text"))),
            Some("thinking") => content.push(Part::Thinking {
                text: s(c, "/thinking"),
                signature: None,
            }),
            _ => {}
        }
    }
    for t in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        content.push(Part::ToolCall {
            id: s(t, "/id"),
            name: s(t, "/function/name"),
            arguments: s(t, "/function/arguments"),
        });
    }
    Ok(ChatResponse {
        id: s(body, "/id"),
        model: String::new(),
        content,
        stop: stop(
            body.get("finish_reason")
                .and_then(Value::as_str)
                .unwrap_or("COMPLETE"),
        ),
        usage: body.get("usage").map(usage).unwrap_or_default(),
    })
}

/// State of one Cohere stream being read.
#[derive(Debug, Default)]
pub struct CohereStreamIn {
    tools: usize,
}

impl StreamTranslator for CohereStreamIn {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError> {
        if event.data.trim().is_empty() || event.data == "[DONE]" {
            return Ok(Vec::new());
        }
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
            "message-start" => out.push(Chunk::Start {
                id: s("/id"),
                model: String::new(),
            }),
            "content-start" | "content-delta" => {
                if let Some(t) = v
                    .pointer("/delta/message/content/text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    out.push(Chunk::Text(t.to_owned()));
                }
                if let Some(t) = v
                    .pointer("/delta/message/content/thinking")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    out.push(Chunk::Thinking(t.to_owned()));
                }
            }
            "tool-call-start" | "tool-call-delta" => self.tool(kind, &v, &mut out),
            "message-end" => {
                if let Some(u) = v.pointer("/delta/usage") {
                    out.push(Chunk::Usage(usage(u)));
                }
                out.push(Chunk::Stop(stop(&s("/delta/finish_reason"))));
            }
            _ => {}
        }
        Ok(out)
    }
}

impl CohereStreamIn {
    fn tool(&mut self, kind: &str, v: &Value, out: &mut Vec<Chunk>) {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let args = s("/delta/message/tool_calls/function/arguments");
        if kind == "tool-call-start" {
            self.tools += 1;
            out.push(Chunk::ToolCallStart {
                index: self.tools - 1,
                id: s("/delta/message/tool_calls/id"),
                name: s("/delta/message/tool_calls/function/name"),
            });
        }
        if !args.is_empty() && self.tools > 0 {
            out.push(Chunk::ToolCallArgs {
                index: self.tools - 1,
                json: args,
            });
        }
    }
}
