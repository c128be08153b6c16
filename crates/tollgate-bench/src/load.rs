//! The load generator: N keep-alive connections sending requests back to back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};

use crate::servers::connect;
use crate::stats::{summarize, Summary};

/// The chat request every case sends.
pub const CHAT_BODY: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}]}"#;

/// What to send: the target's address and the bearer token, if any.
#[derive(Clone)]
pub struct Target {
    /// Where the target listens.
    pub addr: SocketAddr,
    /// `Authorization: Bearer` value.
    pub key: Option<String>,
}

fn chat_request(target: &Target) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut b = Request::post("/v1/chat/completions")
        .header("host", target.addr.to_string())
        .header("content-type", "application/json");
    if let Some(key) = &target.key {
        b = b.header("authorization", format!("Bearer {key}"));
    }
    Ok(b.body(Full::new(Bytes::from_static(CHAT_BODY.as_bytes())))?)
}

/// One connection's loop: returns latencies (µs) of requests that finished inside the window
/// `[measure_from, until)`, and the count of failures.
async fn worker(
    target: Target,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut sender = connect::<Full<Bytes>>(target.addr).await?;
    let (mut lat, mut errors) = (Vec::with_capacity(4096), 0u64);
    while Instant::now() < until {
        if sender.is_closed() || sender.ready().await.is_err() {
            errors += 1;
            sender = connect(target.addr).await?;
            continue;
        }
        let req = chat_request(&target)?;
        let start = Instant::now();
        let ok = match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.into_body().collect().await;
                status == StatusCode::OK && body.is_ok()
            }
            Err(_) => false,
        };
        let end = Instant::now();
        if start >= measure_from && end < until {
            if ok {
                let us = u64::try_from(end.duration_since(start).as_micros()).unwrap_or(u64::MAX);
                lat.push(us);
            } else {
                errors += 1;
            }
        }
    }
    Ok((lat, errors))
}

/// Drives `target` with `connections` connections for `warmup` (discarded) then `duration`.
pub async fn run(
    target: &Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let measure_from = Instant::now() + warmup;
    let until = measure_from + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        tasks.push(tokio::spawn(worker(target.clone(), measure_from, until)));
    }
    let (mut all, mut errors) = (Vec::new(), 0u64);
    for t in tasks {
        let (lat, e) = t.await??;
        all.extend(lat);
        errors += e;
    }
    Ok(summarize(all, errors, duration.as_secs_f64()))
}

/// Sends one request and returns the status and the body.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: &str,
    body: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let mut sender = connect::<Full<Bytes>>(addr).await?;
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {bearer}"))
        .body(Full::new(Bytes::from(body.to_owned())))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
