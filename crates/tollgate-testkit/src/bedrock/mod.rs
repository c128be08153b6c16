//! A fake Bedrock runtime over real HTTP: `POST /model/{modelId}/converse` (JSON),
//! `/converse-stream` (binary event-stream frames) and `/invoke` (Titan and Cohere embeddings).
//! Every request's SigV4 signature is recomputed with the fake's credentials; a wrong one gets
//! AWS's 403. Knobs for injected failures, tool use, usage and stream exceptions; every request
//! is recorded.
//!
//! ```no_run
//! # async fn demo() {
//! let fake = tollgate_testkit::FakeBedrock::start().await;
//! fake.fail_next(429, 1);
//! // resolve a `Bedrock` with `fake.credentials()`, region `fake.region()`, api_base `fake.url()`
//! assert_eq!(fake.calls_to("converse"), 0);
//! # }
//! ```

mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tollgate_llm::bedrock::sigv4::Credentials;

/// The reply text when none is set.
pub const DEFAULT_BEDROCK_REPLY: &str = "Hello from the fake Bedrock";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct BedrockRecorded {
    pub path: String,
    /// The decoded model id from the path.
    pub model_id: String,
    /// `converse`, `converse-stream` or `invoke`.
    pub operation: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Whether its signature checked out.
    pub signature_ok: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    pub reply: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub tool_use: bool,
    pub tool_input: Value,
    pub chunks: usize,
    pub latency: Duration,
    pub retry_after_secs: u64,
    /// `(exceptionType, message)` sent instead of the stream's end.
    pub stream_exception: Option<(String, String)>,
    pub embedding_dims: usize,
    /// Send this many stream frames, then nothing more while keeping the connection open.
    pub stall_after: Option<usize>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            reply: DEFAULT_BEDROCK_REPLY.into(),
            input_tokens: 10,
            output_tokens: 20,
            cache_read: None,
            cache_write: None,
            tool_use: false,
            tool_input: serde_json::json!({"city": "Paris"}),
            chunks: 3,
            latency: Duration::ZERO,
            retry_after_secs: 1,
            stream_exception: None,
            embedding_dims: 8,
            stall_after: None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub knobs: Knobs,
    /// `(status, remaining)` of injected failures.
    pub failure: Option<(u16, usize)>,
    pub log: Vec<BedrockRecorded>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub credentials: Credentials,
    pub region: String,
    pub state: Mutex<State>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake Bedrock runtime on `127.0.0.1`; it stops when dropped.
#[derive(Debug)]
pub struct FakeBedrock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeBedrock {
    /// The AWS documentation's example key pair, region `us-east-1`.
    pub async fn start() -> Self {
        Self::start_with(
            Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            "us-east-1",
        )
        .await
    }

    /// A fake that accepts only signatures made with `credentials` for `region`.
    pub async fn start_with(credentials: Credentials, region: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake Bedrock: bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake Bedrock: local address: {e}"));
        let shared = Arc::new(Shared {
            credentials,
            region: region.to_owned(),
            state: Mutex::new(State::default()),
        });
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The base URL to use as `api_base`, e.g. `http://127.0.0.1:4321`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn credentials(&self) -> Credentials {
        self.shared.credentials.clone()
    }

    pub fn region(&self) -> String {
        self.shared.region.clone()
    }

    // ---- knobs ----

    /// Answer the next `times` calls with `status` in AWS's error shape: 400
    /// ValidationException, 403 AccessDeniedException, 429 ThrottlingException (with
    /// `retry-after`), 500 InternalServerException, 503 ServiceUnavailableException.
    pub fn fail_next(&self, status: u16, times: usize) {
        self.shared.lock().failure = (times > 0).then_some((status, times));
    }

    /// `inputTokens` / `outputTokens` reported (default 10 / 20).
    pub fn set_usage(&self, input: u64, output: u64) {
        let mut s = self.shared.lock();
        s.knobs.input_tokens = input;
        s.knobs.output_tokens = output;
    }

    /// `cacheReadInputTokens` / `cacheWriteInputTokens` reported (default: absent).
    pub fn set_cache_usage(&self, read: Option<u64>, write: Option<u64>) {
        let mut s = self.shared.lock();
        s.knobs.cache_read = read;
        s.knobs.cache_write = write;
    }

    /// When the request has tools, call the first one (stopReason `tool_use`).
    pub fn set_tool_use(&self, on: bool) {
        self.shared.lock().knobs.tool_use = on;
    }

    /// The tool call's input (default `{"city":"Paris"}`).
    pub fn set_tool_input(&self, input: Value) {
        self.shared.lock().knobs.tool_input = input;
    }

    pub fn set_reply(&self, text: impl Into<String>) {
        self.shared.lock().knobs.reply = text.into();
    }

    /// Into how many deltas streamed text or tool input is cut (default 3).
    pub fn set_chunks(&self, n: usize) {
        self.shared.lock().knobs.chunks = n.max(1);
    }

    /// A wait before any answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().knobs.latency = latency;
    }

    /// `retry-after` seconds sent with injected 429s (default 1).
    pub fn set_retry_after(&self, secs: u64) {
        self.shared.lock().knobs.retry_after_secs = secs;
    }

    /// End streams with this exception frame (e.g. `throttlingException`) after the first
    /// text delta, instead of messageStop and metadata.
    pub fn set_stream_exception(&self, exception: Option<(&str, &str)>) {
        self.shared.lock().knobs.stream_exception =
            exception.map(|(k, m)| (k.to_owned(), m.to_owned()));
    }

    /// Length of embeddings when the request names no `dimensions` (default 8).
    pub fn set_embedding_dims(&self, dims: usize) {
        self.shared.lock().knobs.embedding_dims = dims;
    }

    /// Stop streams after `frames` frames, keeping the connection open (a stalled upstream).
    pub fn set_stall_after(&self, frames: Option<usize>) {
        self.shared.lock().knobs.stall_after = frames;
    }

    // ---- introspection ----

    /// Requests received, signed correctly or not.
    pub fn calls(&self) -> usize {
        self.shared.lock().log.len()
    }

    /// Requests received for `operation` (`converse`, `converse-stream`, `invoke`).
    pub fn calls_to(&self, operation: &str) -> usize {
        let s = self.shared.lock();
        s.log.iter().filter(|r| r.operation == operation).count()
    }

    /// Requests whose signature did not check out.
    pub fn signature_failures(&self) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| !r.signature_ok)
            .count()
    }

    pub fn requests(&self) -> Vec<BedrockRecorded> {
        self.shared.lock().log.clone()
    }

    pub fn last_request(&self) -> Option<BedrockRecorded> {
        self.shared.lock().log.last().cloned()
    }
}

impl Drop for FakeBedrock {
    fn drop(&mut self) {
        self.server.abort();
    }
}
