//! OpenAI-format inference through the gateway against a fake OpenAI upstream and the mock.

use futures_util::StreamExt as _;
use serde_json::{json, Value};
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

/// gpt-4o: 2.5e-6 per input token, 1e-5 per output token.
pub const GPT4O_IN: f64 = 2.5e-6;
pub const GPT4O_OUT: f64 = 1e-5;

pub fn config(upstream: &str) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: gpt-4o\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{upstream}\", api_key: sk-upstream}}\n\
         \x20 - model_name: text-embedding-3-small\n    litellm_params: {{model: openai/text-embedding-3-small, api_base: \"{upstream}\", api_key: sk-upstream}}\n\
         \x20 - model_name: mock-model\n    litellm_params: {{model: mock/demo, input_cost_per_token: 0.001, output_cost_per_token: 0.002}}\n\
         general_settings:\n  proxy_batch_write_at: 0.05\n"
    )
}

/// Reads an SSE body into its `data:` payloads.
pub async fn sse_data(resp: reqwest::Response) -> Vec<String> {
    data_lines(&resp.text().await.unwrap())
}

/// The `data:` payloads of an SSE text.
fn data_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

async fn chat_non_streaming(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(10, 5);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    // One content-length, the body's (written with the gateway's own headers).
    let lengths: Vec<_> = h.get_all("content-length").iter().collect();
    assert_eq!(lengths, [bytes.len().to_string().as_str()]);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["usage"]["prompt_tokens"], 10);
    let cost: f64 = h["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (cost - (10.0 * GPT4O_IN + 5.0 * GPT4O_OUT)).abs() < 1e-12,
        "{cost}"
    );
    for name in [
        "x-litellm-call-id",
        "x-litellm-model-id",
        "x-litellm-model-group",
        "x-litellm-response-duration-ms",
        "x-litellm-overhead-duration-ms",
    ] {
        assert!(h.contains_key(name), "missing {name}");
    }
    assert_eq!(h["x-litellm-model-group"], "gpt-4o");
    assert!(
        h.contains_key("llm_provider-x-request-id"),
        "upstream request id not passed on"
    );
    // The upstream got the deployment's model, its own key, and the client's tools.
    let sent = up.last_request().unwrap();
    assert_eq!(sent.body["model"], "gpt-4o");
    assert_eq!(sent.headers["authorization"], "Bearer sk-upstream");
    assert_eq!(sent.body["tools"][0]["function"]["name"], "f");
    // Without /v1 too.
    let (s, _) = gw
        .post_as(
            MASTER,
            "/chat/completions",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(s, 200);
    gw.stop().await;
}

async fn chat_streaming_relays_chunks_and_hides_unasked_usage(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(7, 3);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let req =
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let data = sse_data(resp).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() >= 2);
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "usage leaked: {chunks:?}"
    );
    // The gateway asked the upstream for usage anyway.
    assert_eq!(
        up.last_request().unwrap().body["stream_options"]["include_usage"],
        true
    );
    // A client that asks gets the usage chunk.
    let mut req = req.clone();
    req["stream_options"] = json!({"include_usage": true});
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&req)
        .send()
        .await
        .unwrap();
    let data = sse_data(resp).await;
    let usage: Vec<Value> = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|c| c["usage"].is_object())
        .collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["usage"]["completion_tokens"], 3);
    gw.stop().await;
}

async fn other_endpoints(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let (s, v) = gw
        .post_as(
            MASTER,
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/v1/completions",
            json!({"model": "gpt-4o", "prompt": "say hi"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/v1/responses",
            json!({"model": "gpt-4o", "input": "hello"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "response");
    let resp = gw
        .request("/v1/responses")
        .bearer_auth(MASTER)
        .json(&json!({"model": "gpt-4o", "input": "hello", "stream": true}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains("response.completed"), "{text}");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/openai/deployments/gpt-4o/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}

async fn mock_provider_is_deterministic(db: &TestDb) {
    let gw = Gateway::with_config(db, &config("http://127.0.0.1:9")).await;
    let body =
        json!({"model": "mock-model", "messages": [{"role": "user", "content": "12345678"}]});
    let (s, a) = gw
        .post_as(MASTER, "/v1/chat/completions", body.clone())
        .await;
    assert_eq!(s, 200, "{a}");
    let (_, b) = gw.post_as(MASTER, "/v1/chat/completions", body).await;
    assert_eq!(a["choices"], b["choices"]);
    assert_eq!(a["usage"], b["usage"]);
    assert_eq!(a["usage"]["prompt_tokens"], 2);
    let resp = gw.request("/v1/chat/completions").bearer_auth(MASTER)
        .json(&json!({"model": "mock-model", "stream": true, "messages": [{"role": "user", "content": "x"}], "mock_response": "one two"}))
        .send().await.unwrap();
    let data = sse_data(resp).await;
    let text: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "one two");
    gw.stop().await;
}

async fn models_are_filtered_by_key(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let all = gw.get("/v1/models").await;
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["gpt-4o", "mock-model", "text-embedding-3-small"]);
    let limited = gw.key(json!({"models": ["gpt-4o"]})).await;
    let (_, v) = gw.get_as(&limited, "/v1/models").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (s, v) = gw
        .post_as(
            &limited,
            "/v1/chat/completions",
            json!({"model": "mock-model", "messages": []}),
        )
        .await;
    assert_error(s, &v, 401, "key not allowed to access model");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "nope", "messages": []}),
        )
        .await;
    assert_error(s, &v, 400, "Invalid model name passed in model=nope");
    let (s, v) = gw
        .post_as(MASTER, "/v1/chat/completions", json!({"messages": []}))
        .await;
    assert_error(s, &v, 400, "model is required");
    let info = gw.get("/model/info").await;
    let text = info.to_string();
    assert!(
        !text.contains("sk-upstream"),
        "secret leaked in /model/info"
    );
    assert!(info["data"][0]["model_info"]["input_cost_per_token"].is_number());
    let v2 = gw.get("/v2/model/info?size=1").await;
    assert_eq!(v2["total_count"], 3);
    gw.stop().await;
}

async fn upstream_errors_keep_their_status(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]});
    for status in [400u16, 401, 429, 500] {
        up.fail_next(status, 1);
        let (s, v) = gw
            .post_as(MASTER, "/v1/chat/completions", body.clone())
            .await;
        assert_eq!(s.as_u16(), status, "{v}");
        assert_eq!(v["error"]["code"], status.to_string());
    }
    gw.flush().await;
    let logs = gw.get("/spend/logs").await;
    let failures = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failure")
        .count();
    assert_eq!(failures, 4, "{logs}");
    gw.stop().await;
}

async fn client_hangup_mid_stream_is_billed(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(10, 20);
    up.set_chunks(20);
    up.set_chunk_delay(std::time::Duration::from_millis(20));
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let key = gw.key(json!({})).await;
    let resp = gw.request("/v1/chat/completions").bearer_auth(&key)
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send().await.unwrap();
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(body);
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    gw.flush().await;
    let info = gw.get(&format!("/key/info?key={key}")).await;
    let expected = 10.0 * GPT4O_IN + 20.0 * GPT4O_OUT;
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!(
        (spend - expected).abs() < 1e-12,
        "spend {spend}, expected {expected}"
    );
    gw.stop().await;
}

async fn without_upstream_usage_tokens_are_counted_locally(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_omit_usage(true);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    let key = gw.key(json!({})).await;
    for stream in [false, true] {
        let body = json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "count these words please"}]});
        let resp = gw
            .request("/v1/chat/completions")
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.text().await.unwrap();
    }
    gw.flush().await;
    let logs = gw.get(&format!("/spend/logs?api_key={key}")).await;
    for row in logs.as_array().unwrap() {
        assert!(row["prompt_tokens"].as_i64().unwrap() > 0, "{row}");
        assert!(row["completion_tokens"].as_i64().unwrap() > 0, "{row}");
        assert!(row["spend"].as_f64().unwrap() > 0.0, "{row}");
    }
    gw.stop().await;
}

async fn wildcards_and_timeouts(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: \"openai/*\"\n    litellm_params: {{model: \"openai/*\", api_base: \"{0}\", api_key: k}}\n\
         \x20 - model_name: slow\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{0}\", api_key: k, timeout: 0.3}}\n",
        up.url()
    );
    let gw = Gateway::with_config(db, &yaml).await;
    let (s, v) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(up.last_request().unwrap().body["model"], "gpt-4o-mini");
    up.set_latency(std::time::Duration::from_millis(1500));
    let (s, v) = gw
        .post_as(
            MASTER,
            "/v1/chat/completions",
            json!({"model": "slow", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(s, 408, "{v}");
    gw.stop().await;
}

/// `stream_timeout` is the longest wait for the next piece, counted from the last one: a stream
/// whose pieces keep coming outlives it, a stream that stops gets the error event.
async fn stream_timeout_counts_from_the_last_piece(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_chunks(6);
    up.set_chunk_delay(std::time::Duration::from_millis(120));
    let yaml = format!(
        "model_list:\n  - model_name: steady\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: k, stream_timeout: 0.3}}\n",
        up.url()
    );
    let gw = Gateway::with_config(db, &yaml).await;
    let body =
        json!({"model": "steady", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let stream = || async {
        let (status, text) = gw
            .post_as(MASTER, "/v1/chat/completions", body.clone())
            .await;
        assert_eq!(status, 200, "{text}");
        data_lines(text.as_str().unwrap_or_default())
    };
    let started = std::time::Instant::now();
    let data = stream().await;
    assert!(
        started.elapsed() > std::time::Duration::from_millis(600),
        "{data:?}"
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    assert!(data.iter().all(|d| !d.contains("\"error\"")), "{data:?}");
    up.set_stall_after(Some(3));
    let data = stream().await;
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{data:?}");
    gw.stop().await;
}

both!(
    stream_timeout_counts_from_the_last_piece,
    without_upstream_usage_tokens_are_counted_locally,
    wildcards_and_timeouts,
    chat_non_streaming,
    chat_streaming_relays_chunks_and_hides_unasked_usage,
    other_endpoints,
    mock_provider_is_deterministic,
    models_are_filtered_by_key,
    upstream_errors_keep_their_status,
    client_hangup_mid_stream_is_billed,
);
