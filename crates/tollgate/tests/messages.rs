//! Anthropic's format in, beyond the per-provider conformance suite: the error envelope from
//! every layer (authentication, admission, budgets), `/v1/messages/count_tokens`, thinking
//! carried across formats, Anthropic bodies passed through untouched, and the mock.

use serde_json::{json, Value};
use tollgate_testkit::{FakeUpstream, TestDb, Wire};

use crate::common::{Gateway, MASTER};

async fn gateway(db: &TestDb, anthropic: &str, openai: &str) -> Gateway {
    let yaml = format!(
        "model_list:\n\
         \x20 - model_name: claude\n    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: \"{anthropic}\", api_key: sk-ant}}\n\
         \x20 - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{openai}\", api_key: sk-oa}}\n\
         \x20 - model_name: demo\n    litellm_params: {{model: mock/demo, input_cost_per_token: 0.001, output_cost_per_token: 0.002}}\n\
         general_settings:\n  proxy_batch_write_at: 0.05\n"
    );
    Gateway::with_config(db, &yaml).await
}

fn hello(model: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hello there"}]})
}

async fn send(gw: &Gateway, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let resp = gw
        .request(path)
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn errors_from_every_layer_use_anthropics_envelope() {
    let db = TestDb::sqlite();
    let (a, o) = (
        FakeUpstream::start_as(Wire::Anthropic).await,
        FakeUpstream::start().await,
    );
    let gw = gateway(&db, &a.url(), &o.url()).await;
    let (s, v) = send(&gw, "/v1/messages", "sk-wrong", &hello("claude")).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error")),
        "{v}"
    );
    let (s, v) = send(&gw, "/v1/messages", MASTER, &hello("nope")).await;
    assert_eq!(
        (s, v["error"]["type"].as_str()),
        (400, Some("invalid_request_error")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid model name"),
        "{v}"
    );
    let (s, v) = send(
        &gw,
        "/v1/messages",
        MASTER,
        &json!({"model": "gpt", "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[0].content[0]"),
        "{v}"
    );
    let broke = gw.key(json!({"max_budget": 0.0})).await;
    gw.post("/key/update", json!({"key": broke, "spend": 1.0}))
        .await;
    let (s, v) = send(&gw, "/v1/messages", &broke, &hello("claude")).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("error")), "{v}");
    // The OpenAI routes keep OpenAI's envelope.
    let (s, v) = send(&gw, "/v1/chat/completions", "sk-wrong", &hello("gpt")).await;
    assert_eq!(s, 401);
    assert!(v["error"]["code"].is_string(), "{v}");
    assert_eq!(a.calls(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn count_tokens_asks_anthropic_and_counts_locally_elsewhere() {
    let db = TestDb::sqlite();
    let (a, o) = (
        FakeUpstream::start_as(Wire::Anthropic).await,
        FakeUpstream::start().await,
    );
    let gw = gateway(&db, &a.url(), &o.url()).await;
    a.set_usage(777, 1);
    let (s, v) = send(&gw, "/v1/messages/count_tokens", MASTER, &hello("claude")).await;
    assert_eq!((s, v["input_tokens"].as_u64()), (200, Some(777)), "{v}");
    let sent = a.last_request().unwrap();
    assert_eq!(sent.path, "/v1/messages/count_tokens");
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    assert!(sent.body.get("max_tokens").is_none(), "{}", sent.body);
    let (s, small) = send(&gw, "/v1/messages/count_tokens", MASTER, &hello("gpt")).await;
    assert_eq!(s, 200, "{small}");
    let n = small["input_tokens"].as_u64().unwrap();
    assert!(n > 0);
    let mut big = hello("gpt");
    big["system"] = json!("You are a careful assistant who answers in full sentences.");
    big["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let (_, v) = send(&gw, "/v1/messages/count_tokens", MASTER, &big).await;
    assert!(v["input_tokens"].as_u64().unwrap() > n + 10, "{v}");
    let (s, v) = send(
        &gw,
        "/v1/messages/count_tokens",
        MASTER,
        &json!({"messages": []}),
    )
    .await;
    assert_eq!((s, v["type"].as_str()), (400, Some("error")), "{v}");
    assert_eq!(o.calls(), 0, "local counting needs no upstream");
    // An upstream that cannot count: the local count answers.
    a.fail_next(500, 1);
    let (s, v) = send(&gw, "/v1/messages/count_tokens", MASTER, &hello("claude")).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["input_tokens"].as_u64().unwrap() > 0, "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn thinking_crosses_formats_and_anthropic_bodies_pass_through() {
    let db = TestDb::sqlite();
    let (a, o) = (
        FakeUpstream::start_as(Wire::Anthropic).await,
        FakeUpstream::start().await,
    );
    let gw = gateway(&db, &a.url(), &o.url()).await;
    // An OpenAI client asking for reasoning gets Anthropic's thinking back as reasoning.
    let (s, v) = gw
        .post_as(MASTER, "/v1/chat/completions", json!({"model": "claude", "reasoning_effort": "low", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(s, 200, "{v}");
    let sent = a.last_request().unwrap();
    assert_eq!(
        sent.body["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert!(sent.body["max_tokens"].as_u64().unwrap() > 1024);
    assert_eq!(sent.header("x-api-key"), Some("sk-ant"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], "Let me think.", "{v}");
    assert_eq!(msg["thinking_blocks"][0]["signature"], "sig_fake", "{v}");
    // An Anthropic client's body reaches Anthropic as sent (fields the gateway does not model too).
    let mut body = hello("claude");
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
    body["max_tokens"] = json!(4000);
    body["system"] =
        json!([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]);
    body["stream"] = json!(true);
    body["metadata"] = json!({"user_id": "u-1", "tags": ["team-a"]});
    let resp = gw
        .request("/v1/messages")
        .header("x-api-key", MASTER)
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("event: ping") && text.contains("signature_delta"),
        "{text}"
    );
    let sent = a.last_request().unwrap();
    assert_eq!(sent.body["system"], body["system"]);
    assert_eq!(
        sent.body["metadata"],
        json!({"user_id": "u-1"}),
        "LiteLLM's tags reached Anthropic"
    );
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    gw.stop().await;
}

#[tokio::test]
async fn the_mock_answers_anthropic_clients() {
    let db = TestDb::sqlite();
    let (a, o) = (
        FakeUpstream::start_as(Wire::Anthropic).await,
        FakeUpstream::start().await,
    );
    let gw = gateway(&db, &a.url(), &o.url()).await;
    let (s, v) = send(&gw, "/v1/messages", MASTER, &hello("demo")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["type"], "message");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{v}");
    let mut body = hello("demo");
    body["stream"] = json!(true);
    let resp = gw
        .request("/v1/messages")
        .header("x-api-key", MASTER)
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
    gw.flush().await;
    let logs = gw.get("/spend/logs").await;
    let rows: Vec<&Value> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["call_type"] == "anthropic_messages")
        .collect();
    assert_eq!(rows.len(), 2, "{logs}");
    assert!(
        rows.iter().all(|r| r["spend"].as_f64().unwrap() > 0.0),
        "{logs}"
    );
    gw.stop().await;
}
