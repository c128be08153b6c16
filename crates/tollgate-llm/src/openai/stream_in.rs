//! OpenAI `chat.completion.chunk` events into canonical chunks.

use std::collections::HashSet;

use serde_json::Value;

use super::response::stop_from_openai;
use crate::adapter::StreamTranslator;
use crate::canonical::{Chunk, Usage};
use crate::sse::Event;
use crate::LlmError;

/// State of one OpenAI stream being read.
#[derive(Debug, Default)]
pub struct OpenAiStreamIn {
    started: bool,
    tools_started: HashSet<usize>,
}

impl StreamTranslator for OpenAiStreamIn {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError> {
        if event.data == "[DONE]" || event.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(&event.data)
            .map_err(|e| LlmError::Protocol(format!("stream chunk is not JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            return Err(LlmError::Status {
                status: 500,
                message: message.to_owned(),
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
                id: s("id"),
                model: s("model"),
            });
        }
        if let Some(choice) = v.pointer("/choices/0") {
            self.choice(choice, &mut out);
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            out.push(Chunk::Usage(Usage::from_openai(u)));
        }
        Ok(out)
    }
}

impl OpenAiStreamIn {
    fn choice(&mut self, choice: &Value, out: &mut Vec<Chunk>) {
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        let text = |k: &str| {
            delta
                .get(k)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        };
        if let Some(r) = text("reasoning_content") {
            out.push(Chunk::Thinking(r.to_owned()));
        }
        if let Some(t) = text("content") {
            out.push(Chunk::Text(t.to_owned()));
        }
        for c in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if self.tools_started.insert(index) {
                let s = |p: &str| {
                    c.pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                out.push(Chunk::ToolCallStart {
                    index,
                    id: s("/id"),
                    name: s("/function/name"),
                });
            }
            if let Some(a) = c
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                out.push(Chunk::ToolCallArgs {
                    index,
                    json: a.to_owned(),
                });
            }
        }
        if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
            out.push(Chunk::Stop(stop_from_openai(r)));
        }
    }
}
