//! Streams: events are relayed to the client one by one as they arrive. A stream in the
//! client's own format is passed through by the response body itself ([`super::passthrough`]);
//! a translated (or mock) stream is pumped by a tracked task of its own into the body. Either
//! way a client hanging up does not stop the accounting: the upstream is read to its end (for
//! the final usage) and the spend recorded. The usage chunk the gateway asked for is passed on
//! only to clients that asked for it too ([`super::watch`]).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::mpsc;
use tollgate_llm::sse::Event;
use tollgate_llm::{mock, LlmError};

use super::admit::Admitted;
use super::call::{finish, CallKind, CallMeta, Outcome};
use super::passthrough::Relay;
use super::upstream::{self, Source};
use super::watch::StreamWatch;
use super::{headers, upstream_error};
use crate::http::Result;
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
    // Borrowed by every attempt (the call's meta is lent to the attempts meanwhile).
    let (call_id, request) = (&call_id, &request);
    let (opened, tried) = super::attempts::run(state, &mut meta, &plan, |d| async move {
        upstream::stream(state, kind, &d, request, call_id).await
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
            finish(state, meta, outcome).await;
            return Err(upstream_error(&e));
        }
    };
    let upstream_headers = source.headers();
    let mut h = headers::response(
        state,
        headers::Content::Stream,
        &meta,
        None,
        None,
        None,
        &remaining,
    );
    headers::upstream(&mut h, &upstream_headers);
    let body = match source {
        Source::Raw(raw) => Body::new(Relay::new(
            state.clone(),
            meta,
            permit,
            *raw,
            client_wants_usage,
        )),
        other => {
            let (tx, rx) = mpsc::channel::<Bytes>(32);
            let task_state = state.clone();
            state.tasks.spawn(async move {
                let outcome = pump(other, &tx, &meta, client_wants_usage).await;
                // The body ends only once the spend is journaled: a stream read to its end is
                // durable.
                finish(&task_state, meta, outcome).await;
                drop(tx);
                drop(permit);
            });
            Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            }))
        }
    };
    let mut response = Response::new(body);
    *response.headers_mut() = h;
    Ok(response)
}

pub(super) fn mock_events(kind: CallKind, model: &str, call_id: &str, body: &Value) -> Vec<Event> {
    match kind {
        CallKind::Responses => mock::responses_stream(body, model, &format!("resp_{call_id}")),
        _ => mock::chat_stream(body, model, &format!("chatcmpl-{call_id}"), true),
    }
}

/// The event that tells a client its stream broke, in its format.
pub(super) fn error_event(kind: CallKind, e: &LlmError) -> Bytes {
    let err = upstream_error(e);
    let event = match kind {
        CallKind::Messages => tollgate_llm::anthropic::event(
            "error",
            tollgate_llm::anthropic::error_body(e.status(), &err.to_string()),
        ),
        _ => Event {
            event: None,
            data: err.body().to_string(),
        },
    };
    Bytes::from(event.to_bytes())
}

/// Relays translated (or mock) events until they end; keeps reading after the client leaves.
async fn pump(
    mut source: Source,
    tx: &mpsc::Sender<Bytes>,
    meta: &CallMeta,
    client_wants_usage: bool,
) -> Outcome {
    let mut watch = StreamWatch::new(meta.kind, client_wants_usage);
    let mut client_open = true;
    while let Some(next) = next_event(&mut source).await {
        let event = match next {
            Ok(e) => e,
            Err(e) => {
                watch.failed(e.status(), e.to_string());
                if client_open {
                    let _ = tx.send(error_event(meta.kind, &e)).await;
                }
                break;
            }
        };
        let forward = watch.event(&event.data);
        if forward && client_open && tx.send(Bytes::from(event.to_bytes())).await.is_err() {
            client_open = false;
            tracing::debug!(call_id = %meta.call_id, "client left mid-stream; finishing for accounting");
        }
    }
    watch.into_outcome()
}

/// The next event of a translated or mock source.
async fn next_event(source: &mut Source) -> Option<std::result::Result<Event, LlmError>> {
    match source {
        Source::Mock(q) => q.pop_front().map(Ok),
        Source::Translated(t) => t.next().await,
        Source::Raw(_) => None,
    }
}
