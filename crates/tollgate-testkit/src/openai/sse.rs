//! Server-sent events: frame formatting, and a body that sends frames with the configured delay
//! and can stall part-way.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// A `data:` frame, as chat and completions streams send.
pub(crate) fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// The frame that ends an OpenAI chat or completions stream.
pub(crate) fn done() -> String {
    "data: [DONE]\n\n".into()
}

/// A named event frame, as Responses streams send (`event: response.created`).
pub(crate) fn event(kind: &str, value: &Value) -> String {
    format!("event: {kind}\ndata: {value}\n\n")
}

/// How a stream is paced.
#[derive(Clone, Debug)]
pub(crate) struct Pacing {
    /// Pause before every frame but the first.
    pub delay: Duration,
    /// Send this many frames, then hold the connection open without sending more.
    pub stall_after: Option<usize>,
    /// Ends the stream when the fake is dropped.
    pub shutdown: watch::Receiver<()>,
}

/// A `200 text/event-stream` response that sends `frames` in order.
pub(crate) fn response(frames: Vec<String>, pacing: Pacing) -> Response {
    let (tx, rx) = mpsc::channel::<Result<String, Infallible>>(4);
    let mut shutdown = pacing.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = pump(frames, &pacing, &tx) => {}
            _ = shutdown.changed() => {}
        }
    });
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    resp
}

async fn pump(frames: Vec<String>, pacing: &Pacing, tx: &mpsc::Sender<Result<String, Infallible>>) {
    for (i, frame) in frames.into_iter().enumerate() {
        if pacing.stall_after == Some(i) {
            // Keep the connection open, sending nothing, until the client goes away.
            tx.closed().await;
            return;
        }
        if i > 0 && !pacing.delay.is_zero() {
            tokio::time::sleep(pacing.delay).await;
        }
        if tx.send(Ok(frame)).await.is_err() {
            return;
        }
    }
}

/// `text` cut into `n` pieces of near-equal length at character boundaries (at least one piece;
/// pieces are empty when `n` exceeds the length).
pub(crate) fn split(text: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let chars: Vec<char> = text.chars().collect();
    let (base, extra) = (chars.len() / n, chars.len() % n);
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        pieces.push(chars[start..start + len].iter().collect());
        start += len;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_keeps_every_character() {
        assert_eq!(split("abcdefg", 3), ["abc", "de", "fg"]);
        assert_eq!(split("ab", 4), ["a", "b", "", ""]);
        assert_eq!(split("héllo", 0), ["héllo"]);
        assert_eq!(split("", 2).concat(), "");
    }
}
