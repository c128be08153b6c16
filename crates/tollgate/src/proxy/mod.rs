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
mod relay;
mod upstream;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tollgate_llm::mock;

pub use access::may_list;
pub use customers::CustomerCache;
pub use messages::{count_tokens, messages};

use self::admit::Admitted;
use self::call::{finish, CallKind, Outcome};
use crate::auth::Principal;
use crate::http::{Error, Result};
use crate::spend::pricing::Usage;
use crate::state::AppState;

/// POST /v1/chat/completions
pub async fn chat(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Chat, &body, None).await)
}

/// POST /openai/deployments/{model}/chat/completions (Azure clients).
pub async fn azure_chat(
    State(state): State<AppState>,
    Path(model): Path<String>,
    p: Principal,
    body: Bytes,
) -> Response {
    respond(run(&state, p, CallKind::Chat, &body, Some(model)).await)
}

/// POST /v1/completions
pub async fn completions(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Completion, &body, None).await)
}

/// POST /v1/embeddings
pub async fn embeddings(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Embedding, &body, None).await)
}

/// POST /v1/responses
pub async fn responses(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Responses, &body, None).await)
}

pub(crate) fn respond(r: Result<Response>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn run(
    state: &AppState,
    p: Principal,
    kind: CallKind,
    body: &[u8],
    path_model: Option<String>,
) -> Result<Response> {
    let body: Value = crate::http::extract::parse_json(body)?;
    if !body.is_object() {
        return Err(Error::bad_request("The request body must be a JSON object"));
    }
    let stream =
        kind != CallKind::Embedding && body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let admitted = admit::admit(state, &p, kind, body, path_model).await?;
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
    let upstream_started = std::time::Instant::now();
    let (reply, tried) = attempts::run(state, &mut meta, &plan, |d| {
        let body = attempts::body_for(&request, kind, &d);
        let call_id = call_id.clone();
        async move { upstream::json(state, kind, &d, body, &call_id).await }
    })
    .await;
    meta.tried = tried;
    let upstream_ms = upstream_started.elapsed().as_secs_f64() * 1000.0;
    let (body, upstream_headers) = match reply {
        Ok(r) => (r.body, r.headers),
        Err(e) => {
            let outcome = Outcome {
                success: false,
                error: Some((e.status(), e.to_string())),
                ..Outcome::default()
            };
            finish(state, &meta, outcome).await;
            drop(permit);
            return Err(upstream_error(&e));
        }
    };
    let usage = usage_of(kind, &body);
    let completion_text = if usage.is_none() {
        reply_text(&body)
    } else {
        String::new()
    };
    let outcome = Outcome {
        success: true,
        usage,
        completion_text,
        ..Outcome::default()
    };
    let cost = finish(state, &meta, outcome).await;
    drop(permit);
    let mut response = axum::Json(body).into_response();
    headers::upstream(response.headers_mut(), &upstream_headers);
    headers::set(
        state,
        response.headers_mut(),
        &meta,
        Some(cost),
        Some(upstream_ms),
        &remaining,
    );
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

/// The usage in a JSON answer, if it has one.
fn usage_of(kind: CallKind, body: &Value) -> Option<Usage> {
    body.get("usage").filter(|u| u.is_object())?;
    Some(match kind {
        CallKind::Messages => Usage::from_anthropic(body),
        _ => Usage::from_openai(body),
    })
}

/// An upstream failure, passed on in the OpenAI envelope with the upstream's status.
pub fn upstream_error(e: &tollgate_llm::LlmError) -> Error {
    Error::Upstream {
        status: e.status(),
        message: e.to_string(),
    }
}
