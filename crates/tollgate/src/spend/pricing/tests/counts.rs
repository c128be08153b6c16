//! Reading a usage object's counts from JSON text agrees with reading them from the parsed tree.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::super::{Counts, Usage, UsageObject};
use super::props::json_leaf;

/// The counts read from the text, without a tree.
fn from_text(text: &str) -> Option<Counts> {
    serde_json::from_str::<UsageObject>(text)
        .expect("the text is JSON")
        .0
}

#[test]
fn a_usage_object_reads_as_its_tree_does() {
    let usage = json!({
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 4},
        "unrelated": {"prompt_tokens": 5, "list": [1, {"a": null}]}
    });
    let counts = from_text(&usage.to_string()).expect("an object");
    assert_eq!(counts, Counts::of(&usage));
    assert_eq!(counts.prompt_tokens, Some(1200));
    assert_eq!(counts.prompt_tokens_details.cached_tokens, 1024);
    assert_eq!(Usage::openai(&counts), Usage::from_openai(&usage));
}

#[test]
fn what_is_not_an_object_is_no_usage() {
    for text in ["null", "3", "\"usage\"", "[1, 2]", "true"] {
        assert_eq!(from_text(text), None, "{text}");
    }
    assert_eq!(from_text("{}"), Some(Counts::default()));
}

#[test]
fn odd_values_read_as_zero_and_keys_may_be_escaped() {
    let text = r#"{"prompt\u005ftokens": 7.9, "completion_tokens": -3, "total_tokens": "12",
        "input_tokens": null, "prompt_tokens_details": [1], "cache_read_input_tokens": 1e30}"#;
    let counts = from_text(text).expect("an object");
    assert_eq!(counts.prompt_tokens, Some(7));
    assert_eq!(counts.completion_tokens, 0);
    assert_eq!(counts.total_tokens, 0);
    // Present, although null: the Responses API test looks at presence.
    assert_eq!(counts.input_tokens, Some(0));
    assert_eq!(counts.prompt_tokens_details, Default::default());
    assert_eq!(counts.cache_read_input_tokens, u64::MAX);
}

#[test]
fn the_later_of_two_equal_keys_counts_whole() {
    let text = r#"{"prompt_tokens_details": {"cached_tokens": 5},
        "prompt_tokens_details": {"audio_tokens": 3}, "completion_tokens": 1, "completion_tokens": 2}"#;
    let counts = from_text(text).expect("an object");
    let tree: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(counts, Counts::of(&tree));
    assert_eq!(counts.prompt_tokens_details.cached_tokens, 0);
    assert_eq!(counts.prompt_tokens_details.audio_tokens, 3);
    assert_eq!(counts.completion_tokens, 2);
}

/// JSON text whose objects may repeat a key, biased towards the names the readers know.
fn json_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("prompt_tokens"),
        Just("completion_tokens"),
        Just("total_tokens"),
        Just("input_tokens"),
        Just("output_tokens"),
        Just("prompt_tokens_details"),
        Just("completion_tokens_details"),
        Just("input_tokens_details"),
        Just("cached_tokens"),
        Just("audio_tokens"),
        Just("reasoning_tokens"),
        Just("cache_creation"),
        Just("ephemeral_5m_input_tokens"),
        Just("cache_read_input_tokens"),
        Just("cache_creation_input_tokens"),
        Just("prompt_cache_hit_tokens"),
        Just("other"),
    ];
    let leaf = json_leaf().prop_map(|v| v.to_string());
    leaf.prop_recursive(3, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key.clone(), inner), 0..8).prop_map(|pairs| {
                let fields: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn text_and_tree_read_the_same_counts(text in json_text()) {
        let tree: Value = serde_json::from_str(&text).expect("generated JSON parses");
        let counts = from_text(&text);
        prop_assert_eq!(counts.is_some(), tree.is_object());
        prop_assert_eq!(counts.unwrap_or_default(), Counts::of(&tree));
    }
}
