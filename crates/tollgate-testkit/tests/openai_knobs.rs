//! Knobs and introspection: injected errors, latency, pacing, stalls, the request log, reset and
//! shutdown on drop.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_testkit::FakeOpenAi;

use crate::common::{client, parse_sse, post, post_json};

fn chat(stream: bool) -> Value {
    json!({ "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": stream })
}

#[tokio::test]
async fn fail_next_then_recover() {
    let fake = FakeOpenAi::start().await;
    fake.fail_next(429, 2);
    fake.set_retry_after(7);
    for _ in 0..2 {
        let resp = post(&fake, "/chat/completions", chat(false)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        let body: Value = resp.json().await.unwrap();
        let error = &body["error"];
        assert_eq!(error["code"], "rate_limit_exceeded");
        assert!(error["message"].is_string());
        assert!(error["type"].is_string());
        assert!(error.get("param").is_some());
    }
    post_json(&fake, "/chat/completions", chat(false)).await;

    fake.fail_next(500, 1);
    let resp = post(&fake, "/embeddings", json!({ "model": "m", "input": "x" })).await;
    assert_eq!(resp.status(), 500);
    assert!(resp.headers().get("retry-after").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    assert!(body["error"]["code"].is_null());
    assert_eq!(fake.calls(), 4);
}

#[tokio::test]
async fn latency_delays_the_first_byte() {
    let fake = FakeOpenAi::start().await;
    fake.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    let resp = post(&fake, "/chat/completions", chat(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    fake.set_latency(Duration::ZERO);
    let started = Instant::now();
    post(&fake, "/chat/completions", chat(false)).await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn chunk_delay_paces_the_stream() {
    let fake = FakeOpenAi::start().await;
    fake.set_chunks(2);
    fake.set_chunk_delay(Duration::from_millis(50));
    let started = Instant::now();
    let resp = post(&fake, "/chat/completions", chat(true)).await;
    let frames = parse_sse(&resp.text().await.unwrap());
    // role, 2 deltas, finish, [DONE]: four pauses.
    assert_eq!(frames.len(), 5);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn stall_after_holds_the_stream_open() {
    let fake = FakeOpenAi::start().await;
    fake.set_stall_after(Some(2));
    let mut resp = post(&fake, "/chat/completions", chat(true)).await;
    let mut received = String::new();
    while received.matches("\n\n").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(parse_sse(&received).len(), 2);
    let more = tokio::time::timeout(Duration::from_millis(300), resp.chunk()).await;
    assert!(more.is_err(), "the stream must stall, got {more:?}");
    // Dropping the fake ends the stalled stream instead of leaving it hanging.
    drop(fake);
    let end = tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await;
    assert!(end.is_ok(), "the stream must end once the fake is dropped");
}

#[tokio::test]
async fn requests_are_recorded_and_reset() {
    let fake = FakeOpenAi::start().await;
    assert!(fake.last_request().is_none());
    client()
        .post(format!("{}/chat/completions", fake.url()))
        .bearer_auth("sk-upstream")
        .header("X-Custom", "yes")
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    post(&fake, "/embeddings", json!({ "model": "m", "input": "x" })).await;
    assert_eq!(fake.calls(), 2);
    assert_eq!(fake.calls_to("/chat/completions"), 1);
    assert_eq!(fake.calls_to("/responses"), 0);
    let first = &fake.requests()[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.headers["authorization"], "Bearer sk-upstream");
    assert_eq!(first.header("x-custom"), Some("yes"));
    assert_eq!(first.body["messages"][0]["content"], "hi");
    assert_eq!(fake.last_request().unwrap().path, "/v1/embeddings");

    fake.set_reply("changed");
    fake.fail_next(503, 5);
    fake.reset();
    assert_eq!(fake.calls(), 0);
    let body = post_json(&fake, "/chat/completions", chat(false)).await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        tollgate_testkit::openai::DEFAULT_REPLY
    );
    fake.clear_requests();
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let fake = FakeOpenAi::start().await;
    let url = format!("{}/models", fake.url());
    // One client: its pooled keep-alive connection must not outlive the fake either.
    let pooled = client();
    assert_eq!(pooled.get(&url).send().await.unwrap().status(), 200);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(pooled.get(&url).send().await.is_err());
    assert!(client().get(&url).send().await.is_err());
}
