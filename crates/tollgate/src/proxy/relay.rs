//! Streams: upstream events are relayed to the client one by one as they arrive. The relay runs
//! on a tracked task of its own, so that a client hanging up does not stop the accounting: the
//! task reads the upstream to its end (for the final usage) and records the spend either way.
//! The usage chunk the gateway asked for is passed on only to clients that asked for it too.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;
use tollgate_llm::mock;
use tollgate_llm::sse::Event;

use super::admit::Admitted;
use super::call::{finish, CallKind, CallMeta, Outcome};
use super::upstream::{self, Source};
use super::{headers, upstream_error};
use crate::http::Result;
use crate::spend::pricing::Usage;
use crate::state::AppState;

pub async fn stream(state: &AppState, a: Admitted) -> Result<Response> {
    let Admitted {
        mut meta,
        client_wants_usage,
        permit,
        remaining,
    } = a;
    let plan = super::attempts::plan(state, &meta);
    let (kind, call_id, request) = (meta.kind, meta.call_id.clone(), meta.request.clone());
    let (opened, tried) = super::attempts::run(state, &mut meta, &plan, |d| {
        let body = super::attempts::body_for(&request, kind, &d);
        let call_id = call_id.clone();
        async move { upstream::stream(state, kind, &d, body, &call_id).await }
    })
    .await;
    meta.tried = tried;
    let source = match opened {
        Ok(s) => s,
        Err(e) => {
            let outcome = Outcome {
                success: false,
                error: Some((e.status(), e.to_string())),
                ..Outcome::default()
            };
            finish(state, &meta, outcome).await;
            return Err(upstream_error(&e));
        }
    };
    let upstream_headers = source.headers();
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    let task_state = state.clone();
    let task_meta = meta.clone();
    state.tasks.spawn(async move {
        let outcome = pump(source, &tx, &task_meta, client_wants_usage).await;
        // The body ends only once the spend is journaled: a stream read to its end is durable.
        finish(&task_state, &task_meta, outcome).await;
        drop(tx);
        drop(permit);
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers::upstream(h, &upstream_headers);
    headers::set(state, h, &meta, None, None, &remaining);
    Ok(response)
}

pub(super) fn mock_events(kind: CallKind, model: &str, call_id: &str, body: &Value) -> Vec<Event> {
    match kind {
        CallKind::Responses => mock::responses_stream(body, model, &format!("resp_{call_id}")),
        _ => mock::chat_stream(body, model, &format!("chatcmpl-{call_id}"), true),
    }
}

/// Relays events until the upstream ends; keeps reading after the client leaves.
async fn pump(
    mut source: Source,
    tx: &mpsc::Sender<Bytes>,
    meta: &CallMeta,
    client_wants_usage: bool,
) -> Outcome {
    let mut outcome = Outcome {
        success: true,
        ..Outcome::default()
    };
    let mut client_open = true;
    while let Some(next) = source.next().await {
        let event = match next {
            Ok(e) => e,
            Err(e) => {
                outcome.success = outcome.usage.is_some() || !outcome.completion_text.is_empty();
                outcome.error = Some((e.status(), e.to_string()));
                if client_open {
                    let err = upstream_error(&e);
                    let event = match meta.kind {
                        CallKind::Messages => tollgate_llm::anthropic::event(
                            "error",
                            tollgate_llm::anthropic::error_body(e.status(), &err.to_string()),
                        ),
                        _ => Event {
                            event: None,
                            data: err.body().to_string(),
                        },
                    };
                    let _ = tx.send(Bytes::from(event.to_bytes())).await;
                }
                break;
            }
        };
        if outcome.first_byte.is_none() {
            outcome.first_byte = Some(Utc::now());
        }
        let forward = inspect(&event, meta.kind, &mut outcome, client_wants_usage);
        if forward && client_open && tx.send(Bytes::from(event.to_bytes())).await.is_err() {
            client_open = false;
            tracing::debug!(call_id = %meta.call_id, "client left mid-stream; finishing for accounting");
        }
    }
    outcome
}

/// Takes usage and text out of an event; says whether to pass it on.
fn inspect(event: &Event, kind: CallKind, outcome: &mut Outcome, client_wants_usage: bool) -> bool {
    if event.data == "[DONE]" {
        return true;
    }
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        return true;
    };
    if kind == CallKind::Messages {
        inspect_anthropic(&v, outcome);
        return true;
    }
    if kind == CallKind::Responses {
        if let Some(delta) = v.get("delta").and_then(Value::as_str) {
            outcome.completion_text.push_str(delta);
        }
        if v.get("type").and_then(Value::as_str) == Some("response.completed") {
            if let Some(r) = v
                .get("response")
                .filter(|r| r.get("usage").is_some_and(Value::is_object))
            {
                outcome.usage = Some(Usage::from_openai(r));
            }
        }
        return true;
    }
    for choice in v
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = choice
            .pointer("/delta/content")
            .or_else(|| choice.get("text"))
            .and_then(Value::as_str);
        if let Some(t) = text {
            outcome.completion_text.push_str(t);
        }
    }
    if v.get("usage").is_some_and(Value::is_object) {
        outcome.usage = Some(Usage::from_openai(&v));
        let usage_only = v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty);
        return client_wants_usage || !usage_only;
    }
    true
}

/// Usage and text of an Anthropic stream event: `message_start` carries the input side,
/// `message_delta` the running output count (and, from newer APIs, the input side again).
fn inspect_anthropic(v: &Value, outcome: &mut Outcome) {
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => outcome.usage = Some(Usage::from_anthropic(v)),
        Some("message_delta") if v.get("usage").is_some_and(Value::is_object) => {
            let delta = Usage::from_anthropic(v);
            let mut u = outcome.usage.unwrap_or_default();
            if delta.prompt_tokens > 0 {
                u.prompt_tokens = delta.prompt_tokens;
                u.cached_tokens = delta.cached_tokens;
                u.cache_creation_tokens = delta.cache_creation_tokens;
            }
            u.completion_tokens = u.completion_tokens.max(delta.completion_tokens);
            outcome.usage = Some(u);
        }
        Some("content_block_delta") => {
            if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                outcome.completion_text.push_str(t);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value) -> Event {
        Event {
            event: None,
            data: v.to_string(),
        }
    }

    #[test]
    fn the_usage_chunk_goes_only_to_clients_that_asked() {
        let usage = ev(
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
        );
        let mut o = Outcome::default();
        assert!(!inspect(&usage, CallKind::Chat, &mut o, false));
        assert_eq!(o.usage.as_ref().map(|u| u.completion_tokens), Some(4));
        assert!(inspect(
            &usage,
            CallKind::Chat,
            &mut Outcome::default(),
            true
        ));
    }

    #[test]
    fn text_is_collected_for_local_counting() {
        let mut o = Outcome::default();
        inspect(
            &ev(json!({"choices": [{"delta": {"content": "Hel"}}]})),
            CallKind::Chat,
            &mut o,
            false,
        );
        inspect(
            &ev(json!({"choices": [{"delta": {"content": "lo"}}]})),
            CallKind::Chat,
            &mut o,
            false,
        );
        assert_eq!(o.completion_text, "Hello");
        assert!(o.usage.is_none());
    }
}
