//! The cost formula against real entries of the price map, and per-deployment overrides.

use std::time::Duration;

use serde_json::json;

use super::super::{cost, cost_with_duration, price_for, ModelPrice, Overrides, Usage};
use super::{assert_close, table};

fn entry(key: &str) -> &'static ModelPrice {
    table()
        .get(key)
        .unwrap_or_else(|| panic!("{key} is in the table"))
}

fn chat(prompt_tokens: u64, completion_tokens: u64) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens,
        ..Usage::default()
    }
}

#[test]
fn reference_examples_are_reproduced() {
    let gpt4o = cost(entry("gpt-4o"), &chat(10, 5));
    assert_close(gpt4o.total, 7.5e-5);
    assert_close(gpt4o.prompt, 2.5e-5);
    assert_close(gpt4o.completion, 5e-5);
    let embedding = cost(entry("text-embedding-3-small"), &chat(4, 0));
    assert_close(embedding.total, 8e-8);
}

#[test]
fn embeddings_are_priced_on_input_only() {
    let mut price = entry("text-embedding-3-large").clone();
    price.output_cost_per_token = Some(1.0);
    let priced = cost(&price, &chat(100, 50));
    assert_close(priced.total, 100.0 * 1.3e-7);
    assert_eq!(priced.completion, 0.0);
}

#[test]
fn cached_prompt_tokens_use_the_cache_read_rate() {
    let usage = Usage {
        cached_tokens: 600,
        ..chat(1000, 10)
    };
    let priced = cost(entry("gpt-4o"), &usage);
    assert_close(priced.prompt, 400.0 * 2.5e-6 + 600.0 * 1.25e-6);
    assert_close(priced.completion, 10.0 * 1e-5);
}

#[test]
fn cache_reads_and_writes_on_claude() {
    let usage = Usage::from_anthropic(&json!({
        "input_tokens": 100,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 500,
        "output_tokens": 40
    }));
    let priced = cost(entry("claude-sonnet-4-5"), &usage);
    assert_close(
        priced.prompt,
        100.0 * 3e-6 + 2000.0 * 3e-7 + 500.0 * 3.75e-6,
    );
    assert_close(priced.completion, 40.0 * 1.5e-5);
    assert_close(priced.total, priced.prompt + priced.completion);
}

#[test]
fn missing_cache_rates_fall_back_to_the_input_rate() {
    // The Vertex Claude entry lists no cache rates.
    let usage = Usage {
        cached_tokens: 30,
        cache_creation_tokens: 20,
        ..chat(100, 0)
    };
    let priced = cost(entry("vertex_ai/claude-3-5-sonnet"), &usage);
    assert_close(priced.prompt, 100.0 * 3e-6);
}

#[test]
fn reasoning_tokens_use_their_own_rate_or_the_output_rate() {
    let usage = Usage {
        reasoning_tokens: 300,
        ..chat(10, 500)
    };
    // o3-mini has no reasoning rate: reasoning is billed as output.
    let o3 = cost(entry("o3-mini"), &usage);
    assert_close(o3.completion, 500.0 * 4.4e-6);
    // qwen-turbo bills reasoning at 5e-7 and visible output at 2e-7.
    let qwen = cost(entry("dashscope/qwen-turbo"), &usage);
    assert_close(qwen.completion, 200.0 * 2e-7 + 300.0 * 5e-7);
    assert_close(qwen.prompt, 10.0 * 5e-8);
}

#[test]
fn audio_tokens_use_the_audio_rates() {
    let usage = Usage {
        audio_input_tokens: 50,
        audio_output_tokens: 20,
        ..chat(80, 30)
    };
    let priced = cost(entry("gpt-4o-audio-preview-2024-12-17"), &usage);
    assert_close(priced.prompt, 30.0 * 2.5e-6 + 50.0 * 4e-5);
    assert_close(priced.completion, 10.0 * 1e-5 + 20.0 * 8e-5);
}

#[test]
fn the_200k_tier_prices_the_whole_request() {
    let pro = entry("gemini-2.5-pro");
    let at = Usage {
        cached_tokens: 50_000,
        ..chat(200_000, 1000)
    };
    let below = cost(pro, &at);
    assert_close(below.prompt, 150_000.0 * 1.25e-6 + 50_000.0 * 1.25e-7);
    assert_close(below.completion, 1000.0 * 1e-5);
    let above = cost(
        pro,
        &Usage {
            prompt_tokens: 200_001,
            ..at
        },
    );
    assert_close(above.prompt, 150_001.0 * 2.5e-6 + 50_000.0 * 2.5e-7);
    assert_close(above.completion, 1000.0 * 1.5e-5);
}

#[test]
fn the_272k_and_128k_tiers() {
    let gpt = entry("azure_ai/gpt-5.4");
    let above = cost(gpt, &chat(300_000, 100));
    assert_close(above.prompt, 300_000.0 * 5e-6);
    assert_close(above.completion, 100.0 * 2.25e-5);
    let below = cost(gpt, &chat(272_000, 100));
    assert_close(below.prompt, 272_000.0 * 2.5e-6);
    let price = ModelPrice {
        input_cost_per_token: Some(1e-6),
        output_cost_per_token: Some(2e-6),
        input_cost_per_token_above_128k_tokens: Some(3e-6),
        ..ModelPrice::default()
    };
    let tiered = cost(&price, &chat(128_001, 10));
    assert_close(tiered.prompt, 128_001.0 * 3e-6);
    // No tiered output rate: the base one stays.
    assert_close(tiered.completion, 10.0 * 2e-6);
}

#[test]
fn per_second_rates_need_the_duration() {
    let price = ModelPrice {
        input_cost_per_second: Some(0.001),
        output_cost_per_second: Some(0.002),
        ..ModelPrice::default()
    };
    assert_eq!(cost(&price, &chat(10, 10)).total, 0.0);
    let timed = cost_with_duration(&price, &chat(10, 10), Duration::from_millis(1500));
    assert_close(timed.prompt, 0.0015);
    assert_close(timed.completion, 0.003);
    assert_close(timed.total, 0.0045);
}

#[test]
fn invalid_rates_count_as_absent() {
    let price = ModelPrice {
        input_cost_per_token: Some(-1.0),
        output_cost_per_token: Some(f64::NAN),
        cache_read_input_token_cost: Some(f64::INFINITY),
        ..ModelPrice::default()
    };
    let usage = Usage {
        cached_tokens: 5,
        ..chat(10, 10)
    };
    assert_eq!(cost(&price, &usage), super::super::Cost::default());
}

#[test]
fn a_missing_price_is_left_to_the_caller() {
    assert!(table()
        .lookup("my-llama-finetune", Some("openai"))
        .is_none());
    let none = price_for(
        table(),
        "my-llama-finetune",
        Some("openai"),
        &Overrides::default(),
    );
    assert!(none.is_none());
    // Priced with nothing, a call costs nothing.
    assert_eq!(cost(&ModelPrice::default(), &chat(100, 100)).total, 0.0);
}

#[test]
fn overrides_win_over_the_table() {
    let overrides = Overrides {
        input_cost_per_token: Some(1e-6),
        cache_read_input_token_cost: Some(1e-7),
        ..Overrides::default()
    };
    let price = price_for(table(), "gpt-4o", Some("openai"), &overrides).unwrap();
    assert_eq!(price.output_cost_per_token, Some(1e-5));
    let usage = Usage {
        cached_tokens: 10,
        ..chat(110, 5)
    };
    assert_close(
        cost(&price, &usage).total,
        100.0 * 1e-6 + 10.0 * 1e-7 + 5.0 * 1e-5,
    );
}

#[test]
fn token_overrides_drop_the_public_tiers() {
    let overrides = Overrides {
        input_cost_per_token: Some(1e-6),
        output_cost_per_token: Some(2e-6),
        ..Overrides::default()
    };
    let price = price_for(table(), "gemini-2.5-pro", Some("vertex_ai"), &overrides).unwrap();
    assert_close(
        cost(&price, &chat(300_000, 10)).total,
        300_000.0 * 1e-6 + 20e-6,
    );
}

#[test]
fn base_model_picks_the_table_entry() {
    let overrides = Overrides {
        base_model: Some("azure/gpt-4o".to_owned()),
        ..Overrides::default()
    };
    let price = price_for(table(), "my-deployment", Some("azure"), &overrides).unwrap();
    assert_eq!(&price, entry("azure/gpt-4o"));
    // An unknown base model falls back to the deployment's own model.
    let unknown = Overrides {
        base_model: Some("nonexistent".to_owned()),
        ..Overrides::default()
    };
    let price = price_for(table(), "gpt-4o", None, &unknown).unwrap();
    assert_eq!(&price, entry("gpt-4o"));
}

#[test]
fn a_model_outside_the_table_is_priced_by_its_overrides() {
    let overrides = Overrides {
        input_cost_per_token: Some(1e-6),
        output_cost_per_token: Some(2e-6),
        ..Overrides::default()
    };
    let price = price_for(table(), "my-llama", Some("openai"), &overrides).unwrap();
    assert_close(cost(&price, &chat(10, 10)).total, 3e-5);
}

#[test]
fn per_second_overrides_make_the_deployment_priced_by_time() {
    let overrides = Overrides {
        input_cost_per_second: Some(0.01),
        ..Overrides::default()
    };
    let price = price_for(table(), "gpt-4o", None, &overrides).unwrap();
    assert_eq!(price.input_cost_per_token, None);
    assert_eq!(price.mode.as_deref(), Some("chat"));
    let timed = cost_with_duration(&price, &chat(1000, 1000), Duration::from_secs(2));
    assert_close(timed.total, 0.02);
}

#[test]
fn overrides_read_from_litellm_params_and_model_info() {
    let params = Overrides::from_json(&json!({
        "model": "azure/my-deployment",
        "input_cost_per_token": "3e-7",
        "output_cost_per_token": 6e-7,
        "input_cost_per_second": "free",
        "base_model": ""
    }));
    let info = Overrides::from_json(&json!({
        "base_model": "azure/gpt-4o",
        "input_cost_per_token": 9.0,
        "cache_read_input_token_cost": 1e-8
    }));
    let merged = params.or(info);
    assert_eq!(
        merged,
        Overrides {
            input_cost_per_token: Some(3e-7),
            output_cost_per_token: Some(6e-7),
            cache_read_input_token_cost: Some(1e-8),
            base_model: Some("azure/gpt-4o".to_owned()),
            ..Overrides::default()
        }
    );
    assert!(merged.has_prices());
    assert!(!Overrides::from_json(&json!("not an object")).has_prices());
}
