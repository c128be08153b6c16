//! Anthropic's format in: `POST /v1/messages` to any provider (passed through to Anthropic
//! deployments, translated through the canonical model to the others), with streams in
//! Anthropic's event format, and `POST /v1/messages/count_tokens`. Errors on these routes are
//! rendered in Anthropic's envelope by [`crate::http::dialect`].

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use tollgate_llm::adapter::{Endpoint, Format, Provider as Adapter};
use tollgate_llm::LlmError;

use super::call::CallKind;
use super::{access, respond, run};
use crate::auth::Principal;
use crate::http::{Error, Result};
use crate::router::{Deployment, Provider};
use crate::spend::pricing;
use crate::state::AppState;

/// POST /v1/messages
pub async fn messages(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(run(&state, p, CallKind::Messages, body, None).await)
}

/// POST /v1/messages/count_tokens: `{"input_tokens": n}`, from the provider where it counts
/// (Anthropic), otherwise counted locally with the model's tokenizer (system, messages, tools).
pub async fn count_tokens(State(state): State<AppState>, p: Principal, body: Bytes) -> Response {
    respond(count(&state, &p, &body).await)
}

async fn count(state: &AppState, p: &Principal, body: &[u8]) -> Result<Response> {
    let body: Value = crate::http::extract::parse_json(body)?;
    let requested = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            Error::bad_field("model", "model is required: pass the model to count for")
        })?;
    let model = p
        .key
        .as_ref()
        .and_then(|a| a.key.aliases.get(requested))
        .and_then(Value::as_str)
        .unwrap_or(requested);
    if let Some(a) = &p.key {
        access::check_model(a, model)?;
    }
    let deployment = state.router().pick(model).ok_or_else(|| {
        Error::bad_field(
            "model",
            format!("/v1/messages/count_tokens: Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key."),
        )
    })?;
    let req = tollgate_llm::anthropic::request_from_anthropic(&body)
        .map_err(|e| Error::bad_request(e.to_string()))?;
    if let Provider::Native(n) = &deployment.provider {
        if n.provider.wire.format() == Some(Format::Anthropic) {
            match upstream_count(state, &n.provider, &deployment, &body).await {
                Ok(n) => return Ok(counted(n)),
                Err(e) => {
                    tracing::debug!(error = %e, "upstream token count failed; counting locally")
                }
            }
        }
    }
    let upstream_model = &deployment.target.model;
    let openai = tollgate_llm::openai::request_to_openai(&req);
    let mut n = pricing::count_message_tokens(upstream_model, &openai["messages"]);
    if let Some(tools) = openai.get("tools") {
        n += pricing::count_tokens(upstream_model, &tools.to_string());
    }
    Ok(counted(n))
}

fn counted(n: u64) -> Response {
    axum::response::IntoResponse::into_response(Json(json!({"input_tokens": n})))
}

/// Asks the provider's own counter (Anthropic's `/v1/messages/count_tokens`).
async fn upstream_count(
    state: &AppState,
    provider: &Adapter,
    d: &Deployment,
    body: &Value,
) -> std::result::Result<u64, LlmError> {
    let mut b = serde_json::Map::new();
    b.insert("model".into(), Value::from(&*d.target.model));
    for k in ["messages", "system", "tools", "tool_choice", "thinking"] {
        if let Some(v) = body.get(k) {
            b.insert(k.into(), v.clone());
        }
    }
    let call = provider
        .call(Endpoint::CountTokens, &d.target, false, &Value::Object(b))
        .await?;
    let reply = state.upstream.send_json(call, d.target.timeout).await?;
    reply
        .body
        .get("input_tokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| LlmError::Protocol("token count without input_tokens".into()))
}
