//! Local token counts.

use serde_json::json;

use super::super::tokens::{estimate, uses_o200k};
use super::super::{count_message_tokens, count_tokens};

#[test]
fn encoders_follow_the_model_family() {
    for model in [
        "gpt-4o",
        "gpt-4o-mini-2024-07-18",
        "openai/gpt-4.1",
        "azure/gpt-5-mini",
        "o1",
        "o3-mini",
        "o4-mini",
        "ft:gpt-4o-mini:acme::abc",
        "GPT-4O",
    ] {
        assert!(uses_o200k(model), "{model}");
    }
    for model in [
        "gpt-4",
        "gpt-3.5-turbo",
        "claude-sonnet-4-5",
        "text-embedding-3-small",
        "",
    ] {
        assert!(!uses_o200k(model), "{model}");
    }
}

#[test]
fn counts_match_tiktoken() {
    // Reference counts from OpenAI's tiktoken.
    assert_eq!(count_tokens("gpt-4", "hello world"), 2);
    assert_eq!(count_tokens("gpt-4o", "hello world"), 2);
    assert_eq!(count_tokens("gpt-4o", ""), 0);
    assert_eq!(count_tokens("gpt-3.5-turbo", "tiktoken is great!"), 6);
    // Special-token text is counted as plain text, never rejected.
    assert!(count_tokens("gpt-4o", "<|endoftext|>") > 1);
}

#[test]
fn message_counts_follow_the_cookbook() {
    let messages = json!([
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "name": "alice", "content": "hello world"}
    ]);
    let expected = 3 // reply priming
        + 3 + count_tokens("gpt-4o", "system") + count_tokens("gpt-4o", "You are a helpful assistant.")
        + 3 + count_tokens("gpt-4o", "user") + count_tokens("gpt-4o", "alice") + 1
        + count_tokens("gpt-4o", "hello world");
    assert_eq!(count_message_tokens("gpt-4o", &messages), expected);
}

#[test]
fn message_counts_read_content_parts_and_tool_calls() {
    let messages = json!([
        {"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ]}
    ]);
    let model = "gpt-4";
    let count = |text| count_tokens(model, text);
    let expected = 3
        + (3 + count("user") + count("describe"))
        + (3 + count("assistant") + count("lookup") + count("{}"));
    assert_eq!(count_message_tokens(model, &messages), expected);
    assert_eq!(count_message_tokens(model, &json!([])), 3);
    assert_eq!(count_message_tokens(model, &json!({"role": "user"})), 0);
    assert_eq!(count_message_tokens(model, &json!([7, null, "x"])), 3 + 9);
}

#[test]
fn the_fallback_estimate_is_a_quarter_of_the_characters() {
    assert_eq!(estimate(""), 0);
    assert_eq!(estimate("abc"), 1);
    assert_eq!(estimate("abcdefgh"), 2);
    assert_eq!(estimate("ééééé"), 2);
}
