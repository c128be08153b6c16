//! The cost formula: a [`ModelPrice`] applied to a [`Usage`], following LiteLLM's
//! `generic_cost_per_token` (cached, cache-creation, reasoning and audio rates; threshold tiers;
//! input-only embeddings), with two deliberate differences:
//!
//! * a missing cache-read or cache-creation rate falls back to the input rate (LiteLLM bills those
//!   tokens at 0, which under-charges models whose entry lacks the rate);
//! * a missing input audio rate falls back to the input rate (LiteLLM bills 0), like output audio
//!   already falls back to the output rate.
//!
//! A rate that is negative or not finite is treated as absent, so a cost is never negative.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::table::ModelPrice;
use super::usage::Usage;

/// Cost of one call in USD. `total` is `prompt + completion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub total: f64,
    pub prompt: f64,
    pub completion: f64,
}

impl Cost {
    fn new(prompt: f64, completion: f64) -> Self {
        Self {
            total: prompt + completion,
            prompt,
            completion,
        }
    }
}

/// Prices `usage` with the token rates of `price`:
///
/// * prompt: uncached tokens × input rate + cached × cache-read rate + cache-creation ×
///   cache-creation rate + audio × input audio rate (each missing rate falls back to the input
///   rate);
/// * completion: (completion − reasoning − audio) × output rate + reasoning × reasoning rate +
///   audio × output audio rate (missing rates fall back to the output rate); 0 for embeddings.
///
/// Threshold tiers: when `prompt_tokens` exceeds 272k, 200k or 128k (the highest that applies)
/// and the entry has `input_cost_per_token_above_<n>k_tokens`, that tier prices the whole request:
/// its input rate, and its output, cache-read and cache-creation rates where the entry has them
/// (the untiered rate otherwise). The tiered input rate is also the fallback for cache rates.
///
/// Per-second rates need the call's duration: see [`cost_with_duration`].
pub fn cost(price: &ModelPrice, usage: &Usage) -> Cost {
    let rates = Rates::select(price, usage.prompt_tokens);
    let prompt = prompt_cost(&rates, usage);
    let completion = if price.is_embedding() {
        0.0
    } else {
        completion_cost(&rates, usage)
    };
    Cost::new(prompt, completion)
}

/// [`cost`] plus the entry's per-second rates times `elapsed`: `input_cost_per_second` is added
/// to the prompt cost and `output_cost_per_second` to the completion cost, as LiteLLM does for
/// models priced by time (and for deployments whose price is overridden per second).
pub fn cost_with_duration(price: &ModelPrice, usage: &Usage, elapsed: Duration) -> Cost {
    let tokens = cost(price, usage);
    let seconds = elapsed.as_secs_f64();
    let prompt = tokens.prompt + rate(price.input_cost_per_second).unwrap_or(0.0) * seconds;
    let completion =
        tokens.completion + rate(price.output_cost_per_second).unwrap_or(0.0) * seconds;
    Cost::new(prompt, completion)
}

/// The rates that apply to one request, tier already chosen.
struct Rates {
    input: f64,
    output: f64,
    cache_read: f64,
    cache_creation: f64,
    reasoning: f64,
    audio_input: f64,
    audio_output: f64,
}

/// One threshold tier of an entry: (threshold, input, output, cache read, cache creation).
type Tier = (u64, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

impl Rates {
    fn select(price: &ModelPrice, prompt_tokens: u64) -> Self {
        let mut input = rate(price.input_cost_per_token).unwrap_or(0.0);
        let mut output = rate(price.output_cost_per_token).unwrap_or(0.0);
        let mut cache_read = rate(price.cache_read_input_token_cost);
        let mut cache_creation = rate(price.cache_creation_input_token_cost);
        let tier = tiers(price)
            .into_iter()
            .find(|(threshold, tier_input, ..)| prompt_tokens > *threshold && tier_input.is_some());
        if let Some((_, Some(tier_input), tier_output, tier_read, tier_creation)) = tier {
            input = tier_input;
            output = tier_output.unwrap_or(output);
            cache_read = tier_read.or(cache_read);
            cache_creation = tier_creation.or(cache_creation);
        }
        Self {
            input,
            output,
            cache_read: cache_read.unwrap_or(input),
            cache_creation: cache_creation.unwrap_or(input),
            reasoning: rate(price.output_cost_per_reasoning_token).unwrap_or(output),
            audio_input: rate(price.input_cost_per_audio_token).unwrap_or(input),
            audio_output: rate(price.output_cost_per_audio_token).unwrap_or(output),
        }
    }
}

/// The entry's tiers, highest threshold first, with invalid rates already dropped.
fn tiers(price: &ModelPrice) -> [Tier; 3] {
    [
        (
            272_000,
            rate(price.input_cost_per_token_above_272k_tokens),
            rate(price.output_cost_per_token_above_272k_tokens),
            rate(price.cache_read_input_token_cost_above_272k_tokens),
            rate(price.cache_creation_input_token_cost_above_272k_tokens),
        ),
        (
            200_000,
            rate(price.input_cost_per_token_above_200k_tokens),
            rate(price.output_cost_per_token_above_200k_tokens),
            rate(price.cache_read_input_token_cost_above_200k_tokens),
            rate(price.cache_creation_input_token_cost_above_200k_tokens),
        ),
        (
            128_000,
            rate(price.input_cost_per_token_above_128k_tokens),
            rate(price.output_cost_per_token_above_128k_tokens),
            None,
            None,
        ),
    ]
}

fn prompt_cost(rates: &Rates, usage: &Usage) -> f64 {
    let special = usage
        .cached_tokens
        .saturating_add(usage.cache_creation_tokens)
        .saturating_add(usage.audio_input_tokens);
    let uncached = usage.prompt_tokens.saturating_sub(special);
    tokens(uncached) * rates.input
        + tokens(usage.cached_tokens) * rates.cache_read
        + tokens(usage.cache_creation_tokens) * rates.cache_creation
        + tokens(usage.audio_input_tokens) * rates.audio_input
}

fn completion_cost(rates: &Rates, usage: &Usage) -> f64 {
    let special = usage
        .reasoning_tokens
        .saturating_add(usage.audio_output_tokens);
    let text = usage.completion_tokens.saturating_sub(special);
    tokens(text) * rates.output
        + tokens(usage.reasoning_tokens) * rates.reasoning
        + tokens(usage.audio_output_tokens) * rates.audio_output
}

/// A usable rate: present, finite and not negative.
fn rate(value: Option<f64>) -> Option<f64> {
    value.filter(|r| r.is_finite() && *r >= 0.0)
}

fn tokens(n: u64) -> f64 {
    // Token counts stay far below 2^53, where this conversion is exact.
    n as f64
}
