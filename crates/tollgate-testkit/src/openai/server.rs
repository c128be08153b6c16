//! The fake's one handler: records the request, waits the configured latency, serves an injected
//! failure or dispatches on the path (with or without `/v1`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::state::{Knobs, Recorded, Shared, Wire};
use super::{chat, legacy, responses, sse};

/// The request as a wire's dispatcher sees it.
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
}

impl Req<'_> {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter's value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// What a route handler needs to know about the call it answers.
pub(crate) struct Ctx {
    /// The call's 1-based number, used in ids (`chatcmpl-3`).
    pub n: usize,
    pub knobs: Knobs,
    pub shared: Arc<Shared>,
}

impl Ctx {
    pub fn pacing(&self) -> sse::Pacing {
        sse::Pacing {
            delay: self.knobs.chunk_delay,
            stall_after: self.knobs.stall_after,
            shutdown: self.shared.shutdown.clone(),
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// The path without a leading `/v1`, so `/v1/models` and `/models` are one route.
pub(crate) fn route_of(path: &str) -> &str {
    match path.strip_prefix("/v1") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice::<Value>(&body)
    };
    let n = shared.record(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: parsed.as_ref().map_or(Value::Null, Clone::clone),
    });
    let knobs = shared.knobs();
    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }
    let wire = shared.wire;
    let retry = knobs.retry_after_secs;
    let mut resp = match shared.take_failure() {
        Some((status, Some(body))) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (code, axum::Json(body)).into_response()
        }
        Some((status, None)) => match wire {
            Wire::Anthropic => crate::anthropic::injected_error(status, retry),
            Wire::Gemini => crate::gemini::injected_error(status, retry),
            Wire::Cohere => crate::cohere::injected_error(status, retry),
            Wire::OpenAi | Wire::Azure => injected_error(status, retry),
        },
        None => {
            let ctx = Ctx { n, knobs, shared };
            let req = Req {
                method: &method,
                path: uri.path(),
                query: uri.query().unwrap_or(""),
                headers: &headers,
            };
            match wire {
                Wire::OpenAi => dispatch(&ctx, &method, uri.path(), parsed),
                Wire::Azure => azure(&ctx, &req, parsed),
                Wire::Anthropic => crate::anthropic::dispatch(&ctx, &req, parsed),
                Wire::Gemini => crate::gemini::dispatch(&ctx, &req, parsed),
                Wire::Cohere => crate::cohere::dispatch(&ctx, &req, parsed),
            }
        }
    };
    if let Ok(id) = HeaderValue::from_str(&format!("req_fake_{n}")) {
        resp.headers_mut().insert("x-request-id", id);
    }
    resp
}

fn dispatch(ctx: &Ctx, method: &Method, path: &str, body: serde_json::Result<Value>) -> Response {
    let route = route_of(path);
    if *method == Method::GET && route == "/models" {
        return legacy::models(ctx);
    }
    let known = matches!(
        route,
        "/chat/completions" | "/completions" | "/embeddings" | "/responses"
    );
    if *method != Method::POST || !known {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            None,
        );
    }
    let Ok(body) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly.)",
            "invalid_request_error",
            None,
        );
    };
    if body.get("model").and_then(Value::as_str).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
        );
    }
    match route {
        "/chat/completions" => chat::handle(ctx, &body),
        "/completions" => legacy::completions(ctx, &body),
        "/embeddings" => legacy::embeddings(ctx, &body),
        _ => responses::handle(ctx, &body),
    }
}

/// Azure OpenAI: `/openai/deployments/{deployment}/(chat/completions|embeddings)`, with the
/// `api-version` query parameter and an `api-key` (or bearer) header required.
fn azure(ctx: &Ctx, req: &Req<'_>, body: serde_json::Result<Value>) -> Response {
    let rest = req
        .path
        .strip_prefix("/openai/deployments/")
        .unwrap_or_default();
    let (deployment, route) = rest.split_once('/').unwrap_or((rest, ""));
    if req.query_param("api-version").is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "Resource not found",
            "invalid_request_error",
            Some("404"),
        );
    }
    if req.header("api-key").is_none() && req.header("authorization").is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "Access denied due to missing subscription key.",
            "invalid_request_error",
            Some("401"),
        );
    }
    let Ok(mut body) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON body",
            "invalid_request_error",
            None,
        );
    };
    if body.get("model").is_none() {
        body["model"] = Value::from(deployment);
    }
    match (*req.method == Method::POST, route) {
        (true, "chat/completions") => chat::handle(ctx, &body),
        (true, "embeddings") => legacy::embeddings(ctx, &body),
        _ => error(
            StatusCode::NOT_FOUND,
            "Resource not found",
            "invalid_request_error",
            Some("404"),
        ),
    }
}

/// An OpenAI error envelope: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    (status, axum::Json(body)).into_response()
}

/// The error OpenAI sends for `status`; a 429 carries `retry-after`.
fn injected_error(status: u16, retry_after_secs: u64) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (message, kind, err_code) = match code.as_u16() {
        400 => (
            "Invalid request (injected by the fake upstream).",
            "invalid_request_error",
            None,
        ),
        401 => (
            "Incorrect API key provided (injected by the fake upstream).",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "You are not allowed to sample from this model.",
            "permission_error",
            None,
        ),
        404 => (
            "The model does not exist.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => (
            "Rate limit reached (injected by the fake upstream).",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        _ => (
            "The server had an error while processing your request.",
            "server_error",
            None,
        ),
    };
    let mut resp = error(code, message, kind, err_code);
    if code == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    resp
}

/// The text of the last user message in chat `messages` or Responses `input` items; content may
/// be a string or a list of `text` / `input_text` parts.
pub(crate) fn last_user_text(items: Option<&Value>) -> Option<String> {
    let items = items?;
    if let Some(text) = items.as_str() {
        return Some(text.to_owned());
    }
    let item = items
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    let content = item.get("content")?;
    if let Some(text) = content.as_str() {
        return Some(text.to_owned());
    }
    let text: String = content
        .as_array()?
        .iter()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    Some(text)
}

/// The name of the first function tool in `tools`, in chat (`function.name`) or Responses
/// (`name`) shape.
pub(crate) fn first_tool_name(body: &Value) -> Option<String> {
    let tool = body.get("tools")?.as_array()?.first()?;
    tool.pointer("/function/name")
        .or_else(|| tool.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::{last_user_text, route_of};
    use serde_json::json;

    #[test]
    fn v1_prefix_is_optional() {
        assert_eq!(route_of("/v1/chat/completions"), "/chat/completions");
        assert_eq!(route_of("/chat/completions"), "/chat/completions");
        assert_eq!(route_of("/v1x/models"), "/v1x/models");
    }

    #[test]
    fn finds_the_last_user_text() {
        let messages = json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "sec"}, {"type": "text", "text": "ond"}]}
        ]);
        assert_eq!(last_user_text(Some(&messages)).as_deref(), Some("second"));
        assert_eq!(
            last_user_text(Some(&json!("plain"))).as_deref(),
            Some("plain")
        );
        assert_eq!(last_user_text(None), None);
    }
}
