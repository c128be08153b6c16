//! Canonical chunks into Anthropic stream events, for Anthropic clients of other providers:
//! `message_start`, one content block per text run, thinking run or tool call
//! (`content_block_start` / `_delta` / `_stop`), then `message_delta` with the stop reason and
//! usage, and `message_stop`.

use serde_json::{json, Value};

use super::response::stop_to_anthropic;
use crate::adapter::StreamEncoder;
use crate::canonical::{Chunk, StopReason, Usage};
use crate::sse::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
}

/// State of one Anthropic stream being written.
#[derive(Debug)]
pub struct AnthropicStreamOut {
    id: String,
    model: String,
    started: bool,
    open: Option<(usize, Block)>,
    next_index: usize,
    usage: Usage,
    stop: Option<StopReason>,
}

/// An event in Anthropic's form: `event:` names the `type` of the data.
pub fn event(kind: &str, mut data: Value) -> Event {
    data["type"] = json!(kind);
    Event {
        event: Some(kind.to_owned()),
        data: data.to_string(),
    }
}

impl AnthropicStreamOut {
    pub fn new(id: String, model: String) -> Self {
        AnthropicStreamOut {
            id,
            model,
            started: false,
            open: None,
            next_index: 0,
            usage: Usage::default(),
            stop: None,
        }
    }

    fn start(&mut self, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = if self.id.starts_with("msg_") {
            self.id.clone()
        } else {
            format!("msg_{}", self.id)
        };
        out.push(event(
            "message_start",
            json!({"message": {
                "id": id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": self.usage.to_anthropic(),
            }}),
        ));
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((index, _)) = self.open.take() {
            out.push(event("content_block_stop", json!({"index": index})));
        }
    }

    /// The index of an open block of this kind, opening one (closing the current) if needed.
    fn ensure(&mut self, kind: Block, block: Value, out: &mut Vec<Event>) -> usize {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push(event(
            "content_block_start",
            json!({"index": index, "content_block": block}),
        ));
        self.open = Some((index, kind));
        index
    }

    fn delta(index: usize, delta: Value) -> Event {
        event(
            "content_block_delta",
            json!({"index": index, "delta": delta}),
        )
    }
    /// A chunk that carries content: opens, continues or closes blocks.
    fn content(&mut self, chunk: Chunk, out: &mut Vec<Event>) {
        match chunk {
            Chunk::Text(t) => {
                let i = self.ensure(Block::Text, json!({"type": "text", "text": ""}), out);
                out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
            }
            Chunk::Thinking(t) => {
                let i = self.ensure(
                    Block::Thinking,
                    json!({"type": "thinking", "thinking": ""}),
                    out,
                );
                out.push(Self::delta(
                    i,
                    json!({"type": "thinking_delta", "thinking": t}),
                ));
            }
            Chunk::ThinkingSignature(s) => {
                let i = self.ensure(
                    Block::Thinking,
                    json!({"type": "thinking", "thinking": ""}),
                    out,
                );
                out.push(Self::delta(
                    i,
                    json!({"type": "signature_delta", "signature": s}),
                ));
            }
            Chunk::RedactedThinking(d) => {
                self.close(out);
                let index = self.next_index;
                self.next_index += 1;
                out.push(event("content_block_start", json!({"index": index, "content_block": {"type": "redacted_thinking", "data": d}})));
                out.push(event("content_block_stop", json!({"index": index})));
            }
            Chunk::ToolCallStart { index, id, name } => {
                self.close(out);
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                self.ensure(Block::Tool(index), block, out);
            }
            Chunk::ToolCallArgs { index, json } => {
                if let Some((i, Block::Tool(t))) = self.open {
                    if t == index {
                        out.push(Self::delta(
                            i,
                            json!({"type": "input_json_delta", "partial_json": json}),
                        ));
                    }
                }
            }
            Chunk::Start { .. } | Chunk::Usage(_) | Chunk::Stop(_) => {}
        }
    }
}

impl StreamEncoder for AnthropicStreamOut {
    fn chunk(&mut self, chunk: Chunk) -> Vec<Event> {
        let mut out = Vec::new();
        match chunk {
            Chunk::Start { id, model } => {
                if !id.is_empty() {
                    self.id = id;
                }
                if !model.is_empty() {
                    self.model = model;
                }
                return out;
            }
            Chunk::Usage(u) => {
                self.usage.merge(&u);
                return out;
            }
            Chunk::Stop(r) => {
                self.stop = Some(r);
                return out;
            }
            _ => {}
        }
        self.start(&mut out);
        self.content(chunk, &mut out);
        out
    }

    fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        self.start(&mut out);
        self.close(&mut out);
        let stop = self.stop.unwrap_or_default();
        out.push(event(
            "message_delta",
            json!({
                "delta": {"stop_reason": stop_to_anthropic(stop), "stop_sequence": null},
                "usage": self.usage.to_anthropic(),
            }),
        ));
        out.push(event("message_stop", json!({})));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::StreamTranslator;
    use crate::anthropic::AnthropicStreamIn;

    #[test]
    fn chunks_survive_a_round_trip_through_anthropic_events() {
        let chunks = vec![
            Chunk::Thinking("hm".into()),
            Chunk::ThinkingSignature("sig".into()),
            Chunk::Text("he".into()),
            Chunk::Text("llo".into()),
            Chunk::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
            },
            Chunk::ToolCallArgs {
                index: 0,
                json: "{\"a\"".into(),
            },
            Chunk::ToolCallArgs {
                index: 0,
                json: ":1}".into(),
            },
            Chunk::Usage(Usage {
                input_tokens: 30,
                output_tokens: 2,
                cache_read_tokens: 20,
                ..Usage::default()
            }),
            Chunk::Stop(StopReason::ToolCalls),
        ];
        let mut enc = AnthropicStreamOut::new("x".into(), "m".into());
        let mut events: Vec<Event> = chunks.iter().cloned().flat_map(|c| enc.chunk(c)).collect();
        events.extend(enc.finish());
        assert_eq!(
            events.first().unwrap().event.as_deref(),
            Some("message_start")
        );
        assert_eq!(
            events.last().unwrap().event.as_deref(),
            Some("message_stop")
        );
        let mut dec = AnthropicStreamIn::default();
        let back: Vec<Chunk> = events.iter().flat_map(|e| dec.event(e).unwrap()).collect();
        let content: Vec<&Chunk> = back
            .iter()
            .filter(|c| !matches!(c, Chunk::Start { .. } | Chunk::Usage(_)))
            .collect();
        assert_eq!(
            content,
            chunks
                .iter()
                .filter(|c| !matches!(c, Chunk::Usage(_)))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            back.iter().rev().find_map(|c| match c {
                Chunk::Usage(u) => Some(*u),
                _ => None,
            }),
            Some(Usage {
                input_tokens: 30,
                output_tokens: 2,
                cache_read_tokens: 20,
                ..Usage::default()
            })
        );
    }
}
