//! What a relay learns from a stream's events on their way to the client: the usage the
//! upstream reports, the text produced (for counting tokens locally when no usage comes), and
//! whether each event goes on (the usage chunk the gateway asked for reaches only clients that
//! asked for it too).
//!
//! Only events that give a `"usage"` are parsed as they pass (not those whose usage is `null`,
//! as every chunk of an OpenAI stream that asked for usage has it). The text matters only if the
//! stream ends without usage (the gateway asks every OpenAI-format upstream for it), so the
//! other events' data is kept as it came, and read for its text only then (or when it has grown
//! past [`UNREAD_LIMIT`], to bound what a stream holds); it is dropped as soon as usage is known.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::Utc;
use memchr::memmem;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::call::{CallKind, Outcome};
use crate::spend::pricing::{Counts, Usage, UsageObject};

/// Data kept unread by a stream before it is read for its text.
const UNREAD_LIMIT: usize = 64 * 1024;

/// The inspection state of one stream.
#[derive(Debug)]
pub struct StreamWatch {
    kind: CallKind,
    client_wants_usage: bool,
    outcome: Outcome,
    /// The data of events not read yet, one after the other, and where each ends.
    unread: String,
    ends: Vec<usize>,
}

#[derive(Deserialize)]
struct ChatChunk<'a> {
    #[serde(borrow, default)]
    choices: Option<Vec<ChatChoice<'a>>>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ChatChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// Whether an event's data may carry usage: it has a `"usage"` that is not followed by `: null`.
/// Escaped quotes inside strings never match, so a false "yes" costs only a parse.
fn gives_usage(data: &str) -> bool {
    static USAGE: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"usage\""));
    let bytes = data.as_bytes();
    USAGE.find_iter(bytes).any(|at| {
        let rest = bytes[at + USAGE.needle().len()..].trim_ascii_start();
        rest.strip_prefix(b":")
            .is_none_or(|value| !value.trim_ascii_start().starts_with(b"null"))
    })
}

/// The counts of a usage object (none when it is not an object), read without a tree.
fn usage_in(raw: Option<&RawValue>) -> Option<Counts> {
    raw.and_then(|r| serde_json::from_str::<UsageObject>(r.get()).ok())
        .and_then(|u| u.0)
}

impl StreamWatch {
    pub fn new(kind: CallKind, client_wants_usage: bool) -> Self {
        Self {
            kind,
            client_wants_usage,
            outcome: Outcome {
                success: true,
                ..Outcome::default()
            },
            unread: String::new(),
            ends: Vec::new(),
        }
    }

    /// Reads one event's data; says whether to pass the event on.
    pub fn event(&mut self, data: &str) -> bool {
        if self.outcome.first_byte.is_none() {
            self.outcome.first_byte = Some(Utc::now());
        }
        if data == "[DONE]" {
            return true;
        }
        if gives_usage(data) {
            return self.read(data);
        }
        if self.outcome.usage.is_none() {
            self.unread.push_str(data);
            self.ends.push(self.unread.len());
            if self.unread.len() > UNREAD_LIMIT {
                self.read_unread();
            }
        }
        true
    }

    /// Reads the events kept unread, for their text.
    fn read_unread(&mut self) {
        let unread = std::mem::take(&mut self.unread);
        let mut start = 0;
        for end in std::mem::take(&mut self.ends) {
            self.read(&unread[start..end]);
            start = end;
        }
    }

    /// How the stream went, once it is over.
    pub fn into_outcome(mut self) -> Outcome {
        if self.outcome.usage.is_none() {
            self.read_unread();
        }
        self.outcome
    }

    /// Reads one event in full; says whether to pass it on.
    fn read(&mut self, data: &str) -> bool {
        let forward = match self.kind {
            CallKind::Messages => {
                if let Ok(v) = serde_json::from_str::<Value>(data) {
                    self.anthropic(&v);
                }
                true
            }
            CallKind::Responses => {
                if let Ok(v) = serde_json::from_str::<Value>(data) {
                    self.responses(&v);
                }
                true
            }
            _ => self.chat(data),
        };
        if self.outcome.usage.is_some() {
            // The text will not be needed.
            self.unread.clear();
            self.ends.clear();
        }
        forward
    }

    /// A chat or completion chunk: its text, and its usage.
    fn chat(&mut self, data: &str) -> bool {
        let Ok(chunk) = serde_json::from_str::<ChatChunk<'_>>(data) else {
            // Not the usual shape: read it as any JSON, or pass it on as it is.
            return match serde_json::from_str::<Value>(data) {
                Ok(v) => self.chat_value(&v),
                Err(_) => true,
            };
        };
        for c in chunk.choices.iter().flatten() {
            let text = c.delta.as_ref().and_then(|d| d.content.as_deref());
            if let Some(t) = text.or(c.text.as_deref()) {
                self.outcome.completion_text.push_str(t);
            }
        }
        let Some(usage) = usage_in(chunk.usage) else {
            return true;
        };
        self.outcome.usage = Some(Usage::openai(&usage));
        let usage_only = chunk.choices.is_some_and(|c| c.is_empty());
        self.client_wants_usage || !usage_only
    }

    /// A chat chunk of an unusual shape, read as a tree.
    fn chat_value(&mut self, v: &Value) -> bool {
        let choices = v.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            let text = choice
                .pointer("/delta/content")
                .or_else(|| choice.get("text"))
                .and_then(Value::as_str);
            if let Some(t) = text {
                self.outcome.completion_text.push_str(t);
            }
        }
        if !v.get("usage").is_some_and(Value::is_object) {
            return true;
        }
        self.outcome.usage = Some(Usage::from_openai(v));
        self.client_wants_usage || !choices.is_some_and(Vec::is_empty)
    }

    /// A Responses API event: text deltas, and the usage of `response.completed`.
    fn responses(&mut self, v: &Value) {
        if let Some(delta) = v.get("delta").and_then(Value::as_str) {
            self.outcome.completion_text.push_str(delta);
        }
        if v.get("type").and_then(Value::as_str) == Some("response.completed") {
            if let Some(r) = v
                .get("response")
                .filter(|r| r.get("usage").is_some_and(Value::is_object))
            {
                self.outcome.usage = Some(Usage::from_openai(r));
            }
        }
    }

    /// An Anthropic event: `message_start` carries the input side, `message_delta` the running
    /// output count (and, from newer APIs, the input side again).
    fn anthropic(&mut self, v: &Value) {
        let outcome = &mut self.outcome;
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => outcome.usage = Some(Usage::from_anthropic(v)),
            Some("message_delta") if v.get("usage").is_some_and(Value::is_object) => {
                let delta = Usage::from_anthropic(v);
                let mut u = outcome.usage.unwrap_or_default();
                if delta.prompt_tokens > 0 {
                    u.prompt_tokens = delta.prompt_tokens;
                    u.cached_tokens = delta.cached_tokens;
                    u.cache_creation_tokens = delta.cache_creation_tokens;
                }
                u.completion_tokens = u.completion_tokens.max(delta.completion_tokens);
                outcome.usage = Some(u);
            }
            Some("content_block_delta") => {
                if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                    outcome.completion_text.push_str(t);
                }
            }
            _ => {}
        }
    }

    /// The stream broke: the call counts as a success if anything was produced.
    pub fn failed(&mut self, status: u16, message: String) {
        self.read_unread();
        self.outcome.success =
            self.outcome.usage.is_some() || !self.outcome.completion_text.is_empty();
        self.outcome.error = Some((status, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_usage_chunk_goes_only_to_clients_that_asked() {
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
            .to_string();
        let mut w = StreamWatch::new(CallKind::Chat, false);
        assert!(!w.event(&usage));
        assert_eq!(w.into_outcome().usage.map(|u| u.completion_tokens), Some(4));
        assert!(StreamWatch::new(CallKind::Chat, true).event(&usage));
        // A usage that is not an object is no usage; a chunk with text and usage goes on, as
        // does one without choices, and one of an odd shape still yields its usage.
        let mut w = StreamWatch::new(CallKind::Chat, false);
        assert!(w.event(r#"{"choices":[],"usage":null}"#));
        assert!(w.outcome.usage.is_none());
        assert!(w.event(r#"{"choices":[{"delta":{"content":"counted"}}]}"#));
        assert!(w.event(r#"{"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}}"#));
        assert!(w.event(r#"{"usage":{"prompt_tokens":1}}"#));
        assert!(!w.event(r#"{"choices":[],"usage":{"prompt_tokens":6},"x":[{"delta":1}]}"#));
        assert!(w.event(r#"{"choices":"odd","usage":{"prompt_tokens":8}}"#));
        let o = w.into_outcome();
        assert_eq!(o.usage.map(|u| u.prompt_tokens), Some(8));
        assert!(
            !o.completion_text.contains("counted"),
            "usage came: kept text is dropped"
        );
    }

    #[test]
    fn only_a_usage_that_is_not_null_is_read_as_it_passes() {
        for (data, gives) in [
            (r#"{"choices":[],"usage":null}"#, false),
            (r#"{"usage" :  null , "id": "x"}"#, false),
            (
                r#"{"choices":[{"delta":{"content":"say \"usage\": 1"}}]}"#,
                false,
            ),
            (r#"{"choices":[]}"#, false),
            (r#"{"usage":{"prompt_tokens":1}}"#, true),
            (r#"{"usage":null,"x":{"usage":{"prompt_tokens":1}}}"#, true),
            (r#"{"type":"usage"}"#, true),
            (r#"{"usage":0}"#, true),
        ] {
            assert_eq!(gives_usage(data), gives, "{data}");
        }
        // Chunks with a null usage (OpenAI's, when usage was asked for) keep their text for
        // local counting, and the usage chunk at the end is still read.
        let chunk = |text: &str| {
            json!({"choices": [{"delta": {"content": text}}], "usage": null}).to_string()
        };
        let mut w = StreamWatch::new(CallKind::Chat, false);
        assert!(w.event(&chunk("Hel")) && w.event(&chunk("lo")));
        assert_eq!(w.into_outcome().completion_text, "Hello");
        let mut w = StreamWatch::new(CallKind::Chat, false);
        assert!(w.event(&chunk("Hel")) && w.event(&chunk("lo")));
        assert!(!w.event(r#"{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5}}"#));
        let o = w.into_outcome();
        assert_eq!(o.usage.map(|u| u.completion_tokens), Some(5));
        assert!(
            o.completion_text.is_empty(),
            "usage came: the text is not read"
        );
    }

    #[test]
    fn text_is_collected_for_local_counting() {
        let mut w = StreamWatch::new(CallKind::Chat, false);
        for data in [
            r#"{"choices": [{"delta": {"content": "Hel"}}]}"#,
            r#"{"choices": [{"delta": {"content": "lo \u00e9"}, "index": 0}]}"#,
            r#"{"choices": [{"text": "!"}]}"#,
            "not json",
            "[DONE]",
        ] {
            assert!(w.event(data));
        }
        let o = w.into_outcome();
        assert_eq!(o.completion_text, "Hello é!");
        assert!(o.usage.is_none());
        assert!(o.first_byte.is_some());
        // A long stream without usage is read as it goes, and keeps only its text.
        let mut w = StreamWatch::new(CallKind::Chat, false);
        let chunk = r#"{"choices": [{"delta": {"content": "x"}}], "padding": "....................................................................................................."}"#;
        for _ in 0..2_000 {
            w.event(chunk);
            assert!(w.unread.len() <= UNREAD_LIMIT + chunk.len());
        }
        assert_eq!(w.into_outcome().completion_text.len(), 2_000);
    }

    #[test]
    fn anthropic_and_responses_usage() {
        let mut w = StreamWatch::new(CallKind::Messages, false);
        w.event(&json!({"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}).to_string());
        w.event(
            &json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}})
                .to_string(),
        );
        w.event(&json!({"type": "message_delta", "usage": {"output_tokens": 9}}).to_string());
        let o = w.into_outcome();
        let u = o.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (5, 9));
        assert_eq!(
            o.completion_text, "",
            "the text is not read once usage is known"
        );
        let mut w = StreamWatch::new(CallKind::Responses, false);
        w.event(&json!({"type": "response.output_text.delta", "delta": "ok"}).to_string());
        w.event(&json!({"type": "response.completed", "response": {"usage": {"input_tokens": 2, "output_tokens": 3}}}).to_string());
        let o = w.into_outcome();
        assert_eq!(o.usage.map(|u| u.total_tokens()), Some(5));
        assert_eq!(o.completion_text, "");
    }
}
