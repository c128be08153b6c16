//! Token usage with OpenAI's semantics (totals include their breakdowns), and its rendering in
//! the OpenAI and Anthropic shapes. Anthropic counts cache reads and writes beside
//! `input_tokens`; OpenAI counts them inside `prompt_tokens`.

use serde_json::{json, Value};

/// Tokens of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every input token, cache reads and writes included.
    pub input_tokens: u64,
    /// Every output token, reasoning included.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache (part of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache (part of `input_tokens`).
    pub cache_creation_tokens: u64,
    /// Output tokens spent reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

/// A non-negative integer field, 0 when absent or malformed.
pub(crate) fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl Usage {
    /// Input tokens neither read from nor written to the cache.
    pub fn uncached_input(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_creation_tokens)
    }

    /// OpenAI chat usage, with the cache and reasoning details, and the cache-creation count
    /// under `cache_creation_input_tokens` as LiteLLM reports it.
    pub fn to_openai(&self) -> Value {
        let mut u = json!({
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cache_read_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        });
        if self.cache_creation_tokens > 0 || self.cache_read_tokens > 0 {
            u["cache_creation_input_tokens"] = json!(self.cache_creation_tokens);
            u["cache_read_input_tokens"] = json!(self.cache_read_tokens);
        }
        u
    }

    /// Reads OpenAI chat usage (the object itself).
    pub fn from_openai(u: &Value) -> Self {
        let cache_creation = match count(u, "cache_creation_input_tokens") {
            0 => u
                .pointer("/prompt_tokens_details/cache_creation_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            n => n,
        };
        Usage {
            input_tokens: count(u, "prompt_tokens"),
            output_tokens: count(u, "completion_tokens"),
            cache_read_tokens: u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            cache_creation_tokens: cache_creation,
            reasoning_tokens: u
                .pointer("/completion_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        }
    }

    /// Anthropic usage: `input_tokens` without the cache, the cache counts beside it.
    pub fn to_anthropic(&self) -> Value {
        json!({
            "input_tokens": self.uncached_input(),
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
        })
    }

    /// Reads Anthropic usage (the object itself).
    pub fn from_anthropic(u: &Value) -> Self {
        let read = count(u, "cache_read_input_tokens");
        let creation = count(u, "cache_creation_input_tokens");
        Usage {
            input_tokens: count(u, "input_tokens") + read + creation,
            output_tokens: count(u, "output_tokens"),
            cache_read_tokens: read,
            cache_creation_tokens: creation,
            reasoning_tokens: 0,
        }
    }

    /// Field by field, the larger of the two: running totals merged.
    pub fn merge(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.max(other.cache_read_tokens);
        self.cache_creation_tokens = self.cache_creation_tokens.max(other.cache_creation_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(other.reasoning_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_cache_counts_round_trip_through_openai() {
        let a = json!({"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 40});
        let u = Usage::from_anthropic(&a);
        assert_eq!(u.input_tokens, 150);
        assert_eq!(u.uncached_input(), 10);
        assert_eq!(Usage::from_openai(&u.to_openai()), u);
        assert_eq!(Usage::from_anthropic(&u.to_anthropic()), u);
    }
}
