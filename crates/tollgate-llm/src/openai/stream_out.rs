//! Canonical chunks into OpenAI `chat.completion.chunk` events: a first chunk with the role,
//! deltas, the finish chunk, then the usage chunk (`"choices": []`) and `[DONE]`.

use serde_json::{json, Value};

use super::response::stop_to_openai;
use crate::adapter::StreamEncoder;
use crate::canonical::{Chunk, Usage};
use crate::sse::Event;

/// State of one OpenAI stream being written.
#[derive(Debug)]
pub struct OpenAiStreamOut {
    id: String,
    model: String,
    created: u64,
    started: bool,
    stopped: bool,
    usage: Option<Usage>,
}

impl OpenAiStreamOut {
    /// `id` and `model` are used until the upstream names its own.
    pub fn new(id: String, model: String, created: u64) -> Self {
        OpenAiStreamOut {
            id,
            model,
            created,
            started: false,
            stopped: false,
            usage: None,
        }
    }

    fn event(&self, choices: Value, usage: Option<Value>) -> Event {
        let mut v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        Event {
            event: None,
            data: v.to_string(),
        }
    }

    fn delta(&self, delta: Value, finish: Option<&str>) -> Event {
        self.event(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            None,
        )
    }

    fn start(&mut self, out: &mut Vec<Event>) {
        if !self.started {
            self.started = true;
            out.push(self.delta(json!({"role": "assistant", "content": ""}), None));
        }
    }
}

impl StreamEncoder for OpenAiStreamOut {
    fn chunk(&mut self, chunk: Chunk) -> Vec<Event> {
        let mut out = Vec::new();
        if let Chunk::Start { id, model } = &chunk {
            if !id.is_empty() {
                self.id.clone_from(id);
            }
            if !model.is_empty() {
                self.model.clone_from(model);
            }
        }
        if let Chunk::Usage(u) = &chunk {
            self.usage.get_or_insert_with(Usage::default).merge(u);
            return out;
        }
        self.start(&mut out);
        let delta = match chunk {
            Chunk::Start { .. }
            | Chunk::Usage(_)
            | Chunk::ThinkingSignature(_)
            | Chunk::RedactedThinking(_) => return out,
            Chunk::Text(t) => json!({"content": t}),
            Chunk::Thinking(t) => json!({"reasoning_content": t}),
            Chunk::ToolCallStart { index, id, name } => json!({"tool_calls": [
                {"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}
            ]}),
            Chunk::ToolCallArgs { index, json } => {
                json!({"tool_calls": [{"index": index, "function": {"arguments": json}}]})
            }
            Chunk::Stop(r) => {
                if !self.stopped {
                    self.stopped = true;
                    out.push(self.delta(json!({}), Some(stop_to_openai(r))));
                }
                return out;
            }
        };
        out.push(self.delta(delta, None));
        out
    }

    fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        self.start(&mut out);
        if !self.stopped {
            self.stopped = true;
            out.push(self.delta(json!({}), Some("stop")));
        }
        if let Some(u) = self.usage {
            out.push(self.event(json!([]), Some(u.to_openai())));
        }
        out.push(Event {
            event: None,
            data: "[DONE]".into(),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::StreamTranslator;
    use crate::canonical::StopReason;
    use crate::openai::OpenAiStreamIn;

    #[test]
    fn chunks_survive_a_round_trip_through_openai_events() {
        let chunks = vec![
            Chunk::Start {
                id: "a".into(),
                model: "m".into(),
            },
            Chunk::Text("he".into()),
            Chunk::Text("llo".into()),
            Chunk::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into(),
            },
            Chunk::ToolCallArgs {
                index: 0,
                json: "{}".into(),
            },
            Chunk::Stop(StopReason::ToolCalls),
            Chunk::Usage(Usage {
                input_tokens: 1,
                output_tokens: 2,
                ..Usage::default()
            }),
        ];
        let mut enc = OpenAiStreamOut::new("x".into(), "y".into(), 0);
        let mut events: Vec<Event> = chunks.iter().cloned().flat_map(|c| enc.chunk(c)).collect();
        events.extend(enc.finish());
        assert_eq!(events.last().unwrap().data, "[DONE]");
        let mut dec = OpenAiStreamIn::default();
        let back: Vec<Chunk> = events.iter().flat_map(|e| dec.event(e).unwrap()).collect();
        assert_eq!(back, chunks);
    }
}
