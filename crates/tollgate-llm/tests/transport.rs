//! The upstream client over real sockets: connections are reused, a connection the upstream
//! closed while it sat idle is not an error, and failures say what went wrong.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::proxy::matcher::Matcher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_llm::transport::{Client, Request};

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

/// A server that answers every request on a connection, and closes each connection `linger`
/// after its last answer. Counts the connections it accepted.
async fn server(linger: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/x", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let read = tokio::time::timeout(linger, sock.read(&mut buf)).await;
                    match read {
                        Ok(Ok(n)) if n > 0 => {
                            if sock.write_all(ANSWER).await.is_err() {
                                return;
                            }
                        }
                        // Idle for `linger`, or the client went away: close.
                        _ => return,
                    }
                }
            });
        }
    });
    (url, accepted)
}

fn post(url: &str) -> Request {
    Request {
        method: http::Method::POST,
        uri: url.parse().unwrap(),
        headers: http::HeaderMap::new(),
        body: Bytes::from_static(b"{}"),
    }
}

/// A client that ignores any proxy the environment names.
fn direct() -> Client {
    Client::with_proxies(Matcher::builder().build())
}

async fn call(client: &Client, url: &str) -> Bytes {
    let resp = client.send(post(url)).await.unwrap();
    assert_eq!(resp.status, 200);
    resp.body.bytes().await.unwrap()
}

#[tokio::test]
async fn connections_are_reused() {
    let (url, accepted) = server(Duration::from_secs(5)).await;
    let client = direct();
    for _ in 0..5 {
        assert_eq!(
            call(&client, &url).await,
            Bytes::from_static(b"{\"ok\":true}")
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_without_an_error() {
    let (url, accepted) = server(Duration::from_millis(50)).await;
    let client = direct();
    call(&client, &url).await;
    // The upstream drops the idle connection; the pool still holds it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    call(&client, &url).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failures_name_the_upstream() {
    let client = direct();
    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = client
        .send(post(&format!("http://{addr}/v1/x")))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 502);
    assert!(e.to_string().contains(&addr.port().to_string()), "{e}");
    let e = client.send(post("ftp://example.com/x")).await.unwrap_err();
    assert!(e.to_string().contains("only http and https"), "{e}");
}

/// Reads a request head (through its blank line); `None` when the peer hangs up first.
async fn read_head(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    Some(head)
}

/// A proxy that records the head of the first request on each connection and answers it with
/// `answer`.
async fn proxy(answer: &'static [u8]) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://user:secret@{}", listener.local_addr().unwrap());
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut sock).await else {
                    return;
                };
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = sock.write_all(answer).await;
            });
        }
    });
    (url, heads)
}

fn through(proxy: &str) -> Client {
    Client::with_proxies(Matcher::builder().all(proxy).build())
}

#[tokio::test]
async fn https_upstreams_are_reached_through_a_connect_tunnel() {
    let (url, heads) =
        proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n").await;
    let e = through(&url)
        .send(post("https://api.example.com/v1/chat/completions"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the proxy refused the tunnel: HTTP/1.1 407"),
        "{e}"
    );
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("CONNECT api.example.com:443 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("Host: api.example.com:443\r\n"), "{head}");
    // user:secret, in Basic form.
    assert!(
        head.contains("Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn http_upstreams_are_asked_for_through_the_proxy_in_absolute_form() {
    let (url, heads) = proxy(ANSWER).await;
    let client = through(&url);
    assert_eq!(
        call(&client, "http://llm.internal:8000/v1/chat/completions").await,
        Bytes::from_static(b"{\"ok\":true}")
    );
    let head = heads.lock().unwrap()[0].to_lowercase();
    assert!(
        head.starts_with("post http://llm.internal:8000/v1/chat/completions http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("host: llm.internal:8000\r\n"), "{head}");
    assert!(
        head.contains("proxy-authorization: basic dxnlcjpzzwnyzxq=\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn tls_starts_inside_the_tunnel_once_the_proxy_opens_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let proxy = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_head(&mut sock)
            .await
            .expect("the client hung up before asking for a tunnel");
        sock.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        // What comes next is the client's TLS hello, addressed to the upstream.
        let mut buf = [0u8; 1024];
        let n = sock.read(&mut buf).await.unwrap();
        buf[..n].to_vec()
    });
    let client = through(&url);
    let call = tokio::spawn(async move {
        client
            .send(post("https://api.example.com/v1/chat/completions"))
            .await
    });
    let hello = proxy.await.unwrap();
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
    let server_name = b"api.example.com";
    assert!(
        hello.windows(server_name.len()).any(|w| w == server_name),
        "the hello names the upstream, not the proxy"
    );
    // The proxy went away mid-handshake: an error, not a hang.
    assert!(call.await.unwrap().is_err());
}
