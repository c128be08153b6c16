//! Calls to upstreams over the pooled [`crate::transport`] client: OpenAI-compatible servers
//! (their base URL and a bearer key) and native providers' [`HttpCall`]s built by an
//! [`crate::adapter::Provider`], with a deadline on whole answers and on the wait for each piece
//! of a stream. Bodies go out and come back as bytes, so a call passed through keeps every field
//! as the client and the upstream wrote it. The OpenAI wire format (translation to and from the
//! canonical model) is in the submodules.

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
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method, Uri};
use serde_json::Value;

use crate::adapter::{FrameDecoder, HttpCall};
use crate::sse::Event;
use crate::transport::{self, Body};
use crate::{LlmError, RawReply, Reply, Target};

/// Upstream headers passed back to the client (prefixed by the gateway).
const KEPT_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("openai-processing-ms"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
];

/// A pooled client for all upstreams.
#[derive(Debug, Clone, Default)]
pub struct Client {
    http: transport::Client,
}

/// A streamed answer before its events are cut: the kept headers and the body.
pub struct RawStream {
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

fn bad_request(e: impl std::fmt::Display) -> LlmError {
    LlmError::Connect(format!("could not build the upstream request: {e}"))
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), LlmError> {
    Ok((
        HeaderName::from_bytes(name.as_bytes()).map_err(bad_request)?,
        HeaderValue::from_str(value).map_err(bad_request)?,
    ))
}

/// A JSON POST.
fn post(uri: Uri, headers: HeaderMap, body: Bytes) -> transport::Request {
    transport::Request {
        method: Method::POST,
        uri,
        headers,
        body,
    }
}

fn parse_uri(text: &str) -> Result<Uri, LlmError> {
    text.parse()
        .map_err(|e| bad_request(format!("{text}: {e}")))
}

/// `base` + `path`, written once into the bytes the `Uri` keeps (no copy of the text).
fn join_uri(base: &str, path: &str) -> Result<Uri, LlmError> {
    let mut text = String::with_capacity(base.len() + path.len());
    text.push_str(base);
    text.push_str(path);
    Uri::from_maybe_shared(Bytes::from(text)).map_err(|e| bad_request(format!("{base}{path}: {e}")))
}

/// `Bearer <key>`, written once into the header's own bytes.
fn bearer(key: &str) -> Result<HeaderValue, LlmError> {
    let mut value = Vec::with_capacity("Bearer ".len() + key.len());
    value.extend_from_slice(b"Bearer ");
    value.extend_from_slice(key.as_bytes());
    HeaderValue::from_maybe_shared(Bytes::from(value)).map_err(bad_request)
}

/// `content-type: application/json` and the given headers.
fn json_headers<'a>(
    extra: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, LlmError> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in extra {
        let (k, v) = header(k, v)?;
        headers.insert(k, v);
    }
    Ok(headers)
}

impl Client {
    pub fn new() -> Self {
        Self::default()
    }

    /// A call to an OpenAI-compatible server: `api_base` + `path`, the key as a bearer token.
    fn openai(
        &self,
        target: &Target,
        path: &str,
        body: Bytes,
    ) -> Result<transport::Request, LlmError> {
        let uri = join_uri(target.api_base.trim_end_matches('/'), path)?;
        let mut headers =
            json_headers(target.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
            headers.insert(AUTHORIZATION, bearer(key)?);
        }
        Ok(post(uri, headers, body))
    }

    fn native(&self, call: HttpCall) -> Result<transport::Request, LlmError> {
        let headers = json_headers(call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(post(parse_uri(&call.url)?, headers, call.body))
    }

    /// Sends and reads the whole answer, bounded by `timeout`.
    async fn whole(
        &self,
        req: transport::Request,
        timeout: Duration,
    ) -> Result<RawReply, LlmError> {
        let call = async {
            let resp = check_status(self.http.send(req).await?).await?;
            let headers = kept_headers(&resp.headers);
            let body = resp.body.bytes().await?;
            Ok(RawReply {
                status: resp.status.as_u16(),
                headers,
                body,
            })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| LlmError::Timeout(timeout))?
    }

    /// Sends and waits for the answer's head, bounded by `gap`.
    async fn head(&self, req: transport::Request, gap: Duration) -> Result<RawStream, LlmError> {
        let resp = tokio::time::timeout(gap, self.http.send(req))
            .await
            .map_err(|_| LlmError::Timeout(gap))??;
        let resp = check_status(resp).await?;
        Ok(RawStream {
            headers: kept_headers(&resp.headers),
            body: resp.body,
        })
    }

    /// A call to an OpenAI-compatible server whose body is already JSON bytes; the answer comes
    /// back as bytes too. Bounded by the target's timeout.
    pub async fn post_raw(
        &self,
        target: &Target,
        path: &str,
        body: Bytes,
    ) -> Result<RawReply, LlmError> {
        self.whole(self.openai(target, path, body)?, target.timeout)
            .await
    }

    /// A streaming call to an OpenAI-compatible server: waits for the answer's head (bounded by
    /// the target's stream timeout) and hands back the body unread.
    pub async fn post_raw_stream(
        &self,
        target: &Target,
        path: &str,
        body: Bytes,
    ) -> Result<RawStream, LlmError> {
        self.head(self.openai(target, path, body)?, target.stream_timeout)
            .await
    }

    /// A native provider's call, its answer as bytes, bounded by `timeout`.
    pub async fn send_raw(&self, call: HttpCall, timeout: Duration) -> Result<RawReply, LlmError> {
        self.whole(self.native(call)?, timeout).await
    }

    /// A native provider's JSON call, bounded by `timeout`.
    pub async fn send_json(&self, call: HttpCall, timeout: Duration) -> Result<Reply, LlmError> {
        let raw = self.send_raw(call, timeout).await?;
        let body = serde_json::from_slice(&raw.body)
            .map_err(|e| LlmError::Protocol(format!("response is not JSON: {e}")))?;
        Ok(Reply {
            status: raw.status,
            body,
            headers: raw.headers,
        })
    }

    /// A native provider's streaming call, unread: the answer's head within `gap`.
    pub async fn send_raw_stream(
        &self,
        call: HttpCall,
        gap: Duration,
    ) -> Result<RawStream, LlmError> {
        self.head(self.native(call)?, gap).await
    }

    /// A native provider's streaming call, its bytes cut into events by `frames`.
    pub async fn send_stream(
        &self,
        call: HttpCall,
        gap: Duration,
        frames: Box<dyn FrameDecoder>,
    ) -> Result<EventStream, LlmError> {
        let raw = self.send_raw_stream(call, gap).await?;
        Ok(EventStream {
            body: raw.body,
            frames,
            pending: VecDeque::new(),
            gap,
            done: false,
            headers: raw.headers,
        })
    }
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|h| {
            let v = headers.get(h)?.to_str().ok()?;
            Some((h.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Turns an error status into [`LlmError::Status`] with the upstream's message.
async fn check_status(resp: transport::Response) -> Result<transport::Response, LlmError> {
    let status = resp.status;
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let bytes = resp.body.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
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

/// Events of an upstream stream, as they arrive.
pub struct EventStream {
    body: Body,
    frames: Box<dyn FrameDecoder>,
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
                    return Some(Err(e));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_urls_keep_their_text_and_bad_ones_name_it() {
        let uri = join_uri("http://127.0.0.1:8080/v1", "/chat/completions").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:8080/v1/chat/completions");
        assert_eq!(uri.path(), "/v1/chat/completions");
        let e = join_uri("http://bad host/v1", "/chat/completions").unwrap_err();
        assert!(
            e.to_string()
                .contains("http://bad host/v1/chat/completions"),
            "{e}"
        );
        let e = parse_uri("http://bad host/x").unwrap_err();
        assert!(e.to_string().contains("http://bad host/x"), "{e}");
    }

    #[test]
    fn bearer_headers_carry_the_key_and_refuse_control_characters() {
        assert_eq!(bearer("sk-1").unwrap(), "Bearer sk-1");
        assert!(bearer("sk-1\nX-Injected: 1").is_err());
    }
}
