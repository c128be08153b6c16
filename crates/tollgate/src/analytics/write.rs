//! Writing a daily-activity answer, `{"results": [day, ...], "metadata": {totals, page}}`, in
//! LiteLLM's shape. A month of a large deployment is ~10⁶ breakdown entries and ~200 MB of JSON,
//! so the answer is summed and written on the blocking pool, by hand from the sums (each key's
//! name and metadata rendered once), a day at a time as the store reads the days, newest first,
//! and sent a chunk at a time as it is written: the database is read, the days summed and the
//! text sent all at once, and the process holds a few days' rows, never the whole text. A
//! per-key split equal to one written earlier that day is sent again as the same chunks
//! ([`super::reuse`]).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tollgate_store::{DailyDays, DailyRow, TokenMeta};

use super::lookups::Lookups;
use super::reuse::{Split, Written};
use super::shape::{self, Breakdown, Day, Metrics, Ranks};
use crate::admin::common::total_pages;
use crate::http::Error;

/// Bytes written before they are handed to the response body: small enough that the allocator
/// reuses the buffers instead of mapping fresh pages for each.
const CHUNK: usize = 64 * 1024;

/// A chunk's buffer: a chunk and one more breakdown entry fit without growing it.
const BUFFER: usize = CHUNK + 4096;

/// Chunks shorter than this are copied out of the buffer rather than taking it.
const SHORT: usize = 4096;

/// What an activity answer is made of.
pub struct Answer {
    /// The newest day's rows, read (and its keys looked up) before the answer starts.
    pub first: Option<Vec<DailyRow>>,
    /// The other days, as the store reads them.
    pub days: DailyDays,
    /// Aliases and teams of the keys, labels of the entities.
    pub lookups: Lookups,
    /// `(page, page size)` for the paginated endpoints; the aggregated ones answer every day.
    pub page: Option<(u32, u32)>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut out = Sink {
                buf: Vec::with_capacity(BUFFER),
                tx,
            };
            if let Err(Stop::Failed(e)) = self.write(&mut out, &runtime) {
                // The status is sent: the answer can only be cut off, which the client sees.
                tracing::error!("daily activity answer cut off: {e}");
                let _ = out.tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        });
        let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (b, rx))
        }));
        ([(CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Why an answer ended early.
enum Stop {
    /// The client went away.
    Gone,
    /// A later day could not be read or looked up.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl From<tollgate_store::StoreError> for Stop {
    fn from(e: tollgate_store::StoreError) -> Self {
        Stop::Failed(e.into())
    }
}

/// The text written so far, handed to the body a chunk at a time.
struct Sink {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Sink {
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn full(&self) -> bool {
        self.buf.len() >= CHUNK
    }

    /// Hands over what is written so far, if anything.
    fn flush(&mut self) -> Result<(), Stop> {
        match self.cut() {
            Some(chunk) => self.send(chunk),
            None => Ok(()),
        }
    }

    /// The text written so far, as a chunk of its own. A short one is copied out, so that its
    /// buffer is written on again instead of being held by the body until it is sent.
    fn cut(&mut self) -> Option<Bytes> {
        if self.buf.is_empty() {
            return None;
        }
        if self.buf.len() < SHORT {
            let chunk = Bytes::copy_from_slice(&self.buf);
            self.buf.clear();
            return Some(chunk);
        }
        Some(Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(BUFFER),
        )))
    }

    fn send(&mut self, chunk: Bytes) -> Result<(), Stop> {
        self.tx.blocking_send(Ok(chunk)).map_err(|_| Stop::Gone)
    }
}

impl Answer {
    /// Sums and writes each day as it comes, newest first, then the totals of every day.
    fn write(self, out: &mut Sink, runtime: &Handle) -> Result<(), Stop> {
        let Answer {
            first,
            days,
            mut lookups,
            page,
        } = self;
        let started = Instant::now();
        let (skip, take) = match page {
            None => (0, usize::MAX),
            Some((page, size)) => ((page as usize - 1) * size as usize, size as usize),
        };
        let (mut count, mut rows_read, mut total) = (0usize, 0usize, Metrics::default());
        let mut texts = KeyTexts::default();
        out.put(b"{\"results\":[");
        let mut summed_days = summing(first, days, skip..skip.saturating_add(take));
        while let Some(next) = summed_days.blocking_recv() {
            let (rows, summed) = next?;
            rows_read += rows.len();
            rows.iter().for_each(|r| total.add(r));
            if let Some(summed) = summed {
                runtime.block_on(lookups.fill(&rows))?;
                if count > skip {
                    out.put(b",");
                }
                let mut w = Writer {
                    out: &mut *out,
                    ranks: &summed.ranks,
                    key_texts: &mut texts,
                    keys: &lookups.keys,
                    labels: &lookups.labels,
                };
                for day in &summed.days {
                    w.day(day)?;
                }
            }
            count += 1;
        }
        let pages = page.map_or(1, |(_, size)| total_pages(count as u64, size));
        out.put(b"],\"metadata\":");
        let page = page.map_or(1, |(page, _)| page);
        out.put(totals(&total, page, pages).to_string().as_bytes());
        out.put(b"}");
        out.flush()?;
        tracing::debug!(
            rows = rows_read,
            days = count,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "daily activity answered"
        );
        Ok(())
    }
}

/// A day's rows, and their sums when the day is written.
type Summed = tollgate_store::Result<(Vec<DailyRow>, Option<shape::Days>)>;

/// Sums the days on a thread of their own, those at the places in `written` (newest first),
/// one day ahead of the writer: summing is half the work of writing a day, and overlaps it.
fn summing(
    first: Option<Vec<DailyRow>>,
    mut days: DailyDays,
    written: std::ops::Range<usize>,
) -> mpsc::Receiver<Summed> {
    let (tx, rx) = mpsc::channel::<Summed>(1);
    tokio::task::spawn_blocking(move || {
        let mut next = first.map(Ok);
        for place in 0.. {
            let Some(day) = next.take().or_else(|| days.blocking_next()) else {
                break;
            };
            let failed = day.is_err();
            let summed = day.map(|rows| {
                let sums = written.contains(&place).then(|| shape::build(&rows));
                (rows, sums)
            });
            if tx.blocking_send(summed).is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Each API key's name and metadata as JSON, rendered the first time the key is written:
/// `"<hash>":{"metrics":` and `,"metadata":{"key_alias":…,"team_id":…}}`. Keys are told apart by
/// address, as in [`super::lookups`] (the text is kept, and with it the address).
#[derive(Default)]
struct KeyTexts(FxHashMap<usize, KeyText>);

/// A key's text (kept for its address), and the JSON before and after its metrics.
struct KeyText {
    _hash: Arc<str>,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl KeyTexts {
    fn get(&mut self, hash: &Arc<str>, keys: &HashMap<String, TokenMeta>) -> (&[u8], &[u8]) {
        let text = self.0.entry(shape::address(hash)).or_insert_with(|| {
            let mut head = Vec::with_capacity(hash.len() + 16);
            string(&mut head, hash);
            head.extend_from_slice(b":{\"metrics\":");
            let m = keys.get(&**hash);
            let tail = json!({
                "key_alias": m.and_then(|m| m.key_alias.as_deref()),
                "team_id": m.and_then(|m| m.team_id.as_deref()),
            });
            KeyText {
                _hash: Arc::clone(hash),
                head,
                tail: format!(",\"metadata\":{tail}}}").into_bytes(),
            }
        });
        (&text.head, &text.tail)
    }
}

struct Writer<'a> {
    out: &'a mut Sink,
    ranks: &'a Ranks,
    key_texts: &'a mut KeyTexts,
    keys: &'a HashMap<String, TokenMeta>,
    /// Entity metadata as JSON, by entity id.
    labels: &'a HashMap<String, String>,
}

impl Writer<'_> {
    fn day(&mut self, day: &Day) -> Result<(), Stop> {
        let mut written = Written::default();
        self.out.put(b"{\"date\":");
        string(&mut self.out.buf, self.ranks.name(day.date));
        self.out.put(b",\"metrics\":");
        metrics(&mut self.out.buf, &day.metrics);
        self.out.put(b",\"breakdown\":{\"models\":");
        self.breakdown(&day.models, false, &mut written)?;
        self.out.put(b",\"model_groups\":");
        self.breakdown(&day.model_groups, false, &mut written)?;
        self.out.put(b",\"providers\":");
        self.breakdown(&day.providers, false, &mut written)?;
        self.out.put(b",\"endpoints\":");
        self.breakdown(&day.endpoints, false, &mut written)?;
        self.out.put(b",\"mcp_servers\":{},\"api_keys\":");
        self.keys(&day.api_keys, &day.metrics, &mut written)?;
        self.out.put(b",\"entities\":");
        self.breakdown(&day.entities, true, &mut written)?;
        self.out.put(b"}}");
        Ok(())
    }

    /// `{name: {metrics, metadata, api_key_breakdown}}`, names in order.
    fn breakdown<'d>(
        &mut self,
        items: &'d Breakdown,
        labelled: bool,
        written: &mut Written<'d>,
    ) -> Result<(), Stop> {
        self.out.put(b"{");
        for (i, (name, item)) in shape::sorted(items).into_iter().enumerate() {
            if i > 0 {
                self.out.put(b",");
            }
            let name = self.ranks.name(name);
            string(&mut self.out.buf, name);
            self.out.put(b":{\"metrics\":");
            metrics(&mut self.out.buf, &item.metrics);
            self.out.put(b",\"metadata\":");
            match self.labels.get(name).filter(|_| labelled) {
                Some(label) => self.out.put(label.as_bytes()),
                None => self.out.put(b"{}"),
            }
            self.out.put(b",\"api_key_breakdown\":");
            self.keys(&item.keys, &item.metrics, written)?;
            self.out.put(b"}");
        }
        self.out.put(b"}");
        Ok(())
    }

    /// `{hash: {metrics, metadata: {key_alias, team_id}}}`, hashes in order; `total` is the sum
    /// of the split's entries. A split written before on the same day is sent again as it was.
    fn keys<'d>(
        &mut self,
        split: &'d Split,
        total: &Metrics,
        written: &mut Written<'d>,
    ) -> Result<(), Stop> {
        // The split's text is chunks of its own, to be sent again if an equal split comes.
        self.out.flush()?;
        if let Some(text) = written.find(split, total) {
            for chunk in text {
                self.out.send(chunk.clone())?;
            }
            return Ok(());
        }
        let mut text = Vec::new();
        self.out.put(b"{");
        for (i, (key, m)) in shape::sorted(split).into_iter().enumerate() {
            if i > 0 {
                self.out.put(b",");
            }
            let (head, tail) = self.key_texts.get(self.ranks.text(key), self.keys);
            self.out.put(head);
            metrics(&mut self.out.buf, m);
            self.out.put(tail);
            if self.out.full() {
                self.send_kept(&mut text)?;
            }
        }
        self.out.put(b"}");
        self.send_kept(&mut text)?;
        written.keep(split, total, text);
        Ok(())
    }

    /// Sends what is written so far and keeps it in `text`.
    fn send_kept(&mut self, text: &mut Vec<Bytes>) -> Result<(), Stop> {
        if let Some(chunk) = self.out.cut() {
            text.push(chunk.clone());
            self.out.send(chunk)?;
        }
        Ok(())
    }
}

/// `SpendMetrics`: the counters, with `total_tokens`.
fn metrics(buf: &mut Vec<u8>, m: &Metrics) {
    buf.extend_from_slice(b"{\"spend\":");
    real(buf, m.spend);
    for (name, v) in [
        (&b",\"prompt_tokens\":"[..], m.prompt_tokens),
        (b",\"completion_tokens\":", m.completion_tokens),
        (b",\"cache_read_input_tokens\":", m.cache_read_input_tokens),
        (
            b",\"cache_creation_input_tokens\":",
            m.cache_creation_input_tokens,
        ),
        (b",\"total_tokens\":", m.prompt_tokens + m.completion_tokens),
        (b",\"successful_requests\":", m.successful_requests),
        (b",\"failed_requests\":", m.failed_requests),
        (b",\"api_requests\":", m.api_requests),
    ] {
        buf.extend_from_slice(name);
        buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    buf.push(b'}');
}

/// A number as JSON writes it (`null` for what JSON cannot hold, as serde_json does).
fn real(buf: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        buf.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        buf.extend_from_slice(b"null");
    }
}

/// A JSON string.
fn string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            buf.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            buf.extend_from_slice(escape);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// The `metadata` object of an answer.
fn totals(t: &Metrics, page: u32, total_pages: u64) -> Value {
    json!({
        "total_spend": t.spend,
        "total_prompt_tokens": t.prompt_tokens,
        "total_completion_tokens": t.completion_tokens,
        "total_tokens": t.prompt_tokens + t.completion_tokens,
        "total_api_requests": t.api_requests,
        "total_successful_requests": t.successful_requests,
        "total_failed_requests": t.failed_requests,
        "total_cache_read_input_tokens": t.cache_read_input_tokens,
        "total_cache_creation_input_tokens": t.cache_creation_input_tokens,
        "page": page,
        "total_pages": total_pages.max(1),
        "has_more": u64::from(page) < total_pages,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn strings_read_back_as_written(s in any::<String>()) {
            let mut buf = Vec::new();
            string(&mut buf, &s);
            let back: String = serde_json::from_slice(&buf).unwrap();
            prop_assert_eq!(back, s);
        }

        #[test]
        fn numbers_read_back_as_written(spend in any::<f64>(), n in any::<i64>()) {
            let m = Metrics { spend, prompt_tokens: n, completion_tokens: 0, ..Metrics::default() };
            let mut buf = Vec::new();
            metrics(&mut buf, &m);
            let v: Value = serde_json::from_slice(&buf).unwrap();
            prop_assert_eq!(&v["prompt_tokens"], &json!(n));
            prop_assert_eq!(&v["total_tokens"], &json!(n));
            let mut text = Vec::new();
            real(&mut text, spend);
            let text = String::from_utf8(text).unwrap();
            if spend.is_finite() {
                // Read back exactly (serde_json's own reading of long exponents is approximate).
                prop_assert_eq!(text.parse::<f64>().unwrap(), spend);
                prop_assert!(v["spend"].is_number());
            } else {
                prop_assert_eq!(text, "null");
                prop_assert!(v["spend"].is_null());
            }
        }
    }
}
