//! Transport for OpenAI-format upstreams (OpenAI and every compatible server): one pooled HTTP
//! client, JSON calls with a deadline, and event streams read chunk by chunk with a bound on each
//! wait. Bodies pass through as JSON values, so fields this gateway does not know survive.
//! Native providers' calls ([`HttpCall`]s built by an [`crate::adapter::Provider`]) go through
//! the same client. The OpenAI wire format (translation to and from the canonical model) is in
//! the submodules.

pub mod embed;
mod request;
mod response;
mod stream_in;
mod stream_out;
mod wire;

pub use request::{request_from_openai, request_to_openai};
pub use response::{response_from_openai, response_to_openai};
pub use stream_in::OpenAiStreamIn;
pub use stream_out::OpenAiStreamOut;
pub use wire::OpenAiWire;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::Value;

use crate::adapter::{FrameDecoder, HttpCall};
use crate::sse::{Event, Parser};
use crate::{LlmError, Reply, Target};

/// Upstream headers passed back to the client (prefixed by the gateway).
const KEPT_HEADERS: &[&str] = &[
    "x-request-id",
    "openai-processing-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
];

/// A pooled client for all upstreams.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
}

/// Idle upstream connections kept per host. A gateway holding many concurrent streams to one
/// upstream would otherwise close and reopen connections for every round of calls.
const MAX_IDLE_PER_HOST: usize = 2_048;

impl Client {
    pub fn new() -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LlmError::Connect(e.to_string()))?;
        Ok(Self { http })
    }

    fn request(&self, target: &Target, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let url = format!("{}{}", target.api_base.trim_end_matches('/'), path);
        let mut req = self.http.post(url).json(body);
        if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
            req = req.bearer_auth(key);
        }
        for (k, v) in &target.headers {
            req = req.header(k, v);
        }
        req
    }

    /// A JSON call, bounded by the target's timeout.
    pub async fn post_json(
        &self,
        target: &Target,
        path: &str,
        body: &Value,
    ) -> Result<Reply, LlmError> {
        let call = async {
            let resp = self
                .request(target, path, body)
                .send()
                .await
                .map_err(send_error)?;
            let resp = check_status(resp).await?;
            let status = resp.status().as_u16();
            let headers = kept_headers(&resp);
            let bytes = resp.bytes().await.map_err(send_error)?;
            let body = serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::Protocol(format!("response is not JSON: {e}")))?;
            Ok(Reply {
                status,
                body,
                headers,
            })
        };
        tokio::time::timeout(target.timeout, call)
            .await
            .map_err(|_| LlmError::Timeout(target.timeout))?
    }

    /// A streaming call: waits for the headers, then hands back the event stream.
    pub async fn post_stream(
        &self,
        target: &Target,
        path: &str,
        body: &Value,
    ) -> Result<EventStream, LlmError> {
        let send = self.request(target, path, body).send();
        let resp = tokio::time::timeout(target.stream_timeout, send)
            .await
            .map_err(|_| LlmError::Timeout(target.stream_timeout))?
            .map_err(send_error)?;
        let resp = check_status(resp).await?;
        let headers = kept_headers(&resp);
        Ok(EventStream {
            body: Box::pin(resp.bytes_stream()),
            frames: Frames::Sse(Parser::new()),
            pending: VecDeque::new(),
            gap: target.stream_timeout,
            done: false,
            headers,
        })
    }

    fn native(&self, call: HttpCall) -> reqwest::RequestBuilder {
        let mut req = self.http.post(call.url).body(call.body);
        req = req.header("content-type", "application/json");
        for (k, v) in call.headers {
            req = req.header(k, v);
        }
        req
    }

    /// A native provider's JSON call, bounded by `timeout`.
    pub async fn send_json(&self, call: HttpCall, timeout: Duration) -> Result<Reply, LlmError> {
        let fut = async {
            let resp = self.native(call).send().await.map_err(send_error)?;
            let resp = check_status(resp).await?;
            let status = resp.status().as_u16();
            let headers = kept_headers(&resp);
            let bytes = resp.bytes().await.map_err(send_error)?;
            let body = serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::Protocol(format!("response is not JSON: {e}")))?;
            Ok(Reply {
                status,
                body,
                headers,
            })
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| LlmError::Timeout(timeout))?
    }

    /// A native provider's streaming call, its bytes cut into events by `frames`.
    pub async fn send_stream(
        &self,
        call: HttpCall,
        gap: Duration,
        frames: Box<dyn FrameDecoder>,
    ) -> Result<EventStream, LlmError> {
        let send = self.native(call).send();
        let resp = tokio::time::timeout(gap, send)
            .await
            .map_err(|_| LlmError::Timeout(gap))?
            .map_err(send_error)?;
        let resp = check_status(resp).await?;
        let headers = kept_headers(&resp);
        Ok(EventStream {
            body: Box::pin(resp.bytes_stream()),
            frames: Frames::Other(frames),
            pending: VecDeque::new(),
            gap,
            done: false,
            headers,
        })
    }
}

/// How a stream's bytes become events.
enum Frames {
    Sse(Parser),
    Other(Box<dyn FrameDecoder>),
}

impl Frames {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, LlmError> {
        match self {
            Frames::Sse(p) => Ok(p.feed(bytes)),
            Frames::Other(d) => d.feed(bytes),
        }
    }

    fn finish(&mut self) -> Result<Vec<Event>, LlmError> {
        match self {
            Frames::Sse(p) => Ok(p.finish().into_iter().collect()),
            Frames::Other(d) => d.finish(),
        }
    }
}

fn send_error(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout(Duration::ZERO)
    } else {
        LlmError::Connect(e.to_string())
    }
}

fn kept_headers(resp: &reqwest::Response) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|h| {
            let v = resp.headers().get(*h)?.to_str().ok()?;
            Some(((*h).to_owned(), v.to_owned()))
        })
        .collect()
}

/// Turns an error status into [`LlmError::Status`] with the upstream's message.
async fn check_status(resp: reqwest::Response) -> Result<reqwest::Response, LlmError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let text = resp.text().await.unwrap_or_default();
    let body: Option<Value> = serde_json::from_str(&text).ok();
    let message = body
        .as_ref()
        .and_then(|b| b.pointer("/error/message").or_else(|| b.get("message")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| text.chars().take(500).collect());
    Err(LlmError::Status {
        status: status.as_u16(),
        message,
        body,
        retry_after,
    })
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Events of an upstream stream, as they arrive.
pub struct EventStream {
    body: ByteStream,
    frames: Frames,
    pending: VecDeque<Event>,
    gap: Duration,
    done: bool,
    pub headers: Vec<(String, String)>,
}

impl EventStream {
    /// The next event; `None` at the end. Waiting longer than the stream timeout is an error.
    pub async fn next(&mut self) -> Option<Result<Event, LlmError>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            match tokio::time::timeout(self.gap, self.body.next()).await {
                Err(_) => {
                    self.done = true;
                    return Some(Err(LlmError::Timeout(self.gap)));
                }
                Ok(Some(Ok(bytes))) => match self.frames.feed(&bytes) {
                    Ok(events) => self.pending.extend(events),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                Ok(Some(Err(e))) => {
                    self.done = true;
                    return Some(Err(LlmError::Connect(format!("stream broke: {e}"))));
                }
                Ok(None) => {
                    self.done = true;
                    match self.frames.finish() {
                        Ok(events) => self.pending.extend(events),
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
        }
    }
}
