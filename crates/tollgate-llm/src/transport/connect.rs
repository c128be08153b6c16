//! Opening a connection to an origin: TCP (no Nagle delay) to it or to its proxy, a `CONNECT`
//! tunnel through the proxy for `https`, then TLS for `https`, then the HTTP/1.1 handshake.
//!
//! A connection has no task of its own: whoever uses it polls it ([`Conn::poll`]) while waiting
//! for its answer, so a call's socket reads and writes happen on the request's own task, without
//! waking another task (and often another thread) twice per call. An idle connection in the pool
//! is not polled; one its peer closed meanwhile is found out when it is next polled.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::client::conn::TrySendError;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::pool::{Origin, Proxy};
use crate::wake::Local;
use crate::LlmError;

/// How long opening a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending half of an upstream connection.
type Sender = SendRequest<Full<Bytes>>;

/// The half of an upstream connection that reads and writes its socket.
type Driver = Connection<TokioIo<Stream>, Full<Bytes>>;

/// An open upstream connection: requests go in through its sender; its socket is read and
/// written only while it is polled ([`Conn::poll`]).
pub struct Conn {
    sender: Sender,
    /// `None` once the connection has ended.
    driver: Option<Pin<Box<Driver>>>,
    local: Local,
}

impl Conn {
    /// Polls `f` after letting the connection read and write what its socket allows. The
    /// connection's own wakes (a request handed over, an answer handed back) only poll again.
    pub fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let Self { driver, local, .. } = self;
        local.poll(cx, |cx| {
            drive(driver, cx);
            f(cx)
        })
    }

    /// Hands `request` to the connection; the answer's head arrives while the returned future
    /// is polled through [`Conn::poll`].
    pub fn send(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> impl Future<Output = Result<hyper::Response<Incoming>, TrySendError<hyper::Request<Full<Bytes>>>>>
    {
        let Self { sender, local, .. } = self;
        local.quietly(|| sender.try_send_request(request))
    }

    /// Whether the connection may still carry a request.
    pub fn is_open(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }

    /// Waits until the connection can take a request; false if it ended instead.
    pub async fn ready(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            let Self {
                sender,
                driver,
                local,
            } = self;
            local.poll(cx, |cx| {
                let open = drive(driver, cx);
                match sender.poll_ready(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(open),
                    Poll::Ready(Err(_)) => Poll::Ready(false),
                    Poll::Pending if open => Poll::Pending,
                    Poll::Pending => Poll::Ready(false),
                }
            })
        })
        .await
    }
}

/// Reads and writes what the socket allows, registering `cx` for more. False once the
/// connection has ended (peer closed, broken, or done); the driver is then dropped.
fn drive(driver: &mut Option<Pin<Box<Driver>>>, cx: &mut Context<'_>) -> bool {
    let Some(running) = driver.as_mut() else {
        return false;
    };
    match running.as_mut().poll(cx) {
        Poll::Pending => true,
        Poll::Ready(ended) => {
            if let Err(e) = ended {
                tracing::debug!("upstream connection ended: {e}");
            }
            *driver = None;
            false
        }
    }
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client setup, built on first use: the Mozilla root certificates, HTTP/1.1 by ALPN.
fn tls() -> TlsConnector {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    });
    TlsConnector::from(Arc::clone(config))
}

fn failed(origin: &Origin, e: impl std::fmt::Display) -> LlmError {
    LlmError::Connect(format!("{origin}: {e}"))
}

/// The longest answer a proxy may give to `CONNECT`.
const MAX_TUNNEL_ANSWER: usize = 16 * 1024;

/// Asks `proxy` for a tunnel to `origin` over `tcp`.
async fn tunnel(tcp: &mut TcpStream, origin: &Origin, proxy: &Proxy) -> Result<(), LlmError> {
    let target = format!("{}:{}", origin.host_header_host(), origin.port());
    let mut ask = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.auth.as_ref().and_then(|a| a.to_str().ok()) {
        ask.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    ask.push_str("\r\n");
    tcp.write_all(ask.as_bytes())
        .await
        .map_err(|e| failed(origin, e))?;
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    while memchr::memmem::find(&answer, b"\r\n\r\n").is_none() {
        let n = tcp.read(&mut buf).await.map_err(|e| failed(origin, e))?;
        if n == 0 || answer.len() + n > MAX_TUNNEL_ANSWER {
            return Err(failed(
                origin,
                "the proxy closed the tunnel before answering",
            ));
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let status = answer.split(|b| *b == b'\r').next().unwrap_or_default();
    let status = String::from_utf8_lossy(status);
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(failed(
            origin,
            format!("the proxy refused the tunnel: {status}"),
        )),
    }
}

/// Opens a connection to `origin`.
pub async fn open(origin: &Origin) -> Result<Conn, LlmError> {
    let opening = async {
        let (host, port) = match origin.proxy() {
            Some(p) => (&*p.host, p.port),
            None => (origin.host(), origin.port()),
        };
        let mut tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| failed(origin, e))?;
        tcp.set_nodelay(true).map_err(|e| failed(origin, e))?;
        if !origin.is_https() {
            return Ok(Stream::Plain(tcp));
        }
        if let Some(proxy) = origin.proxy() {
            tunnel(&mut tcp, origin, proxy).await?;
        }
        let name = ServerName::try_from(origin.host().to_owned())
            .map_err(|e| failed(origin, format!("not a valid TLS server name: {e}")))?;
        let tls = tls()
            .connect(name, tcp)
            .await
            .map_err(|e| failed(origin, format!("TLS handshake failed: {e}")))?;
        Ok(Stream::Tls(Box::new(tls)))
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, opening)
        .await
        .map_err(|_| failed(origin, format!("no connection within {CONNECT_TIMEOUT:?}")))??;
    let (sender, driver) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(origin, e))?;
    Ok(Conn {
        sender,
        driver: Some(Box::pin(driver)),
        local: Local::default(),
    })
}
