//! `/chat/completions`: the JSON object, the chunk stream with and without `include_usage`, and
//! tool calls.

use serde_json::{json, Value};
use tollgate_testkit::openai::DEFAULT_REPLY;
use tollgate_testkit::FakeOpenAi;

use crate::common::{chunks_before_done, post_json, post_sse};

fn request(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "ping"}
        ],
        "stream": stream
    })
}

fn weather_tools() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
        }
    }])
}

#[tokio::test]
async fn completion_json_has_openai_shape() {
    let fake = FakeOpenAi::start().await;
    fake.set_usage(11, 7);
    fake.set_cached_tokens(3);
    fake.set_reasoning_tokens(2);
    let body = post_json(&fake, "/chat/completions", request(false)).await;
    assert_eq!(body["id"], "chatcmpl-1");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[0]["finish_reason"], "stop");
    assert_eq!(choices[0]["message"]["role"], "assistant");
    assert_eq!(choices[0]["message"]["content"], DEFAULT_REPLY);
    let usage = &body["usage"];
    assert_eq!(usage["prompt_tokens"], 11);
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(usage["total_tokens"], 18);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 2);
}

#[tokio::test]
async fn reply_is_configurable_or_echoed() {
    let fake = FakeOpenAi::start().await;
    fake.set_reply("custom");
    let body = post_json(&fake, "/chat/completions", request(false)).await;
    assert_eq!(body["choices"][0]["message"]["content"], "custom");
    fake.set_echo(true);
    let body = post_json(&fake, "/chat/completions", request(false)).await;
    assert_eq!(body["choices"][0]["message"]["content"], "ping");
    assert_eq!(body["id"], "chatcmpl-2");
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage() {
    let fake = FakeOpenAi::start().await;
    fake.set_chunks(4);
    let chunks = chunks_before_done(&post_sse(&fake, "/chat/completions", request(true)).await);
    // role, 4 content deltas, finish
    assert_eq!(chunks.len(), 6);
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-1");
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(c.get("usage").is_none());
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks[1..5]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert!(chunks[..5]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn stream_with_include_usage_ends_with_a_usage_chunk() {
    let fake = FakeOpenAi::start().await;
    fake.set_usage(5, 9);
    fake.set_cached_tokens(1);
    let mut req = request(true);
    req["stream_options"] = json!({"include_usage": true});
    let chunks = chunks_before_done(&post_sse(&fake, "/chat/completions", req.clone()).await);
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 5);
    assert_eq!(last["usage"]["completion_tokens"], 9);
    assert_eq!(last["usage"]["total_tokens"], 14);
    assert_eq!(last["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
    assert!(rest
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");

    fake.set_omit_usage(true);
    let chunks = chunks_before_done(&post_sse(&fake, "/chat/completions", req).await);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(chunks
        .iter()
        .all(|c| !c["choices"].as_array().unwrap().is_empty()));
    let body = post_json(&fake, "/chat/completions", request(false)).await;
    assert!(body.get("usage").is_none());
}

#[tokio::test]
async fn tool_calls_only_when_asked_and_tools_given() {
    let fake = FakeOpenAi::start().await;
    let mut req = request(false);
    req["tools"] = weather_tools();
    let body = post_json(&fake, "/chat/completions", req.clone()).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    fake.set_tool_calls(true);
    let plain = post_json(&fake, "/chat/completions", request(false)).await;
    assert_eq!(plain["choices"][0]["finish_reason"], "stop");
    let body = post_json(&fake, "/chat/completions", req).await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_fake_3");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
}

#[tokio::test]
async fn tool_calls_stream_as_indexed_deltas() {
    let fake = FakeOpenAi::start().await;
    fake.set_tool_calls(true);
    fake.set_tool_arguments(r#"{"city":"Lisbon"}"#);
    fake.set_chunks(3);
    let mut req = request(true);
    req["tools"] = weather_tools();
    let chunks = chunks_before_done(&post_sse(&fake, "/chat/completions", req).await);
    assert_eq!(chunks.len(), 5);
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    let call = &first["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert_eq!(call["id"], "call_fake_1");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "");
    let mut arguments = String::new();
    for c in &chunks[1..4] {
        let part = &c["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(part["index"], 0);
        assert!(part.get("id").is_none());
        arguments.push_str(part["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(arguments, r#"{"city":"Lisbon"}"#);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
}
