//! The signed Bedrock transport against `FakeBedrock`: Converse, ConverseStream and InvokeModel,
//! signature checks (right and wrong keys, session tokens) and AWS errors mapped to statuses.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::json;
use tollgate_llm::bedrock::converse::{
    ContentBlock, ConverseRequest, Delta, Message, Role, StopReason, StreamEvent, Tool, ToolChoice,
    ToolConfig, ToolInputSchema, ToolSpec,
};
use tollgate_llm::bedrock::embed::{
    CohereEmbedRequest, CohereEmbedResponse, TitanEmbedRequest, TitanEmbedResponse,
};
use tollgate_llm::bedrock::sigv4::Credentials;
use tollgate_llm::bedrock::{Bedrock, BedrockParams};
use tollgate_testkit::FakeBedrock;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const T: Duration = Duration::from_secs(10);

fn bedrock_for(fake: &FakeBedrock, creds: Credentials) -> Bedrock {
    let params = BedrockParams {
        aws_access_key_id: Some(creds.access_key_id),
        aws_secret_access_key: Some(creds.secret_access_key),
        aws_session_token: creds.session_token,
        aws_region_name: Some(fake.region()),
        api_base: Some(fake.url()),
    };
    Bedrock::resolve(&params, |_| None).unwrap()
}

fn hello() -> ConverseRequest {
    ConverseRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text("Hi".into())],
        }],
        ..Default::default()
    }
}

fn with_tool() -> ConverseRequest {
    ConverseRequest {
        tool_config: Some(ToolConfig {
            tools: vec![Tool::ToolSpec(ToolSpec {
                name: "get_weather".into(),
                description: None,
                input_schema: ToolInputSchema::Json(json!({"type": "object"})),
            })],
            tool_choice: Some(ToolChoice::Tool {
                name: "get_weather".into(),
            }),
        }),
        ..hello()
    }
}

#[tokio::test]
async fn converse_is_signed_and_answered() {
    let fake = FakeBedrock::start().await;
    fake.set_usage(7, 3);
    fake.set_cache_usage(Some(4), Some(2));
    let b = bedrock_for(&fake, fake.credentials());
    let resp = b
        .converse(&reqwest::Client::new(), MODEL, &hello(), T)
        .await
        .unwrap();
    assert_eq!(resp.stop_reason, StopReason::EndTurn);
    assert_eq!(
        resp.output.message.content,
        [ContentBlock::Text(
            tollgate_testkit::bedrock::DEFAULT_BEDROCK_REPLY.into()
        )]
    );
    assert_eq!(
        (
            resp.usage.input_tokens,
            resp.usage.output_tokens,
            resp.usage.total_tokens
        ),
        (7, 3, 10)
    );
    assert_eq!(resp.usage.cache_read_input_tokens, Some(4));
    assert_eq!(resp.usage.cache_write_input_tokens, Some(2));
    let rec = fake.last_request().unwrap();
    assert!(rec.signature_ok);
    assert_eq!(rec.model_id, MODEL);
    assert_eq!(
        rec.path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(rec.body["messages"][0]["content"][0]["text"], "Hi");
    assert_eq!(fake.calls_to("converse"), 1);
    let has = |name: &str| rec.headers.iter().any(|(n, _)| n == name);
    assert!(has("x-amz-date") && has("x-amz-content-sha256") && has("authorization"));
}

#[tokio::test]
async fn session_tokens_are_sent_and_signed() {
    let creds = Credentials {
        session_token: Some("FQoGZXIvYXdzEXAMPLETOKEN".into()),
        ..FakeBedrock::start().await.credentials()
    };
    let fake = FakeBedrock::start_with(creds.clone(), "eu-west-3").await;
    let b = bedrock_for(&fake, creds);
    b.converse(&reqwest::Client::new(), MODEL, &hello(), T)
        .await
        .unwrap();
    let rec = fake.last_request().unwrap();
    assert!(rec
        .headers
        .iter()
        .any(|(n, v)| n == "x-amz-security-token" && v == "FQoGZXIvYXdzEXAMPLETOKEN"));
    let auth = &rec
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    assert!(auth.contains("/eu-west-3/bedrock/aws4_request"), "{auth}");
    assert!(auth.contains("x-amz-security-token"), "{auth}");
}

#[tokio::test]
async fn a_wrong_secret_gets_aws_403() {
    let fake = FakeBedrock::start().await;
    let mut creds = fake.credentials();
    creds.secret_access_key = "not-the-secret".into();
    let b = bedrock_for(&fake, creds);
    let err = b
        .converse(&reqwest::Client::new(), MODEL, &hello(), T)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(
        err.to_string().contains("InvalidSignatureException"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("signature we calculated does not match"),
        "{err}"
    );
    assert_eq!(fake.signature_failures(), 1);
}

#[tokio::test]
async fn injected_failures_map_to_their_status() {
    let fake = FakeBedrock::start().await;
    fake.set_retry_after(2);
    let b = bedrock_for(&fake, fake.credentials());
    let http = reqwest::Client::new();
    for (status, kind) in [
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
    ] {
        fake.fail_next(status, 1);
        let err = b.converse(&http, MODEL, &hello(), T).await.unwrap_err();
        assert_eq!(err.status(), status);
        assert!(err.to_string().contains(kind), "{err}");
        if let tollgate_llm::LlmError::Status { retry_after, .. } = &err {
            assert_eq!(
                *retry_after,
                (status == 429).then_some(Duration::from_secs(2))
            );
        }
        assert_eq!(err.is_retryable(), status == 429 || status == 500);
    }
    // The failures are used up: the next call succeeds.
    b.converse(&http, MODEL, &hello(), T).await.unwrap();
    assert_eq!(fake.calls(), 5);
}

#[tokio::test]
async fn tool_use_answers() {
    let fake = FakeBedrock::start().await;
    fake.set_tool_use(true);
    let b = bedrock_for(&fake, fake.credentials());
    let resp = b
        .converse(&reqwest::Client::new(), MODEL, &with_tool(), T)
        .await
        .unwrap();
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
    let ContentBlock::ToolUse(call) = &resp.output.message.content[0] else {
        panic!("{resp:?}")
    };
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.input, json!({"city": "Paris"}));
    assert_eq!(
        fake.last_request().unwrap().body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
}

async fn collect(
    b: &Bedrock,
    req: &ConverseRequest,
) -> Vec<Result<StreamEvent, tollgate_llm::LlmError>> {
    let stream = b
        .converse_stream(&reqwest::Client::new(), MODEL, req, T)
        .await
        .unwrap();
    stream.collect().await
}

#[tokio::test]
async fn converse_stream_decodes_frames_split_across_chunks() {
    let fake = FakeBedrock::start().await;
    fake.set_chunks(4);
    fake.set_usage(5, 6);
    let b = bedrock_for(&fake, fake.credentials());
    let events: Vec<StreamEvent> = collect(&b, &hello())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(matches!(events[0], StreamEvent::MessageStart(_)));
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentBlockDelta(d) => match &d.delta {
                Delta::Text(t) => Some(t.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(text, tollgate_testkit::bedrock::DEFAULT_BEDROCK_REPLY);
    let StreamEvent::MessageStop(stop) = &events[events.len() - 2] else {
        panic!("{events:?}")
    };
    assert_eq!(stop.stop_reason, StopReason::EndTurn);
    let StreamEvent::Metadata(meta) = events.last().unwrap() else {
        panic!("{events:?}")
    };
    assert_eq!(meta.usage.total_tokens, 11);
    assert_eq!(fake.calls_to("converse-stream"), 1);
    let rec = fake.last_request().unwrap();
    assert!(rec.signature_ok);
    assert!(rec
        .headers
        .iter()
        .any(|(n, v)| n == "accept" && v == "application/vnd.amazon.eventstream"));
}

#[tokio::test]
async fn streamed_tool_use_arrives_as_input_pieces() {
    let fake = FakeBedrock::start().await;
    fake.set_tool_use(true);
    fake.set_tool_input(json!({"city": "Lisbon", "unit": "c"}));
    let b = bedrock_for(&fake, fake.credentials());
    let events: Vec<StreamEvent> = collect(&b, &with_tool())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let StreamEvent::ContentBlockStart(start) = &events[1] else {
        panic!("{events:?}")
    };
    let tollgate_llm::bedrock::converse::BlockStart::ToolUse(tool) = &start.start;
    assert_eq!(tool.name, "get_weather");
    let input: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentBlockDelta(d) => match &d.delta {
                Delta::ToolUse { input } => Some(input.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&input).unwrap(),
        json!({"city": "Lisbon", "unit": "c"})
    );
}

#[tokio::test]
async fn an_exception_frame_ends_the_stream_with_its_error() {
    let fake = FakeBedrock::start().await;
    fake.set_stream_exception(Some(("throttlingException", "Too many tokens")));
    let b = bedrock_for(&fake, fake.credentials());
    let items = collect(&b, &hello()).await;
    assert!(items[0].is_ok() && items[1].is_ok());
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.status(), 429);
    assert!(err.to_string().contains("Too many tokens"), "{err}");
    assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
}

#[tokio::test]
async fn a_failed_stream_request_is_an_error_before_any_event() {
    let fake = FakeBedrock::start().await;
    fake.fail_next(429, 1);
    let b = bedrock_for(&fake, fake.credentials());
    let err = b
        .converse_stream(&reqwest::Client::new(), MODEL, &hello(), T)
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 429);
}

#[tokio::test]
async fn titan_and_cohere_embeddings_through_invoke_model() {
    let fake = FakeBedrock::start().await;
    let b = bedrock_for(&fake, fake.credentials());
    let http = reqwest::Client::new();
    let req = TitanEmbedRequest {
        input_text: "hello there world".into(),
        dimensions: Some(4),
        normalize: Some(true),
    };
    let resp: TitanEmbedResponse = b
        .invoke(&http, "amazon.titan-embed-text-v2:0", &req, T)
        .await
        .unwrap();
    assert_eq!(resp.embedding.len(), 4);
    assert_eq!(resp.input_text_token_count, 3);
    let rec = fake.last_request().unwrap();
    assert_eq!(rec.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(
        rec.body,
        json!({"inputText": "hello there world", "dimensions": 4, "normalize": true})
    );
    let req = CohereEmbedRequest {
        texts: vec!["a".into(), "b".into()],
        input_type: "search_document".into(),
        truncate: None,
        embedding_types: None,
    };
    let resp: CohereEmbedResponse = b
        .invoke(&http, "cohere.embed-english-v3", &req, T)
        .await
        .unwrap();
    assert_eq!(resp.embeddings.as_array().unwrap().len(), 2);
    assert_eq!(fake.calls_to("invoke"), 2);
    assert_eq!(fake.signature_failures(), 0);
}

#[tokio::test]
async fn slow_answers_time_out() {
    let fake = FakeBedrock::start().await;
    fake.set_latency(Duration::from_millis(500));
    let b = bedrock_for(&fake, fake.credentials());
    let err = b
        .converse(
            &reqwest::Client::new(),
            MODEL,
            &hello(),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 408);
}

#[tokio::test]
async fn the_fake_refuses_unsigned_requests_and_bad_bodies() {
    let fake = FakeBedrock::start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/model/x/converse", fake.url()))
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let kind = resp.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        kind.starts_with("MissingAuthenticationTokenException:"),
        "{kind}"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"message": "Missing Authentication Token"}));
    // Signed, but not a Converse body: AWS's 400 ValidationException.
    let b = bedrock_for(&fake, fake.credentials());
    let err = b
        .invoke::<serde_json::Value>(
            &reqwest::Client::new(),
            "meta.llama3-8b-instruct-v1:0",
            &json!({"prompt": "x"}),
            T,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("ValidationException"), "{err}");
    assert_eq!(fake.signature_failures(), 1);
}
