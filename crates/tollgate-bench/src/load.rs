//! The load generator: N keep-alive connections sending requests back to back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};

use crate::servers::connect;
use crate::stats::{summarize, StreamSummary, Summary};

/// The chat request every case sends.
pub const CHAT_BODY: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}]}"#;
/// The same request, streamed.
pub const STREAM_BODY: &str =
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}],"stream":true}"#;

/// What to send: the target's address and the bearer token, if any.
#[derive(Clone)]
pub struct Target {
    /// Where the target listens.
    pub addr: SocketAddr,
    /// `Authorization: Bearer` value.
    pub key: Option<String>,
    /// Send streamed requests and time their chunks.
    pub stream: bool,
}

/// What one request measured: its whole time and, for streams, the time to the first body
/// bytes and the largest pause between two pieces of the body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub total_us: u64,
    pub first_byte_us: u64,
    pub max_gap_us: u64,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Reads a response body piece by piece, timing the first piece and the gaps between pieces.
async fn read_timed(
    resp: hyper::Response<hyper::body::Incoming>,
    start: Instant,
) -> Option<Sample> {
    let ok = resp.status() == StatusCode::OK;
    let mut body = resp.into_body();
    let (mut first, mut last, mut max_gap) = (None, start, Duration::ZERO);
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if frame.data_ref().is_some_and(|d| !d.is_empty()) {
            let now = Instant::now();
            if first.is_some() {
                max_gap = max_gap.max(now - last);
            } else {
                first = Some(now);
            }
            last = now;
        }
    }
    let end = Instant::now();
    ok.then(|| Sample {
        total_us: us(end - start),
        first_byte_us: us(first.unwrap_or(end) - start),
        max_gap_us: us(max_gap),
    })
}

fn chat_request(target: &Target) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut b = Request::post("/v1/chat/completions")
        .header("host", target.addr.to_string())
        .header("content-type", "application/json");
    if let Some(key) = &target.key {
        b = b.header("authorization", format!("Bearer {key}"));
    }
    let body = if target.stream {
        STREAM_BODY
    } else {
        CHAT_BODY
    };
    Ok(b.body(Full::new(Bytes::from_static(body.as_bytes())))?)
}

/// One connection's loop: returns the samples of requests that finished inside the window
/// `[measure_from, until)`, and the count of failures.
async fn worker(
    target: Target,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<(Vec<Sample>, u64)> {
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
        let sample = match sender.send_request(req).await {
            Ok(resp) => read_timed(resp, start).await,
            Err(_) => None,
        };
        let end = Instant::now();
        if start >= measure_from && end < until {
            match sample {
                Some(s) => lat.push(s),
                None => errors += 1,
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
    let streams = target.stream.then(|| {
        StreamSummary::of(
            all.iter().map(|s| s.first_byte_us).collect(),
            all.iter().map(|s| s.max_gap_us).collect(),
        )
    });
    let mut summary = summarize(
        all.iter().map(|s| s.total_us).collect(),
        errors,
        duration.as_secs_f64(),
    );
    summary.stream = streams;
    Ok(summary)
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
