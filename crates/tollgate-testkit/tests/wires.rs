//! The non-OpenAI wires of the fake: each checks what its provider checks (keys, versions,
//! required fields), answers in its provider's shapes, and fails in its provider's envelope.

use serde_json::{json, Value};
use tollgate_testkit::{FakeUpstream, Wire};

async fn send(req: reqwest::RequestBuilder, body: Value) -> (u16, String) {
    let resp = req.json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn anthropic_checks_key_version_and_max_tokens() {
    let f = FakeUpstream::start_as(Wire::Anthropic).await;
    let c = reqwest::Client::new();
    let url = format!("{}/v1/messages", f.url());
    let body = json!({"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (s, t) = send(
        c.post(&url).header("anthropic-version", "2023-06-01"),
        body.clone(),
    )
    .await;
    assert_eq!(s, 401, "{t}");
    assert!(t.contains("\"authentication_error\""), "{t}");
    let (s, t) = send(c.post(&url).header("x-api-key", "k"), body.clone()).await;
    assert_eq!(s, 400, "{t}");
    let ok = || {
        c.post(&url)
            .header("x-api-key", "k")
            .header("anthropic-version", "2023-06-01")
    };
    let (s, t) = send(ok(), json!({"model": "claude", "messages": []})).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("max_tokens"), "{t}");
    f.set_usage(100, 7);
    f.set_cached_tokens(60);
    f.set_cache_creation_tokens(30);
    let (s, t) = send(ok(), body.clone()).await;
    assert_eq!(s, 200, "{t}");
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 60})
    );
    f.fail_next(529, 1);
    let (s, t) = send(ok(), body).await;
    assert_eq!(s, 529, "{t}");
    assert!(t.contains("overloaded_error"), "{t}");
    assert_eq!(f.calls_to("/v1/messages"), 5);
}

#[tokio::test]
async fn azure_needs_an_api_version_and_a_key() {
    let f = FakeUpstream::start_as(Wire::Azure).await;
    let c = reqwest::Client::new();
    let base = format!("{}/openai/deployments/dep/chat/completions", f.url());
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        send(c.post(&base).header("api-key", "k"), body.clone())
            .await
            .0,
        404
    );
    let url = format!("{base}?api-version=2024-10-21");
    assert_eq!(send(c.post(&url), body.clone()).await.0, 401);
    let (s, t) = send(c.post(&url).header("api-key", "k"), body).await;
    assert_eq!(s, 200, "{t}");
    assert!(t.contains("\"model\":\"dep\""), "{t}");
}

#[tokio::test]
async fn gemini_streams_as_sse_or_a_json_array() {
    let f = FakeUpstream::start_as(Wire::Gemini).await;
    let c = reqwest::Client::new();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let url = |m: &str| format!("{}/v1beta/models/gemini-2.5-flash:{m}", f.url());
    let (s, t) = send(c.post(url("generateContent")), body.clone()).await;
    assert_eq!(s, 403, "{t}");
    assert!(t.contains("PERMISSION_DENIED"), "{t}");
    let key = |r: reqwest::RequestBuilder| r.header("x-goog-api-key", "k");
    let (_, t) = send(
        key(c.post(url("streamGenerateContent?alt=sse"))),
        body.clone(),
    )
    .await;
    assert_eq!(t.matches("data: ").count(), 3, "{t}");
    assert!(t.contains("\"finishReason\":\"STOP\""), "{t}");
    let (_, t) = send(key(c.post(url("streamGenerateContent"))), body.clone()).await;
    assert_eq!(
        serde_json::from_str::<Value>(&t)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (s, t) = send(
        key(c.post(url("batchEmbedContents"))),
        json!({"requests": [{}, {}]}),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        serde_json::from_str::<Value>(&t).unwrap()["embeddings"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn cohere_needs_a_bearer_key_and_streams_named_events() {
    let f = FakeUpstream::start_as(Wire::Cohere).await;
    let c = reqwest::Client::new();
    let url = format!("{}/v2/chat", f.url());
    let body = json!({"model": "command-a-03-2025", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(send(c.post(&url), body.clone()).await.0, 401);
    let (s, t) = send(c.post(&url).bearer_auth("k"), body).await;
    assert_eq!(s, 200, "{t}");
    assert!(t.starts_with("event: message-start"), "{t}");
    assert!(t.contains("event: message-end"), "{t}");
}
