//! The fake OpenAI upstream and the floor: a bare hyper pass-through proxy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
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

/// Binds the fake upstream on `listen` and serves it in the background; returns its address.
pub async fn spawn_upstream(listen: SocketAddr, latency: Duration) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
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
                    // Drain the request body as a real server would.
                    let _ = req.into_body().collect().await;
                    if !ok {
                        return Ok::<_, Infallible>(text(StatusCode::NOT_FOUND, "{}"));
                    }
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    let mut resp = text(StatusCode::OK, COMPLETION);
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
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
