//! The fake's Cohere v2 wire (as Cohere documents it): `POST /v2/chat` (a chat response, or
//! named SSE events `message-start`, `content-start`, `content-delta`, `content-end`,
//! `tool-plan-delta`, `tool-call-start`, `tool-call-delta`, `tool-call-end`, `message-end`) and
//! `POST /v2/embed`. Requires a bearer key; errors are `{"message": ...}`.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::openai::server::{first_tool_name, last_user_text, Ctx, Req};
use crate::openai::sse;

pub(crate) fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(json!({"id": "err_fake", "message": message}))).into_response()
}

pub(crate) fn injected_error(status: u16, retry_after: u64) -> Response {
    let mut resp = error(status, &format!("Injected {status} by the fake upstream."));
    if status == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    resp
}

pub(crate) fn dispatch(ctx: &Ctx, req: &Req<'_>, body: serde_json::Result<Value>) -> Response {
    if !req
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer "))
    {
        return error(401, "no api key supplied");
    }
    let Ok(body) = body else {
        return error(400, "invalid request: body is not valid JSON");
    };
    if body.get("model").and_then(Value::as_str).is_none() {
        return error(400, "invalid request: model must be specified");
    }
    match (*req.method == Method::POST, req.path) {
        (true, "/v2/chat") => chat(ctx, &body),
        (true, "/v2/embed") => embed(ctx, &body),
        _ => error(404, "Not found"),
    }
}

fn usage(ctx: &Ctx) -> Value {
    let k = &ctx.knobs;
    let t = json!({"input_tokens": k.prompt_tokens, "output_tokens": k.completion_tokens});
    json!({"billed_units": t, "tokens": t})
}

fn chat(ctx: &Ctx, body: &Value) -> Response {
    let k = &ctx.knobs;
    let tool = first_tool_name(body).filter(|_| k.tool_calls);
    let text = k.reply_text(last_user_text(body.get("messages")));
    let call_id = format!("call_fake_{}", ctx.n);
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let (message, finish) = match &tool {
            Some(name) => (
                json!({"role": "assistant", "tool_plan": "I will call the tool.", "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": k.tool_arguments}}]}),
                "TOOL_CALL",
            ),
            None => (
                json!({"role": "assistant", "content": [{"type": "text", "text": text}]}),
                "COMPLETE",
            ),
        };
        return Json(json!({"id": format!("chat_fake_{}", ctx.n), "finish_reason": finish, "message": message, "usage": usage(ctx)})).into_response();
    }
    let ev = |kind: &str, mut v: Value| {
        v["type"] = json!(kind);
        sse::event(kind, &v)
    };
    let mut frames = vec![ev(
        "message-start",
        json!({"id": format!("chat_fake_{}", ctx.n), "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
    )];
    let finish = match &tool {
        Some(name) => {
            frames.push(ev(
                "tool-plan-delta",
                json!({"delta": {"message": {"tool_plan": "I will call the tool."}}}),
            ));
            frames.push(ev("tool-call-start", json!({"index": 0, "delta": {"message": {"tool_calls": {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}}}})));
            for piece in sse::split(&k.tool_arguments, k.chunks) {
                frames.push(ev("tool-call-delta", json!({"index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})));
            }
            frames.push(ev("tool-call-end", json!({"index": 0})));
            "TOOL_CALL"
        }
        None => {
            frames.push(ev("content-start", json!({"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})));
            for piece in sse::split(&text, k.chunks) {
                frames.push(ev(
                    "content-delta",
                    json!({"index": 0, "delta": {"message": {"content": {"text": piece}}}}),
                ));
            }
            frames.push(ev("content-end", json!({"index": 0})));
            "COMPLETE"
        }
    };
    frames.push(ev(
        "message-end",
        json!({"delta": {"finish_reason": finish, "usage": usage(ctx)}}),
    ));
    sse::response(frames, ctx.pacing())
}

fn embed(ctx: &Ctx, body: &Value) -> Response {
    let texts = body
        .get("texts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let dims = ctx.knobs.embedding_dims;
    let vectors: Vec<Vec<f64>> = (0..texts.len())
        .map(|i| (0..dims).map(|d| ((i + d) % 5) as f64 / 5.0).collect())
        .collect();
    Json(json!({
        "id": format!("embed_fake_{}", ctx.n),
        "embeddings": {"float": vectors},
        "texts": texts,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": ctx.knobs.prompt_tokens}},
    }))
    .into_response()
}
