//! Retries and fallbacks: a 500 falls back to the next group, `retry-after` is honoured, client
//! fallbacks work, and errors a retry cannot fix are not retried.

use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::common::{Gateway, MASTER};
use crate::inference::sse_data;

fn two_groups(a: &str, b: &str, extra: &str) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: primary\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{a}\", api_key: k}}\n\
         \x20 - model_name: backup\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{b}\", api_key: k}}\n{extra}"
    )
}

fn chat(stream: bool) -> serde_json::Value {
    json!({"model": "primary", "stream": stream, "messages": [{"role": "user", "content": "x"}]})
}

#[tokio::test]
async fn a_500_falls_back_to_the_next_group() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    a.fail_next(500, 100);
    let yaml = two_groups(
        &a.url(),
        &b.url(),
        "router_settings:\n  fallbacks: [{primary: [backup]}]\n",
    );
    let gw = Gateway::with_config(&db, &yaml).await;
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-attempted-fallbacks"], "1");
    assert_eq!(resp.headers()["x-litellm-attempted-retries"], "0");
    assert_eq!((a.calls(), b.calls()), (1, 1));
    assert_eq!(b.last_request().unwrap().body["model"], "gpt-4o-mini");
    // Streams fall back too, before their first byte.
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sse_data(resp).await.last().unwrap(), "[DONE]");
    assert_eq!(b.calls(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn retries_honour_retry_after() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    a.fail_next(429, 1);
    a.set_retry_after(1);
    let gw = Gateway::with_config(
        &db,
        &two_groups(&a.url(), &b.url(), "router_settings:\n  num_retries: 2\n"),
    )
    .await;
    let started = Instant::now();
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retried after {:?}",
        started.elapsed()
    );
    assert_eq!(resp.headers()["x-litellm-attempted-retries"], "1");
    assert_eq!(a.calls(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn client_fallbacks_and_errors_a_retry_cannot_fix() {
    let db = TestDb::sqlite();
    let (a, b) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    let gw = Gateway::with_config(
        &db,
        &two_groups(&a.url(), &b.url(), "router_settings:\n  num_retries: 3\n"),
    )
    .await;
    a.fail_next(503, 10);
    let mut body = chat(false);
    body["fallbacks"] = json!(["backup"]);
    let (s, v) = gw.post_as(MASTER, "/v1/chat/completions", body).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        b.last_request().unwrap().body.get("fallbacks").is_none(),
        "gateway parameters leaked upstream"
    );
    a.reset();
    a.fail_next(400, 10);
    let before = a.calls();
    let (s, _) = gw
        .post_as(MASTER, "/v1/chat/completions", chat(false))
        .await;
    assert_eq!(s, 400);
    assert_eq!(a.calls() - before, 1, "a 400 was retried");
    gw.stop().await;
}
