//! Inference: OpenAI-format requests in, to the deployment the router picks, with every check on
//! the hot path done from memory (key cache, live spend, rate counters), and the call's spend
//! recorded off the request path when it ends.

mod access;
mod admit;
mod attempts;
pub mod call;
mod customers;
mod headers;
mod messages;
pub mod models;
mod passthrough;
mod relay;
pub mod request;
mod upstream;
mod watch;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tollgate_llm::mock;

pub use access::may_list;
pub use customers::CustomerCache;
pub use messages::{count_tokens, messages};

use self::admit::Admitted;
use self::call::{finish, record, settle, CallKind, Outcome};
use self::request::ClientRequest;
use self::upstream::AnswerBody;
use crate::auth::Principal;
use crate::http::{Error, Result};
use crate::state::AppState;

/// POST /v1/chat/completions
pub async fn chat(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Chat, body, None).await)
}

/// POST /openai/deployments/{model}/chat/completions (Azure clients).
pub async fn azure_chat(
    State(state): State<AppState>,
    Path(model): Path<String>,
    p: Principal,
    body: Bytes,
) -> Response {
    respond(run(&state, p, CallKind::Chat, body, Some(model)).await)
}

/// POST /v1/completions
pub async fn completions(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Completion, body, None).await)
}

/// POST /v1/embeddings
pub async fn embeddings(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Embedding, body, None).await)
}

/// POST /v1/responses
pub async fn responses(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Responses, body, None).await)
}

pub(crate) fn respond(r: Result<Response>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn run(
    state: &AppState,
    p: Principal,
    kind: CallKind,
    body: Bytes,
    path_model: Option<String>,
) -> Result<Response> {
    let request = ClientRequest::parse(body)?;
    let stream = kind != CallKind::Embedding && request.is_true("stream");
    let admitted = admit::admit(state, &p, kind, request, path_model).await?;
    if stream {
        relay::stream(state, admitted).await
    } else {
        call_json(state, admitted).await
    }
}

/// A non-streaming call, with retries and fallbacks.
async fn call_json(state: &AppState, a: Admitted) -> Result<Response> {
    let Admitted {
        mut meta,
        permit,
        remaining,
        ..
    } = a;
    let plan = attempts::plan(state, &meta);
    let (kind, call_id, request) = (meta.kind, meta.call_id.clone(), meta.request.clone());
    // Borrowed by every attempt (the call's meta is lent to the attempts meanwhile).
    let (call_id, request) = (&call_id, &request);
    let upstream_started = std::time::Instant::now();
    let (reply, tried) = attempts::run(state, &mut meta, &plan, |d| async move {
        upstream::json(state, kind, &d, request, call_id).await
    })
    .await;
    meta.tried = tried;
    let upstream_took = upstream_started.elapsed();
    let answer = match reply {
        Ok(a) => a,
        Err(e) => {
            let outcome = Outcome {
                success: false,
                error: Some((e.status(), e.to_string())),
                ..Outcome::default()
            };
            finish(state, meta, outcome).await;
            drop(permit);
            return Err(upstream_error(&e));
        }
    };
    let completion_text = if answer.usage.is_none() {
        reply_text(&answer.value())
    } else {
        String::new()
    };
    let outcome = Outcome {
        success: true,
        usage: answer.usage,
        completion_text,
        ..Outcome::default()
    };
    let settled = settle(state, &meta, &outcome).await;
    let mut response = match answer.body {
        AnswerBody::Bytes(bytes) => Response::new(axum::body::Body::from(bytes)),
        AnswerBody::Json(v) => axum::Json(v).into_response(),
    };
    let body_len = http_body::Body::size_hint(response.body()).exact();
    *response.headers_mut() = headers::response(
        state,
        headers::Content::Json,
        &meta,
        Some(settled.cost),
        Some(upstream_took),
        body_len,
        &remaining,
    );
    headers::upstream(response.headers_mut(), &answer.headers);
    // The response goes out only once its spend event is durable.
    record(state, meta, outcome, settled).await;
    drop(permit);
    Ok(response)
}

pub(crate) fn mock_reply(kind: CallKind, body: &Value, model: &str, id: &str) -> Value {
    match kind {
        CallKind::Chat | CallKind::Messages => mock::chat(body, model, &format!("chatcmpl-{id}")),
        CallKind::Completion => mock::completion(body, model, &format!("cmpl-{id}")),
        CallKind::Embedding => mock::embedding(body, model),
        CallKind::Responses => mock::responses(body, model, &format!("resp_{id}")),
    }
}

/// The text of a JSON answer (chat, completion or Responses API), for counting its tokens.
fn reply_text(body: &Value) -> String {
    let mut out = String::new();
    for choice in body
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = choice
            .pointer("/message/content")
            .or_else(|| choice.get("text"));
        if let Some(t) = text.and_then(Value::as_str) {
            out.push_str(t);
        }
    }
    if body.get("type").and_then(Value::as_str) == Some("message") {
        for block in body
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = block.get("text").and_then(Value::as_str) {
                out.push_str(t);
            }
        }
    }
    for item in body
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for part in item
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = part.get("text").and_then(Value::as_str) {
                out.push_str(t);
            }
        }
    }
    out
}

/// An upstream failure, passed on in the OpenAI envelope with the upstream's status.
pub fn upstream_error(e: &tollgate_llm::LlmError) -> Error {
    Error::Upstream {
        status: e.status(),
        message: e.to_string(),
    }
}
