//! Local token counts, for upstreams that return no usage (LiteLLM estimates with tiktoken too).
//!
//! Encoding: `o200k_base` for the GPT-4o, GPT-4.1, GPT-4.5, GPT-5, gpt-oss and o-series
//! families, `cl100k_base` for every other model (a fair estimate for non-OpenAI tokenizers).
//! Each encoder is built once, on first use, and shared. If one cannot be built the count falls
//! back to one token per four characters; counting never fails.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// Framing tokens around every chat message (`<|start|>role ... <|end|>`), per OpenAI's cookbook.
const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra token for a message that carries a `name`, per OpenAI's cookbook.
const TOKENS_PER_NAME: u64 = 1;
/// Tokens that prime the assistant's reply (`<|start|>assistant<|message|>`).
const REPLY_PRIMING: u64 = 3;

static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();

/// Tokens in `text` for `model` (a bare or `provider/`-prefixed name).
pub fn count_tokens(model: &str, text: &str) -> u64 {
    Counter::for_model(model).count(text)
}

/// Prompt tokens of an OpenAI `messages` array for `model`, by OpenAI's cookbook rule: 3 tokens
/// per message, plus the tokens of its `role`, its `content` text (a string, or the `text` of each
/// content part; images and audio are not counted) and its `name` (+1 when a name is present),
/// plus the `name` and `arguments` of each of its `tool_calls`; then 3 tokens for the reply
/// priming. Anything that is not an array counts as 0.
pub fn count_message_tokens(model: &str, messages: &Value) -> u64 {
    let Some(list) = messages.as_array() else {
        return 0;
    };
    let counter = Counter::for_model(model);
    list.iter()
        .map(|message| counter.message(message))
        .fold(REPLY_PRIMING, u64::saturating_add)
}

/// Counts tokens with one encoder, or estimates when it is unavailable.
struct Counter(Option<&'static CoreBPE>);

impl Counter {
    fn for_model(model: &str) -> Self {
        let encoder = if uses_o200k(model) {
            O200K.get_or_init(|| tiktoken_rs::o200k_base().ok())
        } else {
            CL100K.get_or_init(|| tiktoken_rs::cl100k_base().ok())
        };
        Self(encoder.as_ref())
    }

    fn count(&self, text: &str) -> u64 {
        match self.0 {
            Some(bpe) => u64::try_from(bpe.encode_ordinary(text).len()).unwrap_or(u64::MAX),
            None => estimate(text),
        }
    }

    fn message(&self, message: &Value) -> u64 {
        let mut total = TOKENS_PER_MESSAGE;
        if let Some(role) = message.get("role").and_then(Value::as_str) {
            total = total.saturating_add(self.count(role));
        }
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            total = total
                .saturating_add(self.count(name))
                .saturating_add(TOKENS_PER_NAME);
        }
        total = total.saturating_add(self.content(message.get("content")));
        let calls = message.get("tool_calls").and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            let function = call.get("function");
            for field in ["name", "arguments"] {
                if let Some(text) = function.and_then(|f| f.get(field)).and_then(Value::as_str) {
                    total = total.saturating_add(self.count(text));
                }
            }
        }
        total
    }

    fn content(&self, content: Option<&Value>) -> u64 {
        match content {
            Some(Value::String(text)) => self.count(text),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .map(|text| self.count(text))
                .fold(0, u64::saturating_add),
            _ => 0,
        }
    }
}

/// Whether `model` belongs to a family tokenized with `o200k_base`.
pub(super) fn uses_o200k(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    let name = name
        .strip_prefix("ft:")
        .unwrap_or(name)
        .to_ascii_lowercase();
    [
        "gpt-4o",
        "chatgpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "gpt-oss",
        "o1",
        "o3",
        "o4",
    ]
    .iter()
    .any(|family| name.starts_with(family))
}

/// One token per four characters, rounded up: the fallback when no encoder can be built.
pub(super) fn estimate(text: &str) -> u64 {
    u64::try_from(text.chars().count().div_ceil(4)).unwrap_or(u64::MAX)
}
