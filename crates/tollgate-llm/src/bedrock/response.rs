//! Converse answers and ConverseStream events → the canonical model. Bedrock counts cache reads
//! and writes beside `inputTokens` (as Anthropic does); the canonical input includes them. The
//! stream translator keeps the content-block → tool-call index map, and holds the stop reason
//! back until the `metadata` event has given the usage, so encoders see usage before the stop.

use std::collections::HashMap;

use serde_json::Value;

use super::converse::{
    stream_error, BlockStart, ContentBlock, ConverseResponse, Delta, ReasoningContentBlock,
    ReasoningDelta, StopReason as BedrockStop, StreamEvent, TokenUsage,
};
use crate::adapter::StreamTranslator;
use crate::canonical::{ChatResponse, Chunk, Part, StopReason, Usage};
use crate::sse::Event;
use crate::LlmError;

/// The event name under which the frame decoder hands on exception and error frames.
pub const EXCEPTION_EVENT: &str = "exception";

/// Bedrock's token usage, with the cache counts inside the input.
pub fn usage(u: &TokenUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let write = u.cache_write_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: u.input_tokens + read + write,
        output_tokens: u.output_tokens,
        cache_read_tokens: read,
        cache_creation_tokens: write,
        reasoning_tokens: 0,
    }
}

fn stop(r: BedrockStop) -> StopReason {
    match r {
        BedrockStop::ToolUse => StopReason::ToolCalls,
        BedrockStop::MaxTokens | BedrockStop::ModelContextWindowExceeded => StopReason::Length,
        BedrockStop::GuardrailIntervened | BedrockStop::ContentFiltered => {
            StopReason::ContentFilter
        }
        BedrockStop::EndTurn | BedrockStop::StopSequence | BedrockStop::Unknown => StopReason::Stop,
    }
}

/// A Converse answer in canonical form (Bedrock gives no id or model; the gateway fills them).
pub fn response_from_converse(body: &Value) -> Result<ChatResponse, LlmError> {
    let r: ConverseResponse = serde_json::from_value(body.clone())
        .map_err(|e| LlmError::Protocol(format!("bedrock: unreadable Converse answer: {e}")))?;
    let mut content = Vec::new();
    for b in r.output.message.content {
        match b {
            ContentBlock::Text(t) => content.push(Part::Text(t)),
            ContentBlock::ToolUse(t) => content.push(Part::ToolCall {
                id: t.tool_use_id,
                name: t.name,
                arguments: t.input.to_string(),
            }),
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(t)) => content
                .push(Part::Thinking {
                    text: t.text,
                    signature: t.signature,
                }),
            ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(d)) => {
                content.push(Part::RedactedThinking(d))
            }
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: String::new(),
        model: String::new(),
        content,
        stop: stop(r.stop_reason),
        usage: usage(&r.usage),
    })
}

/// State of one ConverseStream being read.
#[derive(Debug, Default)]
pub struct BedrockStreamIn {
    started: bool,
    /// Content-block index → tool-call index.
    tools: HashMap<u32, usize>,
    stop: Option<StopReason>,
}

impl BedrockStreamIn {
    fn translate(&mut self, event: StreamEvent) -> Result<Vec<Chunk>, LlmError> {
        let mut out = Vec::new();
        match event {
            StreamEvent::MessageStart(_) | StreamEvent::ContentBlockStop(_) => {}
            StreamEvent::ContentBlockStart(s) => {
                let BlockStart::ToolUse(t) = s.start;
                let index = self.tools.len();
                self.tools.insert(s.content_block_index, index);
                out.push(Chunk::ToolCallStart {
                    index,
                    id: t.tool_use_id,
                    name: t.name,
                });
            }
            StreamEvent::ContentBlockDelta(d) => match d.delta {
                Delta::Text(t) if !t.is_empty() => out.push(Chunk::Text(t)),
                Delta::Text(_) | Delta::Citation(_) => {}
                Delta::ToolUse { input } => {
                    let index = *self.tools.get(&d.content_block_index).ok_or_else(|| {
                        LlmError::Protocol(format!(
                            "bedrock stream: tool input for block {} that never started",
                            d.content_block_index
                        ))
                    })?;
                    out.push(Chunk::ToolCallArgs { index, json: input });
                }
                Delta::ReasoningContent(ReasoningDelta::Text(t)) => out.push(Chunk::Thinking(t)),
                Delta::ReasoningContent(ReasoningDelta::Signature(s)) => {
                    out.push(Chunk::ThinkingSignature(s))
                }
                Delta::ReasoningContent(ReasoningDelta::RedactedContent(d)) => {
                    out.push(Chunk::RedactedThinking(d))
                }
            },
            StreamEvent::MessageStop(m) => self.stop = Some(stop(m.stop_reason)),
            StreamEvent::Metadata(m) => {
                out.push(Chunk::Usage(usage(&m.usage)));
                out.extend(self.stop.take().map(Chunk::Stop));
            }
        }
        Ok(out)
    }
}

impl StreamTranslator for BedrockStreamIn {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError> {
        let payload: Value = if event.data.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_str(&event.data)
                .map_err(|e| LlmError::Protocol(format!("bedrock stream: payload: {e}")))?
        };
        let kind = event.event.as_deref().unwrap_or_default();
        if kind == EXCEPTION_EVENT {
            let exception = payload
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknownException");
            return Err(stream_error(exception, &payload));
        }
        let mut wrapped = serde_json::Map::new();
        wrapped.insert(kind.to_owned(), payload);
        let parsed: StreamEvent = serde_json::from_value(Value::Object(wrapped))
            .map_err(|e| LlmError::Protocol(format!("bedrock stream: {kind} event: {e}")))?;
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(Chunk::Start {
                id: String::new(),
                model: String::new(),
            });
        }
        out.extend(self.translate(parsed)?);
        Ok(out)
    }

    fn finish(&mut self) -> Vec<Chunk> {
        self.stop.take().map(Chunk::Stop).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &str, data: Value) -> Event {
        Event {
            event: Some(kind.into()),
            data: data.to_string(),
        }
    }

    #[test]
    fn answers_with_tools_reasoning_and_cache_usage() {
        let body = json!({"output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
            {"text": "ok"},
            {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 40}});
        let r = response_from_converse(&body).unwrap();
        assert_eq!(r.stop, StopReason::ToolCalls);
        assert_eq!((r.usage.input_tokens, r.usage.uncached_input()), (150, 10));
        assert_eq!(
            r.content[2],
            Part::ToolCall {
                id: "t1".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into()
            }
        );
        assert!(matches!(&r.content[0], Part::Thinking { signature: Some(s), .. } if s == "sig"));
    }

    #[test]
    fn stream_of_tool_input_pieces_then_usage_before_stop() {
        let mut t = BedrockStreamIn::default();
        let mut chunks = Vec::new();
        for e in [
            ev("messageStart", json!({"role": "assistant"})),
            ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
            ),
            ev("contentBlockStop", json!({"contentBlockIndex": 0})),
            ev(
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}),
            ),
            ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\""}}}),
            ),
            ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": ":1}"}}}),
            ),
            ev("messageStop", json!({"stopReason": "tool_use"})),
            ev(
                "metadata",
                json!({"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, "metrics": {"latencyMs": 1}}),
            ),
        ] {
            chunks.extend(t.event(&e).unwrap());
        }
        chunks.extend(t.finish());
        assert_eq!(
            chunks[1..],
            [
                Chunk::Text("Hi".into()),
                Chunk::ToolCallStart {
                    index: 0,
                    id: "t1".into(),
                    name: "f".into()
                },
                Chunk::ToolCallArgs {
                    index: 0,
                    json: "{\"a\"".into()
                },
                Chunk::ToolCallArgs {
                    index: 0,
                    json: ":1}".into()
                },
                Chunk::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    ..Usage::default()
                }),
                Chunk::Stop(StopReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn exceptions_and_orphan_tool_input_are_errors() {
        let mut t = BedrockStreamIn::default();
        let e = t
            .event(&ev(
                EXCEPTION_EVENT,
                json!({"type": "throttlingException", "message": "slow down"}),
            ))
            .unwrap_err();
        assert_eq!(e.status(), 429);
        assert!(e.to_string().contains("slow down"), "{e}");
        let e = t
            .event(&ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 7, "delta": {"toolUse": {"input": "{"}}}),
            ))
            .unwrap_err();
        assert_eq!(e.status(), 502);
    }
}
