//! The fake's shared state: the knobs a test turns, the pending failures and the request log.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

/// What the fake answers with.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// This text, always.
    Fixed(String),
    /// The text of the last user message (or prompt / input), or the fixed default when there is
    /// none.
    Echo,
}

/// Every setting a test can change at run time; a handler works on a snapshot taken when the
/// request arrives.
#[derive(Clone, Debug)]
pub(crate) struct Knobs {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cache_creation_tokens: u64,
    pub reasoning_tokens: u64,
    pub latency: Duration,
    pub chunk_delay: Duration,
    pub chunks: usize,
    pub omit_usage: bool,
    pub tool_calls: bool,
    pub tool_arguments: String,
    pub stall_after: Option<usize>,
    pub reply: Reply,
    pub retry_after_secs: u64,
    pub embedding_dims: usize,
    pub models: Vec<String>,
}

/// The reply when none is set.
pub const DEFAULT_REPLY: &str = "Hello from the fake upstream";

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            prompt_tokens: 10,
            completion_tokens: 20,
            cached_tokens: 0,
            cache_creation_tokens: 0,
            reasoning_tokens: 0,
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 3,
            omit_usage: false,
            tool_calls: false,
            tool_arguments: r#"{"city":"Paris"}"#.into(),
            stall_after: None,
            reply: Reply::Fixed(DEFAULT_REPLY.into()),
            retry_after_secs: 1,
            embedding_dims: 8,
            models: vec![
                "gpt-4o".into(),
                "gpt-4o-mini".into(),
                "text-embedding-3-small".into(),
            ],
        }
    }
}

impl Knobs {
    /// The reply text for a request whose last user text is `user_text`.
    pub fn reply_text(&self, user_text: Option<String>) -> String {
        match &self.reply {
            Reply::Fixed(text) => text.clone(),
            Reply::Echo => user_text.unwrap_or_else(|| DEFAULT_REPLY.into()),
        }
    }

    /// Chat-style usage: `prompt_tokens`, `completion_tokens` and their details.
    pub fn chat_usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": { "cached_tokens": self.cached_tokens, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    /// Legacy completions usage: the three counts only.
    pub fn completion_usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens
        })
    }

    /// Responses-API usage: `input_tokens`, `output_tokens` and their details.
    pub fn responses_usage(&self) -> Value {
        json!({
            "input_tokens": self.prompt_tokens,
            "input_tokens_details": { "cached_tokens": self.cached_tokens },
            "output_tokens": self.completion_tokens,
            "output_tokens_details": { "reasoning_tokens": self.reasoning_tokens },
            "total_tokens": self.prompt_tokens + self.completion_tokens
        })
    }
}

/// One request the fake received, as it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The HTTP method, upper case (`POST`).
    pub method: String,
    /// The path as sent, with any `/v1` prefix (`/v1/chat/completions`).
    pub path: String,
    /// Request headers, names lower case; a repeated header keeps its last value.
    pub headers: HashMap<String, String>,
    /// The body parsed as JSON; `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl Recorded {
    /// A header's value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Failures still to be served: this status (and this error body, if given) for this many calls.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub status: u16,
    pub body: Option<Value>,
    pub remaining: usize,
}

/// The wire format a fake speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI's API under `/v1` (chat, completions, embeddings, Responses, models).
    OpenAi,
    /// Azure OpenAI: `/openai/deployments/{deployment}/...?api-version=`, `api-key` header.
    Azure,
    /// Anthropic's Messages API: `/v1/messages`, `x-api-key`, named SSE events.
    Anthropic,
    /// Gemini (AI Studio): `/v1beta/models/{model}:generateContent` and friends.
    Gemini,
    /// Cohere v2: `/v2/chat`, `/v2/embed`.
    Cohere,
}

impl Wire {
    /// Parses a name as the `fake-upstream --wire` flag takes it.
    pub fn parse(name: &str) -> Option<Wire> {
        Some(match name {
            "openai" => Wire::OpenAi,
            "azure" => Wire::Azure,
            "anthropic" => Wire::Anthropic,
            "gemini" => Wire::Gemini,
            "cohere" => Wire::Cohere,
            _ => return None,
        })
    }
}

/// State shared between the test's handle and the server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub wire: Wire,
    knobs: Mutex<Knobs>,
    failure: Mutex<Option<Failure>>,
    log: Mutex<Vec<Recorded>>,
    /// Closes when the fake is dropped; streams watch it so that none outlives the server.
    pub shutdown: watch::Receiver<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(wire: Wire, shutdown: watch::Receiver<()>) -> Self {
        Shared {
            wire,
            knobs: Mutex::new(Knobs::default()),
            failure: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            shutdown,
        }
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut lock(&self.knobs));
    }

    pub fn set_failure(&self, failure: Option<Failure>) {
        *lock(&self.failure) = failure;
    }

    /// The status (and body) to fail this call with, if failures are pending; counts one down.
    pub fn take_failure(&self) -> Option<(u16, Option<Value>)> {
        let mut slot = lock(&self.failure);
        let failure = slot.as_mut()?;
        let status = (failure.status, failure.body.clone());
        failure.remaining = failure.remaining.saturating_sub(1);
        if failure.remaining == 0 {
            *slot = None;
        }
        Some(status)
    }

    /// Logs a request and returns its 1-based number.
    pub fn record(&self, request: Recorded) -> usize {
        let mut log = lock(&self.log);
        log.push(request);
        log.len()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.log).clone()
    }

    pub fn with_log<R>(&self, f: impl FnOnce(&[Recorded]) -> R) -> R {
        f(&lock(&self.log))
    }

    pub fn clear_log(&self) {
        lock(&self.log).clear();
    }

    pub fn reset(&self) {
        *lock(&self.knobs) = Knobs::default();
        self.set_failure(None);
        self.clear_log();
    }
}
