//! Bedrock and Vertex AI through the gateway, beyond the conformance suite: what reaches the
//! fake Bedrock runtime (a valid SigV4 signature, a Converse body), Titan and Cohere embeddings
//! through InvokeModel, a Bedrock stream exception, the Vertex token fetched once and reused on
//! Vertex's own paths, and missing credentials answered with a 401 that names the parameter.

use serde_json::{json, Value};
use tollgate_testkit::{FakeBedrock, FakeUpstream, FakeVertex, TestDb, Wire};

use crate::common::{Gateway, MASTER};

const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

async fn bedrock_gateway(db: &TestDb, fake: &FakeBedrock) -> Gateway {
    let c = fake.credentials();
    let aws = format!(
        "api_base: \"{}\", aws_access_key_id: {}, aws_secret_access_key: \"{}\", aws_region_name: {}",
        fake.url(),
        c.access_key_id,
        c.secret_access_key,
        fake.region()
    );
    let yaml = format!(
        "model_list:\n\
         \x20 - model_name: claude\n    litellm_params: {{model: \"bedrock/{CLAUDE}\", {aws}}}\n\
         \x20 - model_name: titan\n    litellm_params: {{model: \"bedrock/amazon.titan-embed-text-v2:0\", {aws}}}\n\
         \x20 - model_name: keyless\n    litellm_params: {{model: \"bedrock/{CLAUDE}\", api_base: \"{}\", aws_region_name: us-east-1}}\n",
        fake.url()
    );
    Gateway::with_config(db, &yaml).await
}

async fn post(gw: &Gateway, path: &str, body: &Value) -> (u16, Value) {
    let resp = gw
        .request(path)
        .bearer_auth(MASTER)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn bedrock_calls_are_signed_converse_requests() {
    let db = TestDb::sqlite();
    let fake = FakeBedrock::start().await;
    let gw = bedrock_gateway(&db, &fake).await;
    let body = json!({"model": "claude", "max_tokens": 50, "temperature": 0.2, "stop": ["END"],
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
    let (st, v) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(st, 200, "{v}");
    let r = fake.last_request().unwrap();
    assert!(r.signature_ok);
    assert_eq!(
        (r.operation.as_str(), r.model_id.as_str()),
        ("converse", CLAUDE)
    );
    assert_eq!(r.body["system"], json!([{"text": "Be brief."}]));
    assert_eq!(
        r.body["inferenceConfig"],
        json!({"maxTokens": 50, "temperature": 0.2, "stopSequences": ["END"]})
    );
    assert_eq!(
        r.body["messages"],
        json!([{"role": "user", "content": [{"text": "hi"}]}])
    );
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "authorization"
            && v.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")));
    assert_eq!(fake.signature_failures(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn bedrock_embeddings_through_invoke_model() {
    let db = TestDb::sqlite();
    let fake = FakeBedrock::start().await;
    let gw = bedrock_gateway(&db, &fake).await;
    let (st, v) = post(
        &gw,
        "/v1/embeddings",
        &json!({"model": "titan", "input": "hello there", "dimensions": 4}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["data"][0]["embedding"].as_array().unwrap().len(),
        4,
        "{v}"
    );
    assert_eq!(v["usage"]["prompt_tokens"], 2, "{v}");
    let r = fake.last_request().unwrap();
    assert_eq!(
        (r.operation.as_str(), &r.body),
        (
            "invoke",
            &json!({"inputText": "hello there", "dimensions": 4})
        )
    );
    let (st, v) = post(
        &gw,
        "/v1/embeddings",
        &json!({"model": "titan", "input": ["a", "b"]}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("one input per request"), "{v}");
    assert_eq!(fake.calls_to("invoke"), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_bedrock_stream_exception_ends_the_stream_with_an_error_event() {
    let db = TestDb::sqlite();
    let fake = FakeBedrock::start().await;
    fake.set_stream_exception(Some(("throttlingException", "Too many tokens")));
    let gw = bedrock_gateway(&db, &fake).await;
    let body =
        json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(MASTER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap();
    let v: Value = serde_json::from_str(last).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Too many tokens")),
        "{text}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn bedrock_without_credentials_answers_401_naming_the_parameter() {
    let db = TestDb::sqlite();
    let fake = FakeBedrock::start().await;
    let gw = bedrock_gateway(&db, &fake).await;
    if std::env::var("AWS_ACCESS_KEY_ID").is_ok() {
        eprintln!(
            "AWS_ACCESS_KEY_ID is set in this environment; the keyless case cannot be tested"
        );
        gw.stop().await;
        return;
    }
    let body = json!({"model": "keyless", "messages": [{"role": "user", "content": "hi"}]});
    let (st, v) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(st, 401, "{v}");
    assert!(v.to_string().contains("aws_access_key_id"), "{v}");
    assert_eq!(fake.calls(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn vertex_fetches_one_token_and_calls_vertex_paths() {
    let db = TestDb::sqlite();
    let gemini = FakeUpstream::start_as(Wire::Gemini).await;
    let front = FakeVertex::start(&gemini.url()).await;
    let yaml = format!(
        "model_list:\n\
         \x20 - model_name: g\n    litellm_params: {{model: vertex_ai/gemini-2.5-flash, api_base: \"{}\", vertex_project: proj-1, vertex_location: europe-west4, vertex_credentials: \"{}\"}}\n\
         \x20 - model_name: nocreds\n    litellm_params: {{model: vertex_ai/gemini-2.5-flash, api_base: \"{}\", vertex_project: proj-1, vertex_credentials: /nonexistent/sa.json}}\n",
        front.url(),
        front.credentials_path(),
        front.url()
    );
    let gw = Gateway::with_config(&db, &yaml).await;
    for stream in [false, true, false] {
        let body = json!({"model": "g", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        let resp = gw
            .request("/v1/chat/completions")
            .bearer_auth(MASTER)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        resp.text().await.unwrap();
    }
    assert_eq!(front.token_calls(), 1);
    assert_eq!(
        front.paths(),
        vec![
            "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
            "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
            "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
        ]
    );
    let body = json!({"model": "nocreds", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (st, v) = post(&gw, "/v1/messages", &body).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"]["type"], "authentication_error", "{v}");
    assert!(v.to_string().contains("/nonexistent/sa.json"), "{v}");
    gw.stop().await;
}
