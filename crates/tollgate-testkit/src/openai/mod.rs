//! A fake OpenAI upstream that speaks OpenAI's wire format over real HTTP: chat completions,
//! completions, embeddings, the Responses API (JSON and SSE) and the model list, with knobs for
//! usage, latency, stream pacing, tool calls and injected errors, and a log of every request.
//!
//! ```no_run
//! # async fn demo() {
//! let upstream = tollgate_testkit::FakeOpenAi::start().await;
//! upstream.set_usage(12, 34);
//! upstream.fail_next(429, 1);
//! // point an `openai/...` deployment's `api_base` at `upstream.url()`
//! assert_eq!(upstream.calls_to("/chat/completions"), 0);
//! # }
//! ```

mod chat;
mod legacy;
mod responses;
pub(crate) mod server;
pub(crate) mod sse;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use server::route_of;
use state::{Failure, Reply, Shared};
pub use state::{Recorded, Wire, DEFAULT_REPLY};

/// A running fake OpenAI server on `127.0.0.1`; it stops when dropped.
///
/// Routes, each with and without the `/v1` prefix: `POST /chat/completions`,
/// `POST /completions`, `POST /embeddings`, `POST /responses`, `GET /models`. Anything else is
/// a 404 in OpenAI's error envelope; every request, answered or not, is recorded.
#[derive(Debug)]
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    /// Dropping it tells open connections and streams to end.
    _shutdown: watch::Sender<()>,
}

impl FakeOpenAi {
    /// Binds `127.0.0.1:0` and serves OpenAI's wire until dropped.
    pub async fn start() -> Self {
        Self::start_as(Wire::OpenAi).await
    }

    /// Binds `127.0.0.1:0` and serves `wire` until dropped.
    pub async fn start_as(wire: Wire) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake OpenAI: bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake OpenAI: local address: {e}"));
        let (shutdown, shutdown_rx) = watch::channel(());
        let shared = Arc::new(Shared::new(wire, shutdown_rx.clone()));
        let app = server::router(shared.clone());
        let mut signal = shutdown_rx;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = signal.changed().await;
                })
                .await;
        });
        FakeOpenAi {
            addr,
            shared,
            server,
            _shutdown: shutdown,
        }
    }

    /// The base URL a deployment's `api_base` takes: with `/v1` for OpenAI
    /// (`http://127.0.0.1:4321/v1`), the server's root for the other wires.
    pub fn url(&self) -> String {
        match self.shared.wire {
            Wire::OpenAi => format!("http://{}/v1", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }

    /// The wire format this fake speaks.
    pub fn wire(&self) -> Wire {
        self.shared.wire
    }

    /// The socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // ---- knobs ----

    /// The token counts reported in `usage` (default 10 prompt, 20 completion); the total is
    /// their sum. Embeddings report `prompt` as both prompt and total tokens.
    pub fn set_usage(&self, prompt: u64, completion: u64) {
        self.shared.update(|k| {
            k.prompt_tokens = prompt;
            k.completion_tokens = completion;
        });
    }

    /// `prompt_tokens_details.cached_tokens` (Responses: `input_tokens_details.cached_tokens`).
    pub fn set_cached_tokens(&self, n: u64) {
        self.shared.update(|k| k.cached_tokens = n);
    }

    /// Input tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`;
    /// part of the prompt tokens).
    pub fn set_cache_creation_tokens(&self, n: u64) {
        self.shared.update(|k| k.cache_creation_tokens = n);
    }

    /// `completion_tokens_details.reasoning_tokens` (Responses:
    /// `output_tokens_details.reasoning_tokens`).
    pub fn set_reasoning_tokens(&self, n: u64) {
        self.shared.update(|k| k.reasoning_tokens = n);
    }

    /// A wait before any byte of the answer (errors included).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.update(|k| k.latency = latency);
    }

    /// A pause between SSE frames.
    pub fn set_chunk_delay(&self, delay: Duration) {
        self.shared.update(|k| k.chunk_delay = delay);
    }

    /// How many pieces streamed text (or tool-call arguments) is cut into (default 3).
    pub fn set_chunks(&self, n: usize) {
        self.shared.update(|k| k.chunks = n.max(1));
    }

    /// Answer the next `times` calls, on any route, with `status` and OpenAI's error body; a
    /// 429 carries `retry-after` (see [`Self::set_retry_after`]).
    pub fn fail_next(&self, status: u16, times: usize) {
        let failure = (times > 0).then_some(Failure {
            status,
            body: None,
            remaining: times,
        });
        self.shared.set_failure(failure);
    }

    /// Answer the next `times` calls with `status` and exactly this JSON error `body` (e.g. a
    /// `context_length_exceeded` error), whatever the wire format.
    pub fn fail_next_with(&self, status: u16, body: serde_json::Value, times: usize) {
        let failure = (times > 0).then_some(Failure {
            status,
            body: Some(body),
            remaining: times,
        });
        self.shared.set_failure(failure);
    }

    /// The `retry-after` seconds sent with injected 429s (default 1).
    pub fn set_retry_after(&self, secs: u64) {
        self.shared.update(|k| k.retry_after_secs = secs);
    }

    /// Leave `usage` out of every answer and stream (no usage chunk even when asked for).
    pub fn set_omit_usage(&self, omit: bool) {
        self.shared.update(|k| k.omit_usage = omit);
    }

    /// When the request has `tools`, call the first one instead of answering with text.
    pub fn set_tool_calls(&self, on: bool) {
        self.shared.update(|k| k.tool_calls = on);
    }

    /// The arguments of tool calls (default `{"city":"Paris"}`).
    pub fn set_tool_arguments(&self, arguments: impl Into<String>) {
        let arguments = arguments.into();
        self.shared.update(|k| k.tool_arguments = arguments);
    }

    /// Streams send this many SSE frames, then keep the connection open without sending more;
    /// `None` (the default) streams to the end.
    pub fn set_stall_after(&self, frames: Option<usize>) {
        self.shared.update(|k| k.stall_after = frames);
    }

    /// The assistant's text (default [`DEFAULT_REPLY`]).
    pub fn set_reply(&self, text: impl Into<String>) {
        let text = text.into();
        self.shared.update(|k| k.reply = Reply::Fixed(text));
    }

    /// Echo the last user message (chat, Responses) or the prompt (completions) instead of a
    /// fixed reply; off restores [`DEFAULT_REPLY`].
    pub fn set_echo(&self, on: bool) {
        self.shared.update(|k| {
            k.reply = if on {
                Reply::Echo
            } else {
                Reply::Fixed(DEFAULT_REPLY.into())
            };
        });
    }

    /// Length of embeddings when the request has no `dimensions` (default 8).
    pub fn set_embedding_dims(&self, dims: usize) {
        self.shared.update(|k| k.embedding_dims = dims);
    }

    /// The ids `GET /models` lists.
    pub fn set_models<S: Into<String>>(&self, ids: impl IntoIterator<Item = S>) {
        let ids: Vec<String> = ids.into_iter().map(Into::into).collect();
        self.shared.update(|k| k.models = ids);
    }

    // ---- introspection ----

    /// Requests received on all routes.
    pub fn calls(&self) -> usize {
        self.shared.with_log(<[Recorded]>::len)
    }

    /// Requests received on `path`; `/v1` is optional on both sides, so `"/chat/completions"`
    /// counts `/v1/chat/completions` too.
    pub fn calls_to(&self, path: &str) -> usize {
        let want = route_of(path);
        self.shared
            .with_log(|log| log.iter().filter(|r| route_of(&r.path) == want).count())
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests()
    }

    /// The latest request.
    pub fn last_request(&self) -> Option<Recorded> {
        self.shared.with_log(|log| log.last().cloned())
    }

    /// Forget the requests received; knobs stay as they are.
    pub fn clear_requests(&self) {
        self.shared.clear_log();
    }

    /// Back to a fresh fake: default knobs, no pending failures, no recorded requests.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        // `_shutdown` drops after this, which ends open streams and connections gracefully.
        self.server.abort();
    }
}
