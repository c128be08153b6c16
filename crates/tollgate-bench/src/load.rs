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
/// bytes, the largest pause between two pieces of the body, and the most any chunk's gap grew
/// on the way (its gap on arrival less its gap when the upstream sent it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub total_us: u64,
    pub first_byte_us: u64,
    pub max_gap_us: u64,
    pub max_added_gap_us: u64,
}

/// The send stamps (`tok@<µs>`) of the chunks in a piece of a stream.
fn stamps(data: &[u8]) -> impl Iterator<Item = u64> + '_ {
    data.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"tok@")
        .filter_map(move |(i, _)| {
            let digits: &[u8] = &data[i + 4..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
        })
}

/// The largest growth of a chunk's gap so far, from chunk stamps and arrival times (µs).
#[derive(Default)]
struct Stretch {
    last: Option<(u64, u64)>,
    max: u64,
}

impl Stretch {
    fn chunk(&mut self, sent: u64, arrived: u64) {
        if let Some((prev_sent, prev_arrived)) = self.last {
            let grown =
                arrived.saturating_sub(prev_arrived) as i64 - sent.saturating_sub(prev_sent) as i64;
            self.max = self.max.max(u64::try_from(grown).unwrap_or(0));
        }
        self.last = Some((sent, arrived));
    }
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
    let mut stretch = Stretch::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) else {
            continue;
        };
        let now = Instant::now();
        if first.is_some() {
            max_gap = max_gap.max(now - last);
        } else {
            first = Some(now);
        }
        last = now;
        for sent in stamps(data) {
            stretch.chunk(sent, crate::servers::micros(now));
        }
    }
    let end = Instant::now();
    ok.then(|| Sample {
        total_us: us(end - start),
        first_byte_us: us(first.unwrap_or(end) - start),
        max_gap_us: us(max_gap),
        max_added_gap_us: stretch.max,
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
            all.iter().map(|s| s.max_added_gap_us).collect(),
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

/// Sends `n` requests one after another on one keep-alive connection, reading every body to
/// its end; returns how many failed (an answer other than 200, or a broken body).
pub async fn sequential(target: &Target, n: u64) -> anyhow::Result<u64> {
    let mut sender = connect::<Full<Bytes>>(target.addr).await?;
    let mut errors = 0;
    for _ in 0..n {
        sender.ready().await?;
        let resp = sender.send_request(chat_request(target)?).await?;
        if read_timed(resp, Instant::now()).await.is_none() {
            errors += 1;
        }
    }
    Ok(errors)
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

/// What [`fetch`] saw of an answer: its status, its length, its first and last bytes.
pub struct Fetched {
    pub status: StatusCode,
    pub bytes: usize,
    pub head: String,
    pub tail: String,
}

/// A GET whose answer is read to its last byte and counted, not kept: for timing large answers
/// as a client receives them, without the time of copying them into one buffer.
pub async fn fetch(addr: SocketAddr, path: &str, bearer: &str) -> anyhow::Result<Fetched> {
    let mut sender = connect::<Full<Bytes>>(addr).await?;
    let req = Request::builder()
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {bearer}"))
        .body(Full::new(Bytes::new()))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let mut body = resp.into_body();
    const KEEP: usize = 1000;
    let (mut bytes, mut head, mut tail) = (0, Vec::new(), Vec::new());
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        bytes += data.len();
        if head.len() < KEEP {
            head.extend_from_slice(&data[..data.len().min(KEEP - head.len())]);
        }
        tail.extend_from_slice(&data[data.len().saturating_sub(KEEP)..]);
        tail.drain(..tail.len().saturating_sub(KEEP));
    }
    Ok(Fetched {
        status,
        bytes,
        head: String::from_utf8_lossy(&head).into_owned(),
        tail: String::from_utf8_lossy(&tail).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_read_from_any_piece() {
        let piece = br#"data: {"delta":{"content":"tok@120 "}}

data: {"delta":{"content":"tok@345 "}}

data: {"delta":{"content":"tok@"}}

"#;
        assert_eq!(stamps(piece).collect::<Vec<_>>(), vec![120, 345]);
        assert_eq!(stamps(b"tok@9").collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn a_gap_counts_only_what_it_grew_on_the_way() {
        let mut s = Stretch::default();
        s.chunk(0, 100);
        s.chunk(20_000, 20_100);
        assert_eq!(s.max, 0);
        // Sent 20 ms after the last, arrived 27 ms after it: 7 ms added.
        s.chunk(40_000, 47_100);
        assert_eq!(s.max, 7_000);
        // Two chunks arriving together shrink nothing below zero.
        s.chunk(60_000, 47_100);
        assert_eq!(s.max, 7_000);
    }
}
