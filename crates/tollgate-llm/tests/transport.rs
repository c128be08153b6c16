//! The upstream client over real sockets: connections are reused, a connection the upstream
//! closed while it sat idle is not an error, and failures say what went wrong.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
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

async fn call(client: &Client, url: &str) -> Bytes {
    let resp = client.send(post(url)).await.unwrap();
    assert_eq!(resp.status, 200);
    resp.body.bytes().await.unwrap()
}

#[tokio::test]
async fn connections_are_reused() {
    let (url, accepted) = server(Duration::from_secs(5)).await;
    let client = Client::new();
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
    let client = Client::new();
    call(&client, &url).await;
    // The upstream drops the idle connection; the pool still holds it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    call(&client, &url).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failures_name_the_upstream() {
    let client = Client::new();
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
