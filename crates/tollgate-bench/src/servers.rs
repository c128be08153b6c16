//! The fake OpenAI upstream (JSON, or an event stream when the request asks for one) and the
//! floor: a bare hyper pass-through proxy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// The fixed answer of the fake upstream: a chat completion with usage.
pub const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}"#;

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

/// How the fake upstream streams: `chunks` content chunks, `gap` apart, then the final chunk,
/// the usage chunk and `[DONE]`.
#[derive(Debug, Clone, Copy)]
pub struct StreamShape {
    /// Content chunks per stream.
    pub chunks: usize,
    /// Pause before each chunk after the first.
    pub gap: Duration,
}

fn sse_frame(json: &str) -> Frame<Bytes> {
    Frame::data(Bytes::from(format!("data: {json}\n\n")))
}

/// The instant the bench's clock counts from: the upstream stamps each chunk it sends with it,
/// and the generator, in the same process, compares the stamps with when chunks arrive.
pub fn clock() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since [`clock`].
pub fn micros(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(clock()).as_micros()).unwrap_or(u64::MAX)
}

/// A content chunk stamped with the time it leaves the upstream: `tok@<µs> ` (content, which
/// every gateway passes on as it is).
fn stamped_chunk() -> Frame<Bytes> {
    sse_frame(&format!(
        r#"{{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{{"index":0,"delta":{{"content":"tok@{} "}},"finish_reason":null}}]}}"#,
        micros(Instant::now())
    ))
}

/// The event stream of one streamed completion, paced by `shape.gap`.
fn sse_body(shape: StreamShape) -> UpstreamBody {
    const LAST: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    let usage = format!(
        r#"{{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[],"usage":{{"prompt_tokens":9,"completion_tokens":{},"total_tokens":{}}}}}"#,
        shape.chunks,
        9 + shape.chunks
    );
    let frames = futures_util::stream::unfold(0usize, move |i| {
        let usage = usage.clone();
        async move {
            let frame = match i {
                0 => stamped_chunk(),
                i if i < shape.chunks => {
                    tokio::time::sleep(shape.gap).await;
                    stamped_chunk()
                }
                i if i == shape.chunks => {
                    let mut text = format!("data: {LAST}\n\ndata: {usage}\n\n");
                    text.push_str("data: [DONE]\n\n");
                    Frame::data(Bytes::from(text))
                }
                _ => return None,
            };
            Some((Ok::<_, Infallible>(frame), i + 1))
        }
    });
    UpstreamBody::Right(StreamBody::new(Box::pin(frames)))
}

type FrameStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;
type UpstreamBody = Either<Full<Bytes>, StreamBody<FrameStream>>;

/// Whether a request body asks for a stream (`"stream":true`, as the bench sends it).
fn wants_stream(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// A listener with a backlog as deep as the gateway's (the default 128 overflows when hundreds
/// of connections open at once, and a dropped handshake waits a second to be retried).
pub fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(4096)?)
}

/// Binds the fake upstream on `listen` and serves it in the background; returns its address.
pub async fn spawn_upstream(
    listen: SocketAddr,
    latency: Duration,
    shape: StreamShape,
) -> anyhow::Result<SocketAddr> {
    let listener = self::listen(listen)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| async move {
                    let ok = req.method() == hyper::Method::POST
                        && req.uri().path() == "/v1/chat/completions";
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    if !ok {
                        return Ok::<_, Infallible>(
                            text(StatusCode::NOT_FOUND, "{}").map(UpstreamBody::Left),
                        );
                    }
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    let (resp, kind) = if wants_stream(&body) {
                        (Response::new(sse_body(shape)), "text/event-stream")
                    } else {
                        (
                            text(StatusCode::OK, COMPLETION).map(UpstreamBody::Left),
                            "application/json",
                        )
                    };
                    let mut resp = resp;
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(kind),
                    );
                    Ok(resp)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Forwards one request on this downstream connection's own upstream connection.
async fn forward(
    upstream: SocketAddr,
    conn: Arc<Mutex<Option<SendRequest<Incoming>>>>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let bad_gateway = || {
        let mut r = Response::new(Either::Right(Full::new(Bytes::from_static(b"bad gateway"))));
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        r
    };
    let mut guard = conn.lock().await;
    let reusable = matches!(guard.as_ref(), Some(s) if !s.is_closed());
    if !reusable {
        match connect(upstream).await {
            Ok(s) => *guard = Some(s),
            Err(_) => return Ok(bad_gateway()),
        }
    }
    let Some(sender) = guard.as_mut() else {
        return Ok(bad_gateway());
    };
    if sender.ready().await.is_err() {
        *guard = None;
        return Ok(bad_gateway());
    }
    match sender.send_request(req).await {
        Ok(resp) => Ok(resp.map(Either::Left)),
        Err(_) => {
            *guard = None;
            Ok(bad_gateway())
        }
    }
}

/// Opens a keep-alive HTTP/1 client connection to `addr`.
pub async fn connect<B>(addr: SocketAddr) -> anyhow::Result<SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Runs the floor proxy on `listener` until the process is stopped: each downstream connection
/// gets one keep-alive upstream connection, and bodies are streamed through untouched.
pub async fn run_floor(listener: TcpListener, upstream: SocketAddr) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let conn = Arc::new(Mutex::new(None));
            let svc = service_fn(move |req| forward(upstream, Arc::clone(&conn), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
