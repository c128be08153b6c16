//! The fake's Anthropic wire (Messages API, as Anthropic documents it): `POST /v1/messages`
//! (a `message`, or named SSE events `message_start`, `content_block_start`, `ping`,
//! `content_block_delta` with `thinking_delta` / `signature_delta` / `text_delta` /
//! `input_json_delta`, `content_block_stop`, `message_delta`, `message_stop`) and
//! `POST /v1/messages/count_tokens`. Requires `x-api-key`, `anthropic-version` and
//! `max_tokens` like the real API; errors use `{"type": "error", "error": {...}}`.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::openai::server::{first_tool_name, last_user_text, Ctx, Req};
use crate::openai::sse;

/// Anthropic's error envelope.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (status, Json(body)).into_response()
}

pub(crate) fn injected_error(status: u16, retry_after: u64) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    let mut resp = error(
        code,
        kind,
        &format!("Injected {status} by the fake upstream."),
    );
    if status == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    resp
}

pub(crate) fn dispatch(ctx: &Ctx, req: &Req<'_>, body: serde_json::Result<Value>) -> Response {
    if req.header("x-api-key").is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    }
    if req.header("anthropic-version").is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let Ok(body) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "The request body is not valid JSON.",
        );
    };
    match (*req.method == Method::POST, req.path) {
        (true, "/v1/messages") => messages(ctx, &body),
        (true, "/v1/messages/count_tokens") => {
            Json(json!({"input_tokens": ctx.knobs.prompt_tokens})).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "not_found_error", "Not found"),
    }
}

fn usage(ctx: &Ctx) -> Value {
    let k = &ctx.knobs;
    json!({
        "input_tokens": k.prompt_tokens.saturating_sub(k.cached_tokens + k.cache_creation_tokens),
        "output_tokens": k.completion_tokens,
        "cache_creation_input_tokens": k.cache_creation_tokens,
        "cache_read_input_tokens": k.cached_tokens,
    })
}

fn messages(ctx: &Ctx, body: &Value) -> Response {
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    }
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "model: Field required",
        );
    };
    let tool = first_tool_name(body).filter(|_| ctx.knobs.tool_calls);
    let text = ctx.knobs.reply_text(last_user_text(body.get("messages")));
    let thinking = body.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled");
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return stream(ctx, model, tool, &text, thinking);
    }
    let mut content = Vec::new();
    if thinking {
        content.push(
            json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig_fake"}),
        );
    }
    let stop = match &tool {
        Some(name) => {
            let input: Value =
                serde_json::from_str(&ctx.knobs.tool_arguments).unwrap_or_else(|_| json!({}));
            content.push(json!({"type": "tool_use", "id": format!("toolu_fake_{}", ctx.n), "name": name, "input": input}));
            "tool_use"
        }
        None => {
            content.push(json!({"type": "text", "text": text}));
            "end_turn"
        }
    };
    Json(json!({
        "id": format!("msg_fake_{}", ctx.n), "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage(ctx),
    }))
    .into_response()
}

fn stream(ctx: &Ctx, model: &str, tool: Option<String>, text: &str, thinking: bool) -> Response {
    let ev = |kind: &str, mut v: Value| {
        v["type"] = json!(kind);
        sse::event(kind, &v)
    };
    let mut start_usage = usage(ctx);
    start_usage["output_tokens"] = json!(1);
    let mut frames = vec![
        ev(
            "message_start",
            json!({"message": {"id": format!("msg_fake_{}", ctx.n), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
        ),
        ev("ping", json!({})),
    ];
    let mut index = 0;
    let delta =
        |index: usize, d: Value| ev("content_block_delta", json!({"index": index, "delta": d}));
    if thinking {
        frames.push(ev(
            "content_block_start",
            json!({"index": index, "content_block": {"type": "thinking", "thinking": ""}}),
        ));
        frames.push(delta(
            index,
            json!({"type": "thinking_delta", "thinking": "Let me think."}),
        ));
        frames.push(delta(
            index,
            json!({"type": "signature_delta", "signature": "sig_fake"}),
        ));
        frames.push(ev("content_block_stop", json!({"index": index})));
        index += 1;
    }
    let stop = match tool {
        Some(name) => {
            frames.push(ev("content_block_start", json!({"index": index, "content_block": {"type": "tool_use", "id": format!("toolu_fake_{}", ctx.n), "name": name, "input": {}}})));
            for piece in sse::split(&ctx.knobs.tool_arguments, ctx.knobs.chunks) {
                frames.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": piece}),
                ));
            }
            "tool_use"
        }
        None => {
            frames.push(ev(
                "content_block_start",
                json!({"index": index, "content_block": {"type": "text", "text": ""}}),
            ));
            for piece in sse::split(text, ctx.knobs.chunks) {
                frames.push(delta(index, json!({"type": "text_delta", "text": piece})));
            }
            "end_turn"
        }
    };
    frames.push(ev("content_block_stop", json!({"index": index})));
    frames.push(ev("message_delta", json!({"delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": ctx.knobs.completion_tokens}})));
    frames.push(ev("message_stop", json!({})));
    sse::response(frames, ctx.pacing())
}
