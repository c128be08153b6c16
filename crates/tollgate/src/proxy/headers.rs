//! The `x-litellm-*` and `x-ratelimit-*` headers of inference responses. They go out on every
//! call, so names are constants and numbers are written without the formatting machinery.

use std::time::Duration;

use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::BytesMut;

use super::call::CallMeta;
use crate::limits::rate::Remaining;
use crate::limits::Entity;
use crate::state::AppState;

const CALL_ID: HeaderName = HeaderName::from_static("x-litellm-call-id");
const MODEL_ID: HeaderName = HeaderName::from_static("x-litellm-model-id");
const MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");
const API_BASE: HeaderName = HeaderName::from_static("x-litellm-model-api-base");
const VERSION: HeaderName = HeaderName::from_static("x-litellm-version");
const RETRIES: HeaderName = HeaderName::from_static("x-litellm-attempted-retries");
const FALLBACKS: HeaderName = HeaderName::from_static("x-litellm-attempted-fallbacks");
const COST: HeaderName = HeaderName::from_static("x-litellm-response-cost");
const KEY_SPEND: HeaderName = HeaderName::from_static("x-litellm-key-spend");
const DURATION: HeaderName = HeaderName::from_static("x-litellm-response-duration-ms");
const OVERHEAD: HeaderName = HeaderName::from_static("x-litellm-overhead-duration-ms");
const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");

/// Header values written one after another into one buffer: the values of a response cost one
/// allocation between them instead of one each. A value that is not a valid header value (a
/// model name with a line break) is left out, as a header of its own would be.
struct Values {
    buf: BytesMut,
    spans: Vec<(HeaderName, usize, usize)>,
}

impl Values {
    fn new() -> Self {
        Self {
            buf: BytesMut::with_capacity(512),
            spans: Vec::with_capacity(16),
        }
    }

    fn text(&mut self, name: HeaderName, s: &str) {
        let start = self.buf.len();
        self.buf.extend_from_slice(s.as_bytes());
        self.spans.push((name, start, self.buf.len()));
    }

    fn int(&mut self, name: HeaderName, n: u64) {
        self.text(name, itoa::Buffer::new().format(n));
    }

    /// A float in its shortest form that reads back to the same value (`1.7e-5`, `0.25`).
    fn float(&mut self, name: HeaderName, v: f64) {
        if v.is_finite() {
            self.text(name, ryu::Buffer::new().format_finite(v));
        }
    }

    /// Milliseconds with three decimals (`12.345`), from integer microseconds.
    fn millis(&mut self, name: HeaderName, d: Duration) {
        let us = d.as_micros();
        let start = self.buf.len();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(us / 1000).as_bytes());
        let frac = us % 1000;
        self.buf.extend_from_slice(&[
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ]);
        self.spans.push((name, start, self.buf.len()));
    }

    fn insert_into(self, h: &mut HeaderMap) {
        let bytes = self.buf.freeze();
        for (name, start, end) in self.spans {
            if let Ok(v) = HeaderValue::from_maybe_shared(bytes.slice(start..end)) {
                h.insert(name, v);
            }
        }
    }
}

/// Headers an inference response can carry: its content type and length (or a stream's cache
/// control), the upstream's kept ones and this module's, 22 at most.
const RESPONSE_HEADERS: usize = 24;

/// A header map with room for every header of an inference response: it never grows (growing
/// allocates twice and rehashes every header in it).
pub fn map() -> HeaderMap {
    HeaderMap::with_capacity(RESPONSE_HEADERS)
}

/// Sets the headers; `cost` and `upstream` (the time the upstream took) are unknown on streams
/// when headers go out. `body_len` is a whole body's length: its `content-length` is written
/// with the other values (left to the server, it would be a value of its own).
pub fn set(
    state: &AppState,
    h: &mut HeaderMap,
    meta: &CallMeta,
    cost: Option<f64>,
    upstream: Option<Duration>,
    body_len: Option<u64>,
    remaining: &[Remaining],
) {
    h.reserve(16);
    let d = &meta.deployment;
    let mut v = Values::new();
    if let Some(len) = body_len {
        v.int(CONTENT_LENGTH, len);
    }
    v.text(CALL_ID, &meta.call_id);
    v.text(MODEL_ID, &d.id);
    v.text(MODEL_GROUP, &meta.requested_model);
    if !d.target.api_base.is_empty() {
        v.text(API_BASE, &d.target.api_base);
    }
    v.int(RETRIES, u64::from(meta.tried.retries));
    v.int(FALLBACKS, u64::from(meta.tried.fallbacks));
    if let Some(c) = cost {
        v.float(COST, c);
    }
    if let Some(key) = meta.entities.iter().find(|e| matches!(e, Entity::Key(_))) {
        v.float(KEY_SPEND, state.ledger.current(key, 0.0));
    }
    let total = meta.started.elapsed();
    v.millis(DURATION, total);
    let overhead = upstream.map_or(total, |u| total.saturating_sub(u));
    v.millis(OVERHEAD, overhead);
    // The first descriptor (the key's own limits when it has any) sets the standard headers.
    if let Some(r) = remaining.first() {
        if let Some((limit, left)) = r.rpm {
            v.int(LIMIT_REQUESTS, limit);
            v.int(REMAINING_REQUESTS, left);
        }
        if let Some((limit, left)) = r.tpm {
            v.int(LIMIT_TOKENS, limit);
            v.int(REMAINING_TOKENS, left);
        }
    }
    v.insert_into(h);
    h.insert(VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
}

/// Upstream headers worth keeping (request ids, the provider's rate-limit state), passed on with
/// LiteLLM's `llm_provider-` prefix.
pub fn upstream(h: &mut HeaderMap, upstream: &[(String, String)]) {
    for (name, value) in upstream {
        let name = format!("llm_provider-{name}");
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(fill: impl FnOnce(&mut Values)) -> HeaderMap {
        let mut v = Values::new();
        fill(&mut v);
        let mut h = HeaderMap::new();
        v.insert_into(&mut h);
        h
    }

    #[test]
    fn numbers_read_back() {
        let h = written(|v| {
            v.millis(DURATION, Duration::from_micros(12_345));
            v.millis(OVERHEAD, Duration::from_micros(7));
            v.millis(RETRIES, Duration::from_micros(3_050));
            v.int(FALLBACKS, 42);
        });
        assert_eq!(h[DURATION], "12.345");
        assert_eq!(h[OVERHEAD], "0.007");
        assert_eq!(h[RETRIES], "3.050");
        assert_eq!(h[FALLBACKS], "42");
        for x in [0.0, 0.25, 1.7e-5, 123_456.789, 1e-12] {
            let h = written(|v| v.float(COST, x));
            assert_eq!(h[COST].to_str().unwrap().parse::<f64>().unwrap(), x);
        }
        assert!(written(|v| v.float(COST, f64::NAN)).is_empty());
    }

    #[test]
    fn a_response_map_holds_every_header_without_growing() {
        use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
        let mut h = map();
        let room = h.capacity();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let kept: Vec<(String, String)> = [
            "x-request-id",
            "openai-processing-ms",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-tokens",
        ]
        .iter()
        .map(|n| ((*n).to_owned(), "1".to_owned()))
        .collect();
        upstream(&mut h, &kept);
        let mut v = Values::new();
        for name in [
            CONTENT_LENGTH,
            CALL_ID,
            MODEL_ID,
            MODEL_GROUP,
            API_BASE,
            RETRIES,
            FALLBACKS,
            COST,
            KEY_SPEND,
            DURATION,
            OVERHEAD,
            LIMIT_REQUESTS,
            REMAINING_REQUESTS,
            LIMIT_TOKENS,
            REMAINING_TOKENS,
        ] {
            v.text(name, "1");
        }
        v.insert_into(&mut h);
        h.insert(VERSION, HeaderValue::from_static("1"));
        assert_eq!(h.len(), 22);
        assert_eq!(h.capacity(), room);
        assert!(HeaderMap::new().capacity() < room);
    }

    #[test]
    fn an_invalid_value_is_left_out_and_the_others_kept() {
        let h = written(|v| {
            v.text(MODEL_GROUP, "bad\nname");
            v.text(MODEL_ID, "m-1");
            v.text(CALL_ID, "");
        });
        assert!(h.get(MODEL_GROUP).is_none());
        assert_eq!(h[MODEL_ID], "m-1");
        assert_eq!(h[CALL_ID], "");
    }
}
