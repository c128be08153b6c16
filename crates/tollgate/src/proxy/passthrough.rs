//! Streams passed through: when the upstream speaks the client's format, the response body
//! reads the upstream itself and hands each whole event on as the bytes it came in, reading
//! each one only for usage and text ([`StreamWatch`]). No task and no channel stand between the
//! two connections. The body ends once the call's spend is journaled. If the client hangs up
//! first, the body's drop moves the rest of the work to a tracked task, which reads the
//! upstream to its end (for the final usage) and records the spend.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tokio_util::task::TaskTracker;
use tollgate_llm::openai::RawStream;
use tollgate_llm::sse::{self, Cutter};
use tollgate_llm::LlmError;

use super::call::{finish, CallMeta, Permit};
use super::relay::error_event;
use super::watch::StreamWatch;
use crate::state::AppState;

/// What the body needs to account for the call when the stream ends.
struct Call {
    state: AppState,
    meta: CallMeta,
    permit: Permit,
}

/// The stream while it runs.
struct Running {
    upstream: tollgate_llm::transport::Body,
    cutter: Cutter,
    watch: StreamWatch,
    /// Scratch lists of the events of one piece and whether each goes on.
    events: Vec<Bytes>,
    keep: Vec<bool>,
    /// The longest wait for the next piece.
    gap: Duration,
    /// When the last piece came. The timer is not moved for each piece: when it fires, it is
    /// set again from this if a piece came since it was set.
    last: Instant,
    timer: Pin<Box<Sleep>>,
    call: Call,
}

type Closing = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The response body of a passed-through stream.
pub struct Relay {
    running: Option<Running>,
    /// Recording the spend, after the upstream ended.
    closing: Option<Closing>,
    /// Where the work left when the client hangs up goes (shutdown waits for it).
    tasks: TaskTracker,
}

impl Relay {
    pub fn new(
        state: AppState,
        meta: CallMeta,
        permit: Permit,
        raw: RawStream,
        client_wants_usage: bool,
    ) -> Self {
        let gap = meta.deployment.target.stream_timeout;
        Self {
            tasks: state.tasks.clone(),
            running: Some(Running {
                upstream: raw.body,
                cutter: Cutter::new(),
                watch: StreamWatch::new(meta.kind, client_wants_usage),
                events: Vec::new(),
                keep: Vec::new(),
                gap,
                last: Instant::now(),
                timer: Box::pin(tokio::time::sleep(gap)),
                call: Call {
                    state,
                    meta,
                    permit,
                },
            }),
            closing: None,
        }
    }

    /// Stops reading the upstream and starts recording the spend.
    fn close(&mut self) {
        if let Some(running) = self.running.take() {
            self.closing = Some(Box::pin(running.account()));
        }
    }
}

impl Running {
    /// The events of a piece that go to the client, as bytes; `None` when none does.
    fn pass(&mut self, piece: Bytes) -> Option<Bytes> {
        let whole = self.cutter.is_idle();
        self.events.clear();
        self.keep.clear();
        self.cutter.feed(piece.clone(), &mut self.events);
        for e in &self.events {
            self.keep.push(match sse::data(e) {
                Some(data) => self.watch.event(&data),
                None => true,
            });
        }
        if whole && self.cutter.is_idle() && self.keep.iter().all(|k| *k) {
            return Some(piece);
        }
        let mut out = BytesMut::new();
        for (e, keep) in self.events.iter().zip(&self.keep) {
            if *keep {
                out.extend_from_slice(e);
            }
        }
        (!out.is_empty()).then(|| out.freeze())
    }

    /// The upstream ended: its last event, if it did not end with a blank line.
    fn tail(&mut self) -> Option<Bytes> {
        let tail = self.cutter.finish()?;
        let keep = sse::data(&tail).is_none_or(|data| self.watch.event(&data));
        if !keep {
            return None;
        }
        let mut out = BytesMut::from(tail.as_ref());
        let ends_line = out.last().is_some_and(|b| *b == b'\n' || *b == b'\r');
        out.extend_from_slice(if ends_line { b"\n" } else { b"\n\n" });
        Some(out.freeze())
    }

    /// The stream broke: the error event for the client.
    fn fail(&mut self, e: &LlmError) -> Bytes {
        self.watch.failed(e.status(), e.to_string());
        error_event(self.call.meta.kind, e)
    }

    /// Reads the upstream to its end without a client, for the final usage.
    async fn drain(mut self) {
        loop {
            let next = std::future::poll_fn(|cx| self.upstream.poll_data(cx));
            match tokio::time::timeout(self.gap, next).await {
                Ok(Some(Ok(piece))) => {
                    self.pass(piece);
                }
                Ok(Some(Err(e))) => {
                    self.fail(&e);
                    break;
                }
                Err(_) => {
                    self.fail(&LlmError::Timeout(self.gap));
                    break;
                }
                Ok(None) => {
                    self.tail();
                    break;
                }
            }
        }
        self.account().await;
    }

    async fn account(self) {
        let Call {
            state,
            meta,
            permit,
        } = self.call;
        finish(&state, meta, self.watch.into_outcome()).await;
        drop(permit);
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if let Some(closing) = this.closing.as_mut() {
                ready!(closing.as_mut().poll(cx));
                this.closing = None;
                return Poll::Ready(None);
            }
            let Some(running) = this.running.as_mut() else {
                return Poll::Ready(None);
            };
            let out = match running.upstream.poll_data(cx) {
                Poll::Ready(Some(Ok(piece))) => {
                    running.last = Instant::now();
                    match running.pass(piece) {
                        Some(out) => out,
                        None => continue,
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let out = running.fail(&e);
                    this.close();
                    out
                }
                Poll::Ready(None) => {
                    let out = running.tail();
                    this.close();
                    match out {
                        Some(out) => out,
                        None => continue,
                    }
                }
                Poll::Pending => {
                    ready!(running.timer.as_mut().poll(cx));
                    let due = running.last + running.gap;
                    if due > running.timer.deadline() {
                        running.timer.as_mut().reset(due);
                        continue;
                    }
                    let out = running.fail(&LlmError::Timeout(running.gap));
                    this.close();
                    out
                }
            };
            return Poll::Ready(Some(Ok(Frame::data(out))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.running.is_none() && self.closing.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let (running, closing) = (self.running.take(), self.closing.take());
        if (running.is_none() && closing.is_none())
            || tokio::runtime::Handle::try_current().is_err()
        {
            return;
        }
        if let Some(r) = running {
            tracing::debug!(call_id = %r.call.meta.call_id, "client left mid-stream; finishing for accounting");
            self.tasks.spawn(r.drain());
        }
        if let Some(c) = closing {
            self.tasks.spawn(c);
        }
    }
}
