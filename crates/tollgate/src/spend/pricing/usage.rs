//! Token usage of one call in OpenAI's semantics, read from the OpenAI (chat, completions,
//! embeddings, Responses) and Anthropic wire formats. Readers never fail: a missing, negative or
//! non-numeric count reads as 0.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Tokens of one call, with OpenAI's semantics: the breakdowns are subsets of the two totals.
///
/// * `prompt_tokens` counts every input token, cached or not;
///   `cached_tokens`, `cache_creation_tokens` and `audio_input_tokens` are parts of it.
/// * `completion_tokens` counts every output token;
///   `reasoning_tokens` and `audio_output_tokens` are parts of it.
///
/// Anthropic reports cache reads and writes beside `input_tokens` instead of inside it;
/// [`Usage::from_anthropic`] adds them up so that every `Usage` means the same thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// All input tokens, including the cached, cache-creation and audio ones.
    pub prompt_tokens: u64,
    /// All output tokens, including the reasoning and audio ones.
    pub completion_tokens: u64,
    /// Input tokens read from the provider's prompt cache (part of `prompt_tokens`).
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of `prompt_tokens`).
    pub cache_creation_tokens: u64,
    /// Output tokens spent on hidden reasoning (part of `completion_tokens`).
    pub reasoning_tokens: u64,
    /// Input tokens that are audio (part of `prompt_tokens`).
    pub audio_input_tokens: u64,
    /// Output tokens that are audio (part of `completion_tokens`).
    pub audio_output_tokens: u64,
}

impl Usage {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// Reads an OpenAI-format usage. `value` may be the usage object itself, a response that
    /// holds it under `usage`, or a Responses API stream event that holds it under
    /// `response.usage`. Understood shapes:
    ///
    /// * chat and legacy completions: `prompt_tokens`, `completion_tokens`,
    ///   `prompt_tokens_details.{cached_tokens,audio_tokens}`,
    ///   `completion_tokens_details.{reasoning_tokens,audio_tokens}`; cache writes reported by
    ///   OpenAI-compatible servers as `prompt_tokens_details.cache_creation_tokens` or
    ///   `cache_creation_input_tokens`, and DeepSeek's `prompt_cache_hit_tokens`;
    /// * embeddings: `prompt_tokens` and `total_tokens` only;
    /// * Responses API: `input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`,
    ///   `output_tokens_details.reasoning_tokens` (`input_tokens` includes the cached ones).
    pub fn from_openai(value: &Value) -> Self {
        let usage = usage_object(value);
        let is_responses = usage.get("prompt_tokens").is_none()
            && (usage.get("input_tokens").is_some() || usage.get("output_tokens").is_some());
        if is_responses {
            return Self::from_responses(usage);
        }
        let mut prompt_tokens = count(usage, &["prompt_tokens"]);
        let completion_tokens = count(usage, &["completion_tokens"]);
        if prompt_tokens == 0 && completion_tokens == 0 {
            // Some embedding servers report only a total; all of it is input.
            prompt_tokens = count(usage, &["total_tokens"]);
        }
        Self {
            prompt_tokens,
            completion_tokens,
            cached_tokens: first_nonzero(
                usage,
                &[
                    &["prompt_tokens_details", "cached_tokens"],
                    &["prompt_cache_hit_tokens"],
                ],
            ),
            cache_creation_tokens: first_nonzero(
                usage,
                &[
                    &["prompt_tokens_details", "cache_creation_tokens"],
                    &["cache_creation_input_tokens"],
                ],
            ),
            reasoning_tokens: count(usage, &["completion_tokens_details", "reasoning_tokens"]),
            audio_input_tokens: count(usage, &["prompt_tokens_details", "audio_tokens"]),
            audio_output_tokens: count(usage, &["completion_tokens_details", "audio_tokens"]),
        }
    }

    fn from_responses(usage: &Value) -> Self {
        Self {
            prompt_tokens: count(usage, &["input_tokens"]),
            completion_tokens: count(usage, &["output_tokens"]),
            cached_tokens: count(usage, &["input_tokens_details", "cached_tokens"]),
            reasoning_tokens: count(usage, &["output_tokens_details", "reasoning_tokens"]),
            ..Self::default()
        }
    }

    /// Reads an Anthropic Messages usage. `value` may be the usage object, a message that holds
    /// it under `usage`, or a `message_start` stream event (`message.usage`).
    ///
    /// Anthropic's `input_tokens` excludes cache reads and writes, so
    /// `prompt_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens`.
    /// When `cache_creation_input_tokens` is absent, the `cache_creation` breakdown
    /// (`ephemeral_5m_input_tokens` + `ephemeral_1h_input_tokens`) is used instead.
    pub fn from_anthropic(value: &Value) -> Self {
        let usage = usage_object(value);
        let input = count(usage, &["input_tokens"]);
        let cached_tokens = count(usage, &["cache_read_input_tokens"]);
        let mut cache_creation_tokens = count(usage, &["cache_creation_input_tokens"]);
        if cache_creation_tokens == 0 {
            cache_creation_tokens =
                count(usage, &["cache_creation", "ephemeral_5m_input_tokens"]).saturating_add(
                    count(usage, &["cache_creation", "ephemeral_1h_input_tokens"]),
                );
        }
        Self {
            prompt_tokens: input
                .saturating_add(cached_tokens)
                .saturating_add(cache_creation_tokens),
            completion_tokens: count(usage, &["output_tokens"]),
            cached_tokens,
            cache_creation_tokens,
            ..Self::default()
        }
    }
}

/// The usage object inside `value`, or `value` itself when it holds none.
fn usage_object(value: &Value) -> &Value {
    let candidates = [
        value.get("usage"),
        value.get("response").and_then(|r| r.get("usage")),
        value.get("message").and_then(|m| m.get("usage")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|u| u.is_object())
        .unwrap_or(value)
}

/// The token count at `path`: a non-negative integer, or a non-negative finite number rounded
/// down (saturating at `u64::MAX`); anything else is 0.
fn count(value: &Value, path: &[&str]) -> u64 {
    let mut node = value;
    for key in path {
        match node.get(key) {
            Some(next) => node = next,
            None => return 0,
        }
    }
    match node {
        Value::Number(n) => n.as_u64().unwrap_or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f > 0.0)
                // `as` saturates for floats beyond u64's range.
                .map_or(0, |f| f as u64)
        }),
        _ => 0,
    }
}

fn first_nonzero(value: &Value, paths: &[&[&str]]) -> u64 {
    paths
        .iter()
        .map(|path| count(value, path))
        .find(|n| *n > 0)
        .unwrap_or(0)
}
