//! Completions, embeddings, the model list, and what the fake does with bad requests.

use serde_json::{json, Value};
use tollgate_testkit::FakeOpenAi;

use crate::common::{chunks_before_done, client, post, post_json, post_sse};

#[tokio::test]
async fn completions_json_and_stream() {
    let fake = FakeOpenAi::start().await;
    fake.set_echo(true);
    let req = json!({ "model": "gpt-3.5-turbo-instruct", "prompt": "Say this" });
    let body = post_json(&fake, "/completions", req.clone()).await;
    assert_eq!(body["id"], "cmpl-1");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["choices"][0]["text"], "Say this");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["total_tokens"], 30);

    let mut streamed = req;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({ "include_usage": true });
    let chunks = chunks_before_done(&post_sse(&fake, "/completions", streamed).await);
    let (usage, rest) = chunks.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 10);
    let text: String = rest
        .iter()
        .map(|c| {
            assert_eq!(c["object"], "text_completion");
            c["choices"][0]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Say this");
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn embeddings_one_per_input() {
    let fake = FakeOpenAi::start().await;
    fake.set_usage(6, 0);
    let one = json!({ "model": "text-embedding-3-small", "input": "hello" });
    let body = post_json(&fake, "/embeddings", one).await;
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(
        body["usage"],
        json!({ "prompt_tokens": 6, "total_tokens": 6 })
    );

    let many = json!({ "model": "m", "input": ["a", "b", "c"], "dimensions": 4 });
    let body = post_json(&fake, "/embeddings", many).await;
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"].as_array().unwrap().len(), 4);
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);

    let tokens = json!({ "model": "m", "input": [1, 2, 3], "encoding_format": "base64" });
    let body = post_json(&fake, "/embeddings", tokens).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    // 8 floats of 4 bytes: 32 bytes, 44 base64 characters.
    assert_eq!(body["data"][0]["embedding"].as_str().unwrap().len(), 44);
}

#[tokio::test]
async fn models_list_with_and_without_v1() {
    let fake = FakeOpenAi::start().await;
    fake.set_models(["a-model", "b-model"]);
    let root = format!("http://{}", fake.addr());
    for url in [format!("{root}/v1/models"), format!("{root}/models")] {
        let body: Value = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["object"], "list");
        assert_eq!(body["data"][1]["id"], "b-model");
        assert_eq!(body["data"][0]["object"], "model");
    }
    let resp = client()
        .post(format!("{root}/chat/completions"))
        .json(&json!({ "model": "x", "messages": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.calls_to("/models"), 2);
    assert_eq!(fake.calls_to("/v1/chat/completions"), 1);
    assert_eq!(fake.requests()[2].path, "/chat/completions");
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let fake = FakeOpenAi::start().await;
    let resp = post(&fake, "/nope", json!({})).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Invalid URL (POST /v1/nope)");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let resp = client()
        .post(format!("{}/chat/completions", fake.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = post(&fake, "/embeddings", json!({ "input": "x" })).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["param"].is_null());
    assert_eq!(fake.calls(), 3);
    assert_eq!(fake.requests()[1].body, Value::Null);
}
