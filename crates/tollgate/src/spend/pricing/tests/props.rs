//! Property tests: the usage readers accept any JSON, and cost is non-negative and monotonic.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::super::{cost, ModelPrice, Usage};
use super::table;

/// Any JSON value that is neither an array nor an object.
pub(super) fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ]
}

/// Any JSON value, biased towards the keys the usage readers look for.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("usage".to_owned()),
        Just("prompt_tokens".to_owned()),
        Just("completion_tokens".to_owned()),
        Just("total_tokens".to_owned()),
        Just("input_tokens".to_owned()),
        Just("output_tokens".to_owned()),
        Just("prompt_tokens_details".to_owned()),
        Just("cached_tokens".to_owned()),
        Just("cache_read_input_tokens".to_owned()),
        Just("cache_creation_input_tokens".to_owned()),
        Just("cache_creation".to_owned()),
        Just("response".to_owned()),
        Just("message".to_owned()),
        "[a-z_]{0,12}",
    ];
    json_leaf().prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn arbitrary_usage(max: u64) -> impl Strategy<Value = Usage> {
    (0..max, 0..max, 0..max, 0..max, 0..max, 0..max, 0..max).prop_map(
        |(p, c, cached, creation, reasoning, audio_in, audio_out)| Usage {
            prompt_tokens: p,
            completion_tokens: c,
            cached_tokens: cached,
            cache_creation_tokens: creation,
            reasoning_tokens: reasoning,
            audio_input_tokens: audio_in,
            audio_output_tokens: audio_out,
        },
    )
}

/// Extra tokens to add to a usage, consistent with itself: its breakdowns fit in its totals.
fn consistent_delta(max: u64) -> impl Strategy<Value = Usage> {
    (0..max, 0..max, 0..max, 0..max, 0..max, 0..max, 0..max).prop_map(
        |(extra_prompt, extra_completion, cached, creation, reasoning, audio_in, audio_out)| {
            Usage {
                prompt_tokens: extra_prompt + cached + creation + audio_in,
                completion_tokens: extra_completion + reasoning + audio_out,
                cached_tokens: cached,
                cache_creation_tokens: creation,
                reasoning_tokens: reasoning,
                audio_input_tokens: audio_in,
                audio_output_tokens: audio_out,
            }
        },
    )
}

fn add(a: Usage, b: Usage) -> Usage {
    Usage {
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
        cached_tokens: a.cached_tokens + b.cached_tokens,
        cache_creation_tokens: a.cache_creation_tokens + b.cache_creation_tokens,
        reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
        audio_input_tokens: a.audio_input_tokens + b.audio_input_tokens,
        audio_output_tokens: a.audio_output_tokens + b.audio_output_tokens,
    }
}

fn rate() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(0.0..1e-4f64)
}

/// A price with optional rates whose tiers never undercut the base rates, as in every real
/// entry.
fn arbitrary_price() -> impl Strategy<Value = ModelPrice> {
    let base = (rate(), rate(), rate(), rate(), rate(), rate(), rate());
    let tiers = (rate(), rate(), rate(), any::<bool>());
    (base, tiers).prop_map(|(base, tiers)| {
        let (input, output, read, creation, reasoning, audio_in, audio_out) = base;
        let (extra_input, extra_output, extra_read, embedding) = tiers;
        let above = |base: Option<f64>, extra: Option<f64>| extra.map(|e| base.unwrap_or(0.0) + e);
        ModelPrice {
            mode: embedding.then(|| "embedding".to_owned()),
            input_cost_per_token: input,
            output_cost_per_token: output,
            cache_read_input_token_cost: read,
            cache_creation_input_token_cost: creation,
            output_cost_per_reasoning_token: reasoning,
            input_cost_per_audio_token: audio_in,
            output_cost_per_audio_token: audio_out,
            input_cost_per_token_above_200k_tokens: above(input, extra_input),
            output_cost_per_token_above_200k_tokens: above(output, extra_output),
            // Untiered, cached tokens cost the cache-read rate or else the input rate.
            cache_read_input_token_cost_above_200k_tokens: above(read.or(input), extra_read),
            ..ModelPrice::default()
        }
    })
}

proptest! {
    #[test]
    fn usage_readers_never_panic(value in arbitrary_json()) {
        let openai = Usage::from_openai(&value);
        let anthropic = Usage::from_anthropic(&value);
        prop_assert!(anthropic.prompt_tokens >= anthropic.cached_tokens);
        let _ = openai.total_tokens();
    }

    #[test]
    fn cost_is_never_negative(price in arbitrary_price(), usage in arbitrary_usage(1 << 40)) {
        let priced = cost(&price, &usage);
        prop_assert!(priced.prompt >= 0.0 && priced.completion >= 0.0);
        prop_assert!(priced.total >= 0.0);
    }

    #[test]
    fn more_tokens_never_cost_less(
        price in arbitrary_price(),
        usage in arbitrary_usage(400_000),
        delta in consistent_delta(200_000),
    ) {
        let before = cost(&price, &usage);
        let after = cost(&price, &add(usage, delta));
        let slack = 1e-9 * before.total.max(1.0);
        prop_assert!(after.total + slack >= before.total, "{before:?} -> {after:?}");
    }

    #[test]
    fn real_entries_are_monotonic(
        index in any::<prop::sample::Index>(),
        usage in arbitrary_usage(400_000),
        delta in consistent_delta(200_000),
    ) {
        let keys: Vec<&str> = table().keys().collect();
        let price = table().get(keys[index.index(keys.len())]).unwrap();
        let before = cost(price, &usage);
        let after = cost(price, &add(usage, delta));
        prop_assert!(before.total >= 0.0);
        prop_assert!(after.total + 1e-9 * before.total.max(1.0) >= before.total);
    }
}
