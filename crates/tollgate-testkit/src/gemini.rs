//! The fake's Gemini wire (AI Studio, as Google documents it):
//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (`alt=sse` for
//! server-sent events, else a JSON array), `:embedContent` and `:batchEmbedContents`. Requires
//! `x-goog-api-key` (or `?key=`); errors use `{"error": {"code", "message", "status"}}`.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::openai::server::{Ctx, Req};
use crate::openai::sse;

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

pub(crate) fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        json!({"error": {"code": status, "message": message, "status": status_name(status)}});
    (code, Json(body)).into_response()
}

pub(crate) fn injected_error(status: u16, retry_after: u64) -> Response {
    let mut resp = error(status, &format!("Injected {status} by the fake upstream."));
    if status == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    resp
}

/// The text of the last `user` content.
fn last_user_text(body: &Value) -> Option<String> {
    let c = body
        .get("contents")?
        .as_array()?
        .iter()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user")?;
    Some(
        c.get("parts")?
            .as_array()?
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
    )
}

pub(crate) fn dispatch(ctx: &Ctx, req: &Req<'_>, body: serde_json::Result<Value>) -> Response {
    if req.header("x-goog-api-key").is_none() && req.query_param("key").is_none() {
        return error(
            403,
            "Method doesn't allow unregistered callers. Please use an API key.",
        );
    }
    let Ok(body) = body else {
        return error(400, "Invalid JSON payload received.");
    };
    let rest = req.path.strip_prefix("/v1beta/models/").unwrap_or_default();
    let Some((model, method)) = rest.split_once(':') else {
        return error(404, "Not found");
    };
    if *req.method != Method::POST {
        return error(404, "Not found");
    }
    match method {
        "generateContent" => {
            Json(answer(ctx, model, &body, true).concat_response()).into_response()
        }
        "streamGenerateContent" => stream(ctx, model, &body, req.query_param("alt") == Some("sse")),
        "embedContent" => Json(json!({"embedding": {"values": vector(ctx, 0)}})).into_response(),
        "batchEmbedContents" => {
            let n = body
                .get("requests")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let list: Vec<Value> = (0..n).map(|i| json!({"values": vector(ctx, i)})).collect();
            Json(json!({"embeddings": list})).into_response()
        }
        _ => error(404, &format!("Method {method} not found for model {model}")),
    }
}

fn vector(ctx: &Ctx, i: usize) -> Vec<f64> {
    (0..ctx.knobs.embedding_dims)
        .map(|d| ((i + d) % 7) as f64 / 7.0)
        .collect()
}

/// The pieces of one answer: parts per chunk, the finish reason, the usage.
struct Answer {
    chunks: Vec<Value>,
    usage: Value,
    model: String,
    id: String,
}

impl Answer {
    fn frame(&self, parts: Option<&Value>, last: bool) -> Value {
        let mut cand = json!({"content": {"role": "model", "parts": parts.cloned().unwrap_or_else(|| json!([]))}, "index": 0});
        if last {
            cand["finishReason"] = json!("STOP");
        }
        json!({"candidates": [cand], "usageMetadata": self.usage, "modelVersion": self.model, "responseId": self.id})
    }

    fn concat_response(&self) -> Value {
        let mut parts = Vec::new();
        for c in &self.chunks {
            let text = c.get("text").and_then(Value::as_str);
            match (
                text,
                parts.last_mut().and_then(|p: &mut Value| p.get_mut("text")),
            ) {
                (Some(t), Some(Value::String(prev))) => prev.push_str(t),
                _ => parts.push(c.clone()),
            }
        }
        self.frame(Some(&Value::Array(parts)), true)
    }
}

fn answer(ctx: &Ctx, model: &str, body: &Value, _whole: bool) -> Answer {
    let k = &ctx.knobs;
    let tool = body
        .pointer("/tools/0/functionDeclarations/0/name")
        .and_then(Value::as_str)
        .filter(|_| k.tool_calls);
    let chunks = match tool {
        Some(name) => {
            let args: Value = serde_json::from_str(&k.tool_arguments).unwrap_or_else(|_| json!({}));
            vec![json!({"functionCall": {"name": name, "args": args}})]
        }
        None => sse::split(&k.reply_text(last_user_text(body)), k.chunks)
            .into_iter()
            .map(|t| json!({"text": t}))
            .collect(),
    };
    let usage = json!({
        "promptTokenCount": k.prompt_tokens,
        "candidatesTokenCount": k.completion_tokens.saturating_sub(k.reasoning_tokens),
        "thoughtsTokenCount": k.reasoning_tokens,
        "cachedContentTokenCount": k.cached_tokens,
        "totalTokenCount": k.prompt_tokens + k.completion_tokens,
    });
    Answer {
        chunks,
        usage,
        model: model.to_owned(),
        id: format!("resp_fake_{}", ctx.n),
    }
}

fn stream(ctx: &Ctx, model: &str, body: &Value, sse_wanted: bool) -> Response {
    let a = answer(ctx, model, body, false);
    let n = a.chunks.len();
    let frames: Vec<Value> = a
        .chunks
        .iter()
        .enumerate()
        .map(|(i, c)| a.frame(Some(&json!([c])), i + 1 == n))
        .collect();
    if !sse_wanted {
        return Json(Value::Array(frames)).into_response();
    }
    sse::response(frames.iter().map(sse::data).collect(), ctx.pacing())
}
