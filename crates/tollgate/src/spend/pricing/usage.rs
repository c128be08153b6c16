//! Token usage of one call in OpenAI's semantics, read from the OpenAI (chat, completions,
//! embeddings, Responses) and Anthropic wire formats. Readers never fail: a missing, negative or
//! non-numeric count reads as 0.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::counts::Counts;

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
        Self::openai(&Counts::of(usage_object(value)))
    }

    /// [`Usage::from_openai`] of a usage object's counts.
    pub fn openai(c: &Counts) -> Self {
        let is_responses =
            c.prompt_tokens.is_none() && (c.input_tokens.is_some() || c.output_tokens.is_some());
        if is_responses {
            return Self {
                prompt_tokens: c.input_tokens.unwrap_or(0),
                completion_tokens: c.output_tokens.unwrap_or(0),
                cached_tokens: c.input_tokens_details.cached_tokens,
                reasoning_tokens: c.output_tokens_details.reasoning_tokens,
                ..Self::default()
            };
        }
        let mut prompt_tokens = c.prompt_tokens.unwrap_or(0);
        if prompt_tokens == 0 && c.completion_tokens == 0 {
            // Some embedding servers report only a total; all of it is input.
            prompt_tokens = c.total_tokens;
        }
        let nonzero = |a: u64, b: u64| if a > 0 { a } else { b };
        Self {
            prompt_tokens,
            completion_tokens: c.completion_tokens,
            cached_tokens: nonzero(
                c.prompt_tokens_details.cached_tokens,
                c.prompt_cache_hit_tokens,
            ),
            cache_creation_tokens: nonzero(
                c.prompt_tokens_details.cache_creation_tokens,
                c.cache_creation_input_tokens,
            ),
            reasoning_tokens: c.completion_tokens_details.reasoning_tokens,
            audio_input_tokens: c.prompt_tokens_details.audio_tokens,
            audio_output_tokens: c.completion_tokens_details.audio_tokens,
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
        Self::anthropic(&Counts::of(usage_object(value)))
    }

    /// [`Usage::from_anthropic`] of a usage object's counts.
    pub fn anthropic(c: &Counts) -> Self {
        let input = c.input_tokens.unwrap_or(0);
        let cached_tokens = c.cache_read_input_tokens;
        let mut cache_creation_tokens = c.cache_creation_input_tokens;
        if cache_creation_tokens == 0 {
            cache_creation_tokens = c
                .cache_creation
                .ephemeral_5m_input_tokens
                .saturating_add(c.cache_creation.ephemeral_1h_input_tokens);
        }
        Self {
            prompt_tokens: input
                .saturating_add(cached_tokens)
                .saturating_add(cache_creation_tokens),
            completion_tokens: c.output_tokens.unwrap_or(0),
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
