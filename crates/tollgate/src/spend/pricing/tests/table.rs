//! Loading the price map and finding entries under LiteLLM's key forms.

use std::time::Instant;

use super::super::table::strip_date_suffix;
use super::super::{PriceTable, PricingError};
use super::table;

#[test]
fn embedded_table_loads_with_more_than_a_thousand_entries() {
    let started = Instant::now();
    let loaded = PriceTable::embedded().unwrap();
    let elapsed = started.elapsed();
    assert!(loaded.len() > 1000, "only {} entries", loaded.len());
    // LiteLLM's documentation entry has descriptions where numbers belong: skipped, not fatal.
    assert!(loaded.skipped().contains(&"sample_spec".to_owned()));
    assert!(loaded.skipped().len() < 10, "{:?}", loaded.skipped());
    println!(
        "parsed {} entries ({} skipped) in {elapsed:?}",
        loaded.len(),
        loaded.skipped().len()
    );
}

#[test]
fn entries_are_typed() {
    let gpt4o = table().get("gpt-4o").unwrap();
    assert_eq!(gpt4o.litellm_provider.as_deref(), Some("openai"));
    assert_eq!(gpt4o.mode.as_deref(), Some("chat"));
    assert_eq!(gpt4o.input_cost_per_token, Some(2.5e-6));
    assert_eq!(gpt4o.output_cost_per_token, Some(1e-5));
    assert_eq!(gpt4o.cache_read_input_token_cost, Some(1.25e-6));
    assert_eq!(gpt4o.max_input_tokens, Some(128_000));
    let pro = table().get("gemini-2.5-pro").unwrap();
    assert_eq!(pro.input_cost_per_token_above_200k_tokens, Some(2.5e-6));
    assert_eq!(
        pro.cache_read_input_token_cost_above_200k_tokens,
        Some(2.5e-7)
    );
}

#[test]
fn a_bad_entry_is_skipped_and_counted() {
    let json = r#"{
        "good": {"input_cost_per_token": 1e-6, "mode": "chat", "supports_vision": true},
        "bad": {"input_cost_per_token": "free"},
        "odd": 7
    }"#;
    let parsed = PriceTable::from_json(json).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed.skipped(), ["bad", "odd"]);
    assert_eq!(parsed.get("good").unwrap().input_cost_per_token, Some(1e-6));
}

#[test]
fn a_document_that_is_not_an_object_is_an_error() {
    for json in ["[]", "not json", "{\"a\": {}"] {
        let err = PriceTable::from_json(json).unwrap_err();
        assert!(matches!(err, PricingError::Table(_)), "{json}");
    }
}

#[track_caller]
fn provider_of(model: &str, provider: Option<&str>) -> String {
    let entry = table()
        .lookup(model, provider)
        .unwrap_or_else(|| panic!("no price for {model} ({provider:?})"));
    entry.litellm_provider.clone().unwrap_or_default()
}

#[test]
fn lookup_finds_exact_and_provider_keys() {
    assert_eq!(provider_of("gpt-4o", None), "openai");
    assert_eq!(provider_of("gpt-4o", Some("openai")), "openai");
    assert_eq!(provider_of("openai/gpt-4o", None), "openai");
    assert_eq!(provider_of("gpt-4o-2024-08-06", None), "openai");
    assert_eq!(provider_of("gpt-4o", Some("azure")), "azure");
    assert_eq!(provider_of("azure/gpt-4o", None), "azure");
    assert_eq!(provider_of("azure/gpt-4o", Some("azure")), "azure");
}

#[test]
fn lookup_finds_bedrock_vertex_and_gemini_forms() {
    let bedrock = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    assert_eq!(provider_of(bedrock, Some("bedrock")), "bedrock");
    assert_eq!(provider_of(&format!("bedrock/{bedrock}"), None), "bedrock");
    assert_eq!(
        provider_of(&format!("bedrock/us-east-1/{bedrock}"), None),
        "bedrock"
    );
    assert_eq!(
        provider_of("gemini-2.5-pro", Some("vertex_ai")),
        "vertex_ai-language-models"
    );
    assert_eq!(
        provider_of("vertex_ai/gemini-2.5-pro", None),
        "vertex_ai-language-models"
    );
    assert_eq!(provider_of("gemini-2.5-pro", Some("gemini")), "gemini");
    assert_eq!(provider_of("gemini/gemini-2.5-pro", None), "gemini");
    assert_eq!(
        provider_of("claude-3-5-sonnet", Some("vertex_ai")),
        "vertex_ai-anthropic_models"
    );
    assert_eq!(
        provider_of("claude-sonnet-4-5", Some("anthropic")),
        "anthropic"
    );
}

#[test]
fn lookup_strips_an_unknown_date_suffix_only() {
    let dated = table().lookup("gpt-4o-2031-01-01", None).unwrap();
    assert_eq!(dated, table().get("gpt-4o").unwrap());
    let azure = table().lookup("gpt-4o-2031-01-01", Some("azure")).unwrap();
    assert_eq!(azure, table().get("azure/gpt-4o").unwrap());
    // A listed snapshot keeps its own entry.
    let listed = table().lookup("gpt-4o-2024-05-13", None).unwrap();
    assert_eq!(listed, table().get("gpt-4o-2024-05-13").unwrap());
    assert!(table().lookup("gpt-4o-mega", None).is_none());
    assert!(table().lookup("my-private-model", Some("openai")).is_none());
    assert!(table().lookup("", None).is_none());
    assert!(table().lookup("/", Some("")).is_none());
}

#[test]
fn date_suffix_shape() {
    assert_eq!(strip_date_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
    assert_eq!(strip_date_suffix("o3-mini-2025-01-31"), Some("o3-mini"));
    assert_eq!(strip_date_suffix("-2024-08-06"), None);
    assert_eq!(strip_date_suffix("gpt-4o-20240806"), None);
    assert_eq!(strip_date_suffix("gpt-4o-2024-8-106"), None);
    assert_eq!(strip_date_suffix("ab"), None);
    assert_eq!(strip_date_suffix("x-2024-08-0é"), None);
}
