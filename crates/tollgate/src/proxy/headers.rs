//! The `x-litellm-*` and `x-ratelimit-*` headers of inference responses. They go out on every
//! call, so names are constants, numbers are written without the formatting machinery, and a
//! response's map is a copy of a template with the same names in the same order, its values
//! then set in place: inserting each header would hash its name (~300 instructions a header).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
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

/// What a response's body is: it sets the content headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A JSON document.
    Json,
    /// An event stream (`text/event-stream`, not cached).
    Stream,
}

impl Content {
    fn headers(self) -> &'static [(HeaderName, &'static str)] {
        match self {
            Content::Json => &[(CONTENT_TYPE, "application/json")],
            Content::Stream => &[
                (CONTENT_TYPE, "text/event-stream"),
                (CACHE_CONTROL, "no-cache"),
            ],
        }
    }
}

/// Header values written one after another into one buffer: the values of a response cost one
/// allocation between them instead of one each. `shape` has a bit per optional header (or pair)
/// written, which with the content picks the template; every other header is always written,
/// in the same order.
struct Values {
    buf: BytesMut,
    spans: Vec<(HeaderName, usize, usize)>,
    shape: usize,
}

/// Optional headers, as bits of [`Values::shape`].
const HAS_LENGTH: usize = 1;
const HAS_API_BASE: usize = 2;
const HAS_COST: usize = 4;
const HAS_KEY_SPEND: usize = 8;
const HAS_REQUESTS: usize = 16;
const HAS_TOKENS: usize = 32;
const SHAPES: usize = 64;

impl Values {
    fn new() -> Self {
        Self {
            buf: BytesMut::with_capacity(512),
            spans: Vec::with_capacity(16),
            shape: 0,
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

    /// A float in its shortest form that reads back to the same value (`1.7e-5`, `0.25`);
    /// `false` (nothing written) when it is not finite.
    fn float(&mut self, name: HeaderName, v: f64) -> bool {
        if v.is_finite() {
            self.text(name, ryu::Buffer::new().format_finite(v));
        }
        v.is_finite()
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

    /// The response's map: the content headers, these values and the version, from the
    /// template of this shape (made from the first response of that shape: [`response`] writes
    /// a shape's headers always in the same order). A value that is not a valid header value (a
    /// model name with a line break) is left out, as a header of its own would be; such a map
    /// is built header by header.
    fn into_map(self, content: Content) -> HeaderMap {
        static TEMPLATES: [[OnceLock<HeaderMap>; SHAPES]; 2] =
            [const { [const { OnceLock::new() }; SHAPES] }; 2];
        let fixed = content.headers();
        let template = TEMPLATES[content as usize][self.shape].get_or_init(|| {
            let mut h = HeaderMap::with_capacity(RESPONSE_HEADERS);
            for (name, value) in fixed {
                h.insert(name.clone(), HeaderValue::from_static(value));
            }
            for (name, ..) in &self.spans {
                h.insert(name.clone(), HeaderValue::from_static(""));
            }
            h.insert(VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
            h
        });
        let bytes = self.buf.freeze();
        if template.len() != fixed.len() + self.spans.len() + 1 {
            // Not this shape's headers (a name twice, say): no slot is taken for another's.
            return by_header(content, &self.spans, &bytes);
        }
        let mut h = template.clone();
        let slots = h.values_mut().skip(fixed.len());
        for (&(_, start, end), slot) in self.spans.iter().zip(slots) {
            match HeaderValue::from_maybe_shared(bytes.slice(start..end)) {
                Ok(v) => *slot = v,
                Err(_) => return by_header(content, &self.spans, &bytes),
            }
        }
        h
    }
}

/// [`Values::into_map`] one header at a time, leaving out invalid values.
fn by_header(
    content: Content,
    spans: &[(HeaderName, usize, usize)],
    bytes: &bytes::Bytes,
) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(RESPONSE_HEADERS);
    for (name, value) in content.headers() {
        h.insert(name.clone(), HeaderValue::from_static(value));
    }
    for (name, start, end) in spans {
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes.slice(*start..*end)) {
            h.insert(name.clone(), v);
        }
    }
    h.insert(VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
    h
}

/// Headers an inference response can carry: its content type and length (or a stream's cache
/// control), the upstream's kept ones and this module's, 22 at most.
const RESPONSE_HEADERS: usize = 24;

/// The headers of an inference response, the upstream's kept ones still to be added
/// ([`upstream`]); `cost` and `upstream` (the time the upstream took) are unknown on streams
/// when headers go out. `body_len` is a whole body's length: its `content-length` is written
/// with the other values (left to the server, it would be a value of its own).
pub fn response(
    state: &AppState,
    content: Content,
    meta: &CallMeta,
    cost: Option<f64>,
    upstream: Option<Duration>,
    body_len: Option<u64>,
    remaining: &[Remaining],
) -> HeaderMap {
    let d = &meta.deployment;
    let mut v = Values::new();
    if let Some(len) = body_len {
        v.int(CONTENT_LENGTH, len);
        v.shape |= HAS_LENGTH;
    }
    v.text(CALL_ID, &meta.call_id);
    v.text(MODEL_ID, &d.id);
    v.text(MODEL_GROUP, &meta.requested_model);
    if !d.target.api_base.is_empty() {
        v.text(API_BASE, &d.target.api_base);
        v.shape |= HAS_API_BASE;
    }
    v.int(RETRIES, u64::from(meta.tried.retries));
    v.int(FALLBACKS, u64::from(meta.tried.fallbacks));
    if cost.is_some_and(|c| v.float(COST, c)) {
        v.shape |= HAS_COST;
    }
    if let Some(key) = meta.entities.iter().find(|e| matches!(e, Entity::Key(_))) {
        if v.float(KEY_SPEND, state.ledger.current(key, 0.0)) {
            v.shape |= HAS_KEY_SPEND;
        }
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
            v.shape |= HAS_REQUESTS;
        }
        if let Some((limit, left)) = r.tpm {
            v.int(LIMIT_TOKENS, limit);
            v.int(REMAINING_TOKENS, left);
            v.shape |= HAS_TOKENS;
        }
    }
    v.into_map(content)
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

    /// Values written one by one, as a map (not from a template: these are not a shape's).
    fn written(fill: impl FnOnce(&mut Values)) -> HeaderMap {
        let mut v = Values::new();
        fill(&mut v);
        by_header(Content::Json, &v.spans, &v.buf.freeze())
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
            let h = written(|v| {
                v.float(COST, x);
            });
            assert_eq!(h[COST].to_str().unwrap().parse::<f64>().unwrap(), x);
        }
        assert!(written(|v| assert!(!v.float(COST, f64::NAN)))
            .get(COST)
            .is_none());
    }

    /// The values of one shape, as `response` writes them, each ending in `tag`.
    fn shaped(shape: usize, tag: &str) -> Values {
        let mut v = Values::new();
        v.shape = shape;
        let optional = |bit: usize, names: &[HeaderName], v: &mut Values| {
            if shape & bit != 0 {
                for n in names {
                    v.text(n.clone(), &format!("{}-{tag}", n.as_str().len()));
                }
            }
        };
        optional(HAS_LENGTH, &[CONTENT_LENGTH], &mut v);
        v.text(CALL_ID, tag);
        v.text(MODEL_ID, tag);
        v.text(MODEL_GROUP, tag);
        optional(HAS_API_BASE, &[API_BASE], &mut v);
        v.int(RETRIES, 1);
        v.int(FALLBACKS, 2);
        optional(HAS_COST, &[COST], &mut v);
        optional(HAS_KEY_SPEND, &[KEY_SPEND], &mut v);
        v.text(DURATION, tag);
        v.text(OVERHEAD, tag);
        optional(HAS_REQUESTS, &[LIMIT_REQUESTS, REMAINING_REQUESTS], &mut v);
        optional(HAS_TOKENS, &[LIMIT_TOKENS, REMAINING_TOKENS], &mut v);
        v
    }

    fn sorted(h: &HeaderMap) -> Vec<(String, String)> {
        let mut all: Vec<_> = h
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        all.sort();
        all
    }

    /// Every shape's map from its template has the headers and values a map built header by
    /// header has, the template's first values never showing through.
    #[test]
    fn maps_from_templates_match_maps_built_header_by_header() {
        for content in [Content::Json, Content::Stream] {
            for shape in 0..SHAPES {
                for tag in ["first", "second"] {
                    let from_template = shaped(shape, tag).into_map(content);
                    let v = shaped(shape, tag);
                    let by_header = by_header(content, &v.spans, &v.buf.freeze());
                    assert_eq!(sorted(&from_template), sorted(&by_header));
                }
                let h = shaped(shape, "third").into_map(content);
                assert_eq!(h[CALL_ID], "third");
                assert_eq!(h[CONTENT_TYPE], content.headers()[0].1);
                assert_eq!(h.contains_key(COST), shape & HAS_COST != 0);
                assert_eq!(
                    h.len(),
                    content.headers().len() + shaped(shape, "").spans.len() + 1
                );
            }
        }
    }

    /// Values that are not a shape's (a name twice) give every value its own header, the
    /// later one winning, as inserting them would.
    #[test]
    fn values_that_do_not_fit_their_template_are_inserted_one_by_one() {
        let mut v = shaped(HAS_COST, "x");
        v.text(CALL_ID, "again");
        let h = v.into_map(Content::Json);
        assert_eq!(h[CALL_ID], "again");
        assert_eq!(h[MODEL_GROUP], "x");
        assert!(h.contains_key(COST) && h.contains_key(VERSION));
        assert_eq!(h.len(), shaped(HAS_COST, "").spans.len() + 2);
    }

    #[test]
    fn an_invalid_value_is_left_out_and_the_others_kept() {
        for shape in [0, SHAPES - 1] {
            // The template of the shape exists first, or not.
            let h = shaped(shape, "bad\nname").into_map(Content::Stream);
            assert!(h.get(MODEL_GROUP).is_none());
            assert!(h.get(CALL_ID).is_none());
            assert_eq!(h[RETRIES], "1");
            assert_eq!(h[CONTENT_TYPE], "text/event-stream");
            assert!(h.contains_key(VERSION));
            let h = shaped(shape, "ok").into_map(Content::Stream);
            assert_eq!(h[MODEL_GROUP], "ok");
        }
    }
}
