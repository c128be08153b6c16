//! Gemini's `GenerateContentResponse` into the canonical answer and stream chunks. A stream is
//! a series of such responses (`alt=sse`), each with the newest parts and the running
//! `usageMetadata`.

use serde_json::Value;

use crate::adapter::StreamTranslator;
use crate::canonical::{ChatResponse, Chunk, Part, StopReason, Usage};
use crate::sse::Event;
use crate::LlmError;

fn stop(reason: &str, called: bool) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        _ if called => StopReason::ToolCalls,
        _ => StopReason::Stop,
    }
}

/// `usageMetadata`: `promptTokenCount` includes the cached tokens; `thoughtsTokenCount` is
/// apart from `candidatesTokenCount`.
pub(crate) fn usage(m: &Value) -> Usage {
    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("promptTokenCount"),
        output_tokens: n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cache_read_tokens: n("cachedContentTokenCount"),
        cache_creation_tokens: 0,
        reasoning_tokens: n("thoughtsTokenCount"),
    }
}

fn parts(body: &Value) -> impl Iterator<Item = &Value> {
    body.pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

pub fn response_from_gemini(body: &Value) -> Result<ChatResponse, LlmError> {
    if body.get("candidates").and_then(Value::as_array).is_none() {
        let why = body
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
            .unwrap_or("no candidates");
        return Err(LlmError::Protocol(format!("Gemini gave no answer: {why}")));
    }
    let mut content = Vec::new();
    for (i, p) in parts(body).enumerate() {
        if let Some(c) = p.get("functionCall") {
            content.push(Part::ToolCall {
                id: format!("call_{i}"),
                name: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: c.get("args").map_or_else(|| "{}".into(), Value::to_string),
            });
        } else if let Some(t) = p.get("text").and_then(Value::as_str) {
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                content.push(Part::Thinking {
                    text: t.to_owned(),
                    signature: None,
                });
            } else {
                content.push(Part::Text(t.to_owned()));
            }
        }
    }
    let called = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let reason = body
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(ChatResponse {
        id: s("responseId"),
        model: s("modelVersion"),
        content,
        stop: stop(reason, called),
        usage: body.get("usageMetadata").map(usage).unwrap_or_default(),
    })
}

/// State of one Gemini stream being read.
#[derive(Debug, Default)]
pub struct GeminiStreamIn {
    started: bool,
    tools: usize,
}

impl StreamTranslator for GeminiStreamIn {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError> {
        if event.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(&event.data)
            .map_err(|e| LlmError::Protocol(format!("stream chunk is not JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(LlmError::Status {
                status: err
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(500),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error")
                    .to_owned(),
                body: Some(v.clone()),
                retry_after: None,
            });
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(Chunk::Start {
                id: s("responseId"),
                model: s("modelVersion"),
            });
        }
        for p in parts(&v) {
            self.part(p, &mut out);
        }
        if let Some(m) = v.get("usageMetadata") {
            out.push(Chunk::Usage(usage(m)));
        }
        if let Some(r) = v
            .pointer("/candidates/0/finishReason")
            .and_then(Value::as_str)
        {
            out.push(Chunk::Stop(stop(r, self.tools > 0)));
        }
        Ok(out)
    }
}

impl GeminiStreamIn {
    fn part(&mut self, p: &Value, out: &mut Vec<Chunk>) {
        if let Some(c) = p.get("functionCall") {
            let index = self.tools;
            self.tools += 1;
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            out.push(Chunk::ToolCallStart {
                index,
                id: format!("call_{index}"),
                name,
            });
            let json = c.get("args").map_or_else(|| "{}".into(), Value::to_string);
            out.push(Chunk::ToolCallArgs { index, json });
        } else if let Some(t) = p
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                out.push(Chunk::Thinking(t.to_owned()));
            } else {
                out.push(Chunk::Text(t.to_owned()));
            }
        }
    }
}
