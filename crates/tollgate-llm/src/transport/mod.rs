//! The upstream HTTP client: HTTP/1.1 over TCP or TLS (Mozilla's root certificates), with a
//! pool of keep-alive connections per origin ([`pool`]), built directly on hyper's connection
//! API. Proxies come from the environment as curl reads them (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, in either case): `https` upstreams through a `CONNECT` tunnel,
//! `http` ones by requests in absolute form. A call costs one pool lookup, the request's head
//! and body written in one go, and the answer's frames as they arrive: no URL parsing beyond
//! `http::Uri`, no redirects, no middleware. An idle connection the upstream has closed
//! meanwhile is detected when the request could not be sent, and the call goes out again on
//! another connection (only then: a request that may have reached the upstream is never sent
//! twice).

mod connect;
mod pool;

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper_util::client::proxy::matcher::Matcher;

pub use pool::Origin;
use pool::{Lease, Origins, Pool};

use crate::LlmError;

/// One request to an upstream.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The absolute `http` or `https` URL.
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An upstream's answer: status and headers, and the body still to be read.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

/// The upstream client; clones share one pool.
#[derive(Clone)]
pub struct Client {
    pool: Arc<Pool>,
    origins: Arc<Origins>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client using the environment's proxies.
    pub fn new() -> Self {
        Self::with_proxies(Matcher::from_env())
    }

    /// A client using these proxies.
    pub fn with_proxies(proxies: Matcher) -> Self {
        Self {
            pool: Arc::default(),
            origins: Arc::new(Origins::new(proxies)),
        }
    }

    /// Sends `req` and waits for the answer's head.
    pub async fn send(&self, req: Request) -> Result<Response, LlmError> {
        let origin = self.origins.of(&req.uri)?;
        let mut message = Some(head(&origin, req));
        loop {
            let Some(request) = message.take() else {
                return Err(LlmError::Connect(format!("{origin}: the request was lost")));
            };
            let mut lease = self.pool.lease(&origin).await?;
            let reused = lease.reused;
            let Some(conn) = lease.conn() else {
                return Err(LlmError::Connect(format!("{origin}: no connection")));
            };
            let answer = conn.send(request);
            let mut answer = std::pin::pin!(answer);
            // The connection works here, on the caller's task, until the answer's head is in.
            let answer =
                std::future::poll_fn(|cx| conn.poll(cx, |cx| answer.as_mut().poll(cx))).await;
            match answer {
                Ok(resp) => {
                    let (parts, incoming) = resp.into_parts();
                    return Ok(Response {
                        status: parts.status,
                        headers: parts.headers,
                        body: Body {
                            incoming: Some(incoming),
                            lease: Some(lease),
                        },
                    });
                }
                Err(mut e) => {
                    // Not sent at all, on a connection the upstream had closed while it sat
                    // idle: safe to send on another one.
                    message = e.take_message();
                    if !(reused && message.is_some()) {
                        return Err(LlmError::Connect(format!(
                            "{}: {}",
                            lease.origin(),
                            e.into_error()
                        )));
                    }
                }
            }
        }
    }
}

/// The request as it goes on the wire: origin-form target (absolute form to an HTTP proxy) and
/// a `Host` header.
fn head(origin: &Origin, req: Request) -> hyper::Request<Full<Bytes>> {
    let plain_proxy = origin.proxy().filter(|_| !origin.is_https());
    let target = match plain_proxy {
        Some(_) => req.uri,
        None => req
            .uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone())),
    };
    let mut out = hyper::Request::new(Full::new(req.body));
    *out.method_mut() = req.method;
    *out.uri_mut() = target;
    *out.headers_mut() = req.headers;
    let headers = out.headers_mut();
    headers.insert(http::header::HOST, origin.host_header().clone());
    if let Some(auth) = plain_proxy.and_then(|p| p.auth.clone()) {
        headers.insert(http::header::PROXY_AUTHORIZATION, auth);
    }
    out
}

/// An answer's body. Reading it drives its connection; read to its end, the connection goes
/// back to the pool; dropped before, the connection closes.
pub struct Body {
    incoming: Option<Incoming>,
    lease: Option<Lease>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body").finish_non_exhaustive()
    }
}

impl Body {
    /// The next piece of data; `None` at the end.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, LlmError>>> {
        loop {
            let Some(incoming) = self.incoming.as_mut() else {
                return Poll::Ready(None);
            };
            let mut incoming = Pin::new(incoming);
            let frame = match self.lease.as_mut().and_then(Lease::conn) {
                Some(conn) => conn.poll(cx, |cx| incoming.as_mut().poll_frame(cx)),
                None => incoming.poll_frame(cx),
            };
            match ready!(frame) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(data)));
                        }
                    }
                }
                Some(Err(e)) => {
                    self.incoming = None;
                    self.lease = None;
                    return Poll::Ready(Some(Err(LlmError::Connect(format!("stream broke: {e}")))));
                }
                None => {
                    self.incoming = None;
                    if let Some(lease) = self.lease.take() {
                        lease.release();
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, LlmError> {
        let mut first: Option<Bytes> = None;
        let mut more: Option<BytesMut> = None;
        while let Some(data) = std::future::poll_fn(|cx| self.poll_data(cx)).await {
            let data = data?;
            match (&mut first, &mut more) {
                (None, _) => first = Some(data),
                (Some(f), None) => {
                    let mut buf = BytesMut::with_capacity(f.len() + data.len());
                    buf.extend_from_slice(f);
                    buf.extend_from_slice(&data);
                    more = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            }
        }
        Ok(match (first, more) {
            (_, Some(buf)) => buf.freeze(),
            (Some(f), None) => f,
            (None, None) => Bytes::new(),
        })
    }
}

impl futures_util::Stream for Body {
    type Item = Result<Bytes, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_data(cx)
    }
}
