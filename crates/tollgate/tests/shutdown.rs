//! Graceful shutdown: in-flight streams finish, new connections are refused, spend is flushed.

use futures_util::StreamExt as _;
use serde_json::json;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::common::Gateway;
use crate::inference::config;

#[tokio::test]
async fn shutdown_lets_streams_finish_and_flushes_their_spend() {
    let db = TestDb::sqlite();
    let up = FakeOpenAi::start().await;
    up.set_usage(10, 10);
    up.set_chunks(10);
    up.set_chunk_delay(std::time::Duration::from_millis(100));
    let yaml =
        config(&up.url()).replace("proxy_batch_write_at: 0.05", "proxy_batch_write_at: 3600");
    let gw = Gateway::with_config(&db, &yaml).await;
    let key = gw.key(json!({})).await;
    let url = gw.url.clone();
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    let reader = tokio::spawn(async move {
        let mut text = String::from_utf8_lossy(&first).into_owned();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        text
    });
    let state = gw.state.clone();
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // New connections are refused while the stream drains.
    let refused = reqwest::Client::new()
        .get(format!("{url}/health/liveliness"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new connection was accepted during shutdown"
    );
    let text = reader.await.unwrap();
    assert!(text.contains("[DONE]"), "the stream was cut: {text}");
    stopping.await.unwrap();
    let rec = state
        .store
        .key_by_token(&tollgate::auth::keys::hash(&key))
        .await
        .unwrap()
        .unwrap();
    let expected = 10.0 * crate::inference::GPT4O_IN + 10.0 * crate::inference::GPT4O_OUT;
    assert!(
        (rec.spend - expected).abs() < 1e-12,
        "{} != {expected}",
        rec.spend
    );
}
