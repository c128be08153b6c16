//! Reading usage from the OpenAI and Anthropic wire formats.

use serde_json::json;

use super::super::Usage;

#[test]
fn openai_chat_usage_with_details() {
    let response = json!({
        "id": "chatcmpl-1",
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 4}
        }
    });
    let expected = Usage {
        prompt_tokens: 1200,
        completion_tokens: 300,
        cached_tokens: 1024,
        reasoning_tokens: 256,
        audio_input_tokens: 10,
        audio_output_tokens: 4,
        ..Usage::default()
    };
    assert_eq!(Usage::from_openai(&response), expected);
    // The usage object alone reads the same.
    assert_eq!(Usage::from_openai(&response["usage"]), expected);
    assert_eq!(expected.total_tokens(), 1500);
}

#[test]
fn openai_embeddings_usage() {
    let response = json!({"object": "list", "usage": {"prompt_tokens": 4, "total_tokens": 4}});
    let usage = Usage::from_openai(&response);
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (4, 0));
    let total_only = Usage::from_openai(&json!({"usage": {"total_tokens": 9}}));
    assert_eq!(total_only.prompt_tokens, 9);
}

#[test]
fn openai_responses_api_usage() {
    let usage = json!({
        "input_tokens": 500,
        "input_tokens_details": {"cached_tokens": 128},
        "output_tokens": 90,
        "output_tokens_details": {"reasoning_tokens": 64},
        "total_tokens": 590
    });
    let expected = Usage {
        prompt_tokens: 500,
        completion_tokens: 90,
        cached_tokens: 128,
        reasoning_tokens: 64,
        ..Usage::default()
    };
    assert_eq!(
        Usage::from_openai(&json!({"usage": usage.clone()})),
        expected
    );
    let completed = json!({"type": "response.completed", "response": {"usage": usage}});
    assert_eq!(Usage::from_openai(&completed), expected);
}

#[test]
fn openai_compatible_cache_fields() {
    let deepseek = json!({"usage": {
        "prompt_tokens": 100, "completion_tokens": 5,
        "prompt_cache_hit_tokens": 60, "prompt_cache_miss_tokens": 40
    }});
    assert_eq!(Usage::from_openai(&deepseek).cached_tokens, 60);
    let litellm_shape = json!({"usage": {
        "prompt_tokens": 100, "completion_tokens": 5,
        "cache_creation_input_tokens": 30, "cache_read_input_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 20}
    }});
    let usage = Usage::from_openai(&litellm_shape);
    assert_eq!((usage.cached_tokens, usage.cache_creation_tokens), (20, 30));
}

#[test]
fn anthropic_usage_adds_cache_tokens_to_the_prompt() {
    let message = json!({
        "type": "message",
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 2048,
            "cache_read_input_tokens": 4096,
            "output_tokens": 77
        }
    });
    let expected = Usage {
        prompt_tokens: 12 + 2048 + 4096,
        completion_tokens: 77,
        cached_tokens: 4096,
        cache_creation_tokens: 2048,
        ..Usage::default()
    };
    assert_eq!(Usage::from_anthropic(&message), expected);
    let start = json!({"type": "message_start", "message": {"usage": message["usage"].clone()}});
    assert_eq!(Usage::from_anthropic(&start), expected);
}

#[test]
fn anthropic_cache_creation_breakdown() {
    let usage = json!({
        "input_tokens": 1,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
        "output_tokens": 2
    });
    let parsed = Usage::from_anthropic(&usage);
    assert_eq!(
        (parsed.prompt_tokens, parsed.cache_creation_tokens),
        (31, 30)
    );
}

#[test]
fn odd_counts_read_as_zero_or_are_rounded_down() {
    let usage = json!({"usage": {
        "prompt_tokens": -5,
        "completion_tokens": 7.9,
        "prompt_tokens_details": {"cached_tokens": "12"},
        "completion_tokens_details": null
    }});
    let parsed = Usage::from_openai(&usage);
    assert_eq!(
        parsed,
        Usage {
            completion_tokens: 7,
            ..Usage::default()
        }
    );
    assert_eq!(Usage::from_openai(&json!(null)), Usage::default());
    assert_eq!(Usage::from_anthropic(&json!([1, 2])), Usage::default());
    let huge = Usage::from_anthropic(&json!({
        "input_tokens": u64::MAX, "cache_read_input_tokens": 1e300
    }));
    assert_eq!(huge.prompt_tokens, u64::MAX);
}
