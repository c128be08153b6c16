//! `/responses`: the `response` object and its event stream.

use serde_json::{json, Value};
use tollgate_testkit::openai::DEFAULT_REPLY;
use tollgate_testkit::FakeOpenAi;

use crate::common::{post_json, post_sse, Frame};

fn request(stream: bool) -> Value {
    json!({ "model": "gpt-4o", "input": "Say hi", "instructions": "be kind", "stream": stream })
}

#[tokio::test]
async fn response_json_has_output_and_usage() {
    let fake = FakeOpenAi::start().await;
    fake.set_usage(30, 40);
    fake.set_cached_tokens(8);
    fake.set_reasoning_tokens(16);
    let body = post_json(&fake, "/responses", request(false)).await;
    assert_eq!(body["id"], "resp_fake_1");
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["instructions"], "be kind");
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["content"][0]["type"], "output_text");
    assert_eq!(output[0]["content"][0]["text"], DEFAULT_REPLY);
    let usage = &body["usage"];
    assert_eq!(usage["input_tokens"], 30);
    assert_eq!(usage["output_tokens"], 40);
    assert_eq!(usage["total_tokens"], 70);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 8);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 16);

    fake.set_omit_usage(true);
    fake.set_echo(true);
    let body = post_json(&fake, "/responses", request(false)).await;
    assert!(body.get("usage").is_none());
    assert_eq!(body["output"][0]["content"][0]["text"], "Say hi");
}

fn events(frames: &[Frame]) -> Vec<(String, Value)> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let kind = f.event.clone().unwrap();
            let data = f.json();
            assert_eq!(data["type"], kind.as_str());
            assert_eq!(data["sequence_number"], i);
            (kind, data)
        })
        .collect()
}

#[tokio::test]
async fn stream_runs_from_created_to_completed() {
    let fake = FakeOpenAi::start().await;
    fake.set_usage(3, 4);
    fake.set_chunks(2);
    let events = events(&post_sse(&fake, "/responses", request(true)).await);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    assert!(events[0].1["response"]["usage"].is_null());
    let item_id = events[2].1["item"]["id"].as_str().unwrap().to_owned();
    let text: String = events[4..6]
        .iter()
        .map(|(_, d)| {
            assert_eq!(d["item_id"], item_id.as_str());
            assert_eq!(d["output_index"], 0);
            assert_eq!(d["content_index"], 0);
            d["delta"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert_eq!(events[6].1["text"], DEFAULT_REPLY);
    let done = &events[9].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], DEFAULT_REPLY);
    assert_eq!(done["usage"]["input_tokens"], 3);
    assert_eq!(done["usage"]["output_tokens"], 4);
    assert_eq!(done["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn tool_call_streams_argument_deltas() {
    let fake = FakeOpenAi::start().await;
    fake.set_tool_calls(true);
    let mut req = request(true);
    req["tools"] = json!([{ "type": "function", "name": "lookup", "parameters": {} }]);
    let events = events(&post_sse(&fake, "/responses", req).await);
    let added = &events[2].1["item"];
    assert_eq!(added["type"], "function_call");
    assert_eq!(added["name"], "lookup");
    assert_eq!(added["call_id"], "call_fake_1");
    let arguments: String = events
        .iter()
        .filter(|(k, _)| k == "response.function_call_arguments.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    let (kind, last) = events.last().unwrap();
    assert_eq!(kind, "response.completed");
    assert_eq!(
        last["response"]["output"][0]["arguments"],
        arguments.as_str()
    );
}
