//! The fake Bedrock's handler: record, check the signature, serve an injected failure, then
//! answer Converse, ConverseStream or InvokeModel from the knobs.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tollgate_llm::bedrock::converse::{
    exception_frame, BlockStart, ContentBlock, ContentBlockDelta, ContentBlockStart,
    ContentBlockStop, ConverseOutput, ConverseRequest, ConverseResponse, Delta, Message,
    MessageStart, MessageStop, Role, StopReason, StreamEvent, StreamMetadata, TokenUsage, Tool,
    ToolUseBlock, ToolUseStart,
};
use tollgate_llm::bedrock::sigv4::{verify, Scope, SignableRequest};
use tollgate_llm::bedrock::transport::SERVICE;

use super::{BedrockRecorded, Knobs, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// `/model/{id}/{operation}` → (decoded id, operation).
fn route(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/model/")?;
    let (id, op) = rest.rsplit_once('/')?;
    let id = form_decode(id);
    Some((id, op.to_owned()))
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), v)
        })
        .collect();
    let signed = verify(
        &SignableRequest {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &header_list,
            body: &body,
        },
        &shared.credentials,
        Scope {
            region: &shared.region,
            service: SERVICE,
        },
    );
    let (model_id, operation) = route(uri.path()).unwrap_or_default();
    let parsed = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let (knobs, failure) = {
        let mut s = shared.lock();
        s.log.push(BedrockRecorded {
            path: uri.path().to_owned(),
            model_id: model_id.clone(),
            operation: operation.clone(),
            headers: header_list.clone(),
            body: parsed.clone(),
            signature_ok: signed.is_ok(),
        });
        let failure = match &mut s.failure {
            Some((status, remaining)) if signed.is_ok() => {
                let status = *status;
                *remaining -= 1;
                if *remaining == 0 {
                    s.failure = None;
                }
                Some(status)
            }
            _ => None,
        };
        (s.knobs.clone(), failure)
    };
    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }
    if let Err(e) = signed {
        let kind = if e.to_string().contains("Missing Authentication Token") {
            "MissingAuthenticationTokenException"
        } else {
            "InvalidSignatureException"
        };
        let message = match &e {
            tollgate_llm::LlmError::Status { message, .. } => message.clone(),
            other => other.to_string(),
        };
        return aws_error(403, kind, &message, None);
    }
    if let Some(status) = failure {
        return injected(status, &knobs);
    }
    if method != Method::POST {
        return aws_error(404, "UnknownOperationException", "Unknown operation", None);
    }
    match operation.as_str() {
        "converse" | "converse-stream" => {
            let req: ConverseRequest = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    let msg = format!("Malformed input request: {e}");
                    return aws_error(400, "ValidationException", &msg, None);
                }
            };
            if operation == "converse" {
                converse(&req, &knobs)
            } else {
                converse_stream(&req, &knobs)
            }
        }
        "invoke" => invoke(&model_id, &parsed, &knobs),
        _ => aws_error(404, "UnknownOperationException", "Unknown operation", None),
    }
}

/// AWS's error answer: status, `x-amzn-ErrorType` and `{"message": …}`.
fn aws_error(status: u16, kind: &str, message: &str, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(json!({ "message": message }))).into_response();
    let h = resp.headers_mut();
    let kind = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    if let Ok(v) = kind.parse() {
        h.insert("x-amzn-errortype", v);
    }
    if let Some(Ok(v)) = retry_after.map(|s| s.to_string().parse()) {
        h.insert("retry-after", v);
    }
    resp
}

fn injected(status: u16, knobs: &Knobs) -> Response {
    match status {
        400 => aws_error(
            400,
            "ValidationException",
            "The provided request is not valid",
            None,
        ),
        403 => aws_error(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            None,
        ),
        429 => aws_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            Some(knobs.retry_after_secs),
        ),
        503 => aws_error(
            503,
            "ServiceUnavailableException",
            "Service unavailable",
            None,
        ),
        s => aws_error(s, "InternalServerException", "Internal server error", None),
    }
}

/// The first tool the request offers, when the fake should call one.
fn tool_to_call(req: &ConverseRequest, knobs: &Knobs) -> Option<String> {
    if !knobs.tool_use {
        return None;
    }
    req.tool_config
        .as_ref()?
        .tools
        .iter()
        .find_map(|t| match t {
            Tool::ToolSpec(spec) => Some(spec.name.clone()),
            Tool::CachePoint(_) => None,
        })
}

fn usage(knobs: &Knobs) -> TokenUsage {
    TokenUsage {
        input_tokens: knobs.input_tokens,
        output_tokens: knobs.output_tokens,
        total_tokens: knobs.input_tokens + knobs.output_tokens,
        cache_read_input_tokens: knobs.cache_read,
        cache_write_input_tokens: knobs.cache_write,
    }
}

fn converse(req: &ConverseRequest, knobs: &Knobs) -> Response {
    let (content, stop_reason) = match tool_to_call(req, knobs) {
        Some(name) => (
            vec![ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "tooluse_fake1".into(),
                name,
                input: knobs.tool_input.clone(),
            })],
            StopReason::ToolUse,
        ),
        None => (
            vec![ContentBlock::Text(knobs.reply.clone())],
            StopReason::EndTurn,
        ),
    };
    let resp = ConverseResponse {
        output: ConverseOutput {
            message: Message {
                role: Role::Assistant,
                content,
            },
        },
        stop_reason,
        usage: usage(knobs),
        metrics: Some(tollgate_llm::bedrock::converse::Metrics { latency_ms: 1 }),
        additional_model_response_fields: None,
        trace: None,
    };
    axum::Json(resp).into_response()
}

/// `text` cut into `n` pieces on character boundaries.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn stream_events(req: &ConverseRequest, knobs: &Knobs) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::MessageStart(MessageStart {
        role: Role::Assistant,
    })];
    let tool = tool_to_call(req, knobs);
    let (deltas, stop_reason) = match &tool {
        Some(name) => {
            events.push(StreamEvent::ContentBlockStart(ContentBlockStart {
                content_block_index: 0,
                start: BlockStart::ToolUse(ToolUseStart {
                    tool_use_id: "tooluse_fake1".into(),
                    name: name.clone(),
                }),
            }));
            let input = knobs.tool_input.to_string();
            let d = pieces(&input, knobs.chunks)
                .into_iter()
                .map(|input| Delta::ToolUse { input });
            (d.collect::<Vec<_>>(), StopReason::ToolUse)
        }
        None => {
            let d = pieces(&knobs.reply, knobs.chunks)
                .into_iter()
                .map(Delta::Text);
            (d.collect(), StopReason::EndTurn)
        }
    };
    for delta in deltas {
        events.push(StreamEvent::ContentBlockDelta(ContentBlockDelta {
            content_block_index: 0,
            delta,
        }));
    }
    events.push(StreamEvent::ContentBlockStop(ContentBlockStop {
        content_block_index: 0,
    }));
    events.push(StreamEvent::MessageStop(MessageStop {
        stop_reason,
        additional_model_response_fields: None,
    }));
    events.push(StreamEvent::Metadata(StreamMetadata {
        usage: usage(knobs),
        metrics: Some(tollgate_llm::bedrock::converse::Metrics { latency_ms: 1 }),
        trace: None,
    }));
    events
}

fn converse_stream(req: &ConverseRequest, knobs: &Knobs) -> Response {
    let mut frames = Vec::new();
    let events = stream_events(req, knobs);
    for (i, event) in events.iter().enumerate() {
        if let (Some((kind, message)), 2) = (&knobs.stream_exception, i) {
            frames.push(exception_frame(kind, message));
            break;
        }
        match event.to_frame() {
            Ok(f) => frames.push(f),
            Err(e) => panic!("fake Bedrock: {e}"),
        }
    }
    // Each frame goes out in two HTTP chunks, cut mid-frame, so clients must reassemble.
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    for frame in frames {
        let wire = frame
            .encode()
            .unwrap_or_else(|e| panic!("fake Bedrock: {e}"));
        let cut = wire.len() / 2;
        chunks.push(Ok(Bytes::copy_from_slice(&wire[..cut])));
        chunks.push(Ok(Bytes::copy_from_slice(&wire[cut..])));
    }
    if let Some(n) = knobs.stall_after {
        chunks.truncate(n * 2);
    }
    let frames = tokio_stream::iter(chunks);
    let body = if knobs.stall_after.is_some() {
        Body::from_stream(tokio_stream::StreamExt::chain(
            frames,
            tokio_stream::pending(),
        ))
    } else {
        Body::from_stream(frames)
    };
    Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", "fake-request-id")
        .body(body)
        .unwrap_or_else(|e| panic!("fake Bedrock: {e}"))
}

fn invoke(model_id: &str, body: &Value, knobs: &Knobs) -> Response {
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(knobs.embedding_dims, |d| usize::try_from(d).unwrap_or(8));
    let vector =
        |seed: usize| -> Vec<f64> { (0..dims).map(|i| ((i + seed) % 7) as f64 / 7.0).collect() };
    if model_id.contains("titan-embed") {
        let Some(text) = body.get("inputText").and_then(Value::as_str) else {
            return aws_error(
                400,
                "ValidationException",
                "Malformed input request: required key [inputText] not found",
                None,
            );
        };
        let tokens = text.split_whitespace().count().max(1);
        axum::Json(json!({"embedding": vector(0), "inputTextTokenCount": tokens})).into_response()
    } else if model_id.contains("cohere.embed") {
        let Some(texts) = body.get("texts").and_then(Value::as_array) else {
            return aws_error(
                400,
                "ValidationException",
                "Malformed input request: required key [texts] not found",
                None,
            );
        };
        let embeddings: Vec<Vec<f64>> = (0..texts.len()).map(vector).collect();
        axum::Json(json!({
            "embeddings": embeddings, "id": "fake-embed-1",
            "response_type": "embeddings_floats", "texts": texts
        }))
        .into_response()
    } else {
        let msg = format!("The fake does not serve InvokeModel for {model_id}");
        aws_error(400, "ValidationException", &msg, None)
    }
}
