//! The `x-litellm-*` and `x-ratelimit-*` headers of inference responses. They go out on every
//! call, so names are constants and numbers are written without the formatting machinery.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

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

fn text(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

fn int(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

/// A float in its shortest form that reads back to the same value (`1.7e-5`, `0.25`).
fn float(v: f64) -> Option<HeaderValue> {
    if !v.is_finite() {
        return None;
    }
    text(ryu::Buffer::new().format_finite(v))
}

/// Milliseconds with three decimals (`12.345`), from integer microseconds.
fn millis(d: Duration) -> Option<HeaderValue> {
    let us = d.as_micros();
    let mut out = itoa::Buffer::new().format(us / 1000).to_owned();
    out.push('.');
    let frac = us % 1000;
    if frac < 100 {
        out.push('0');
    }
    if frac < 10 {
        out.push('0');
    }
    out.push_str(itoa::Buffer::new().format(frac));
    text(&out)
}

/// Sets the headers; `cost` and `upstream` (the time the upstream took) are unknown on streams
/// when headers go out.
pub fn set(
    state: &AppState,
    h: &mut HeaderMap,
    meta: &CallMeta,
    cost: Option<f64>,
    upstream: Option<Duration>,
    remaining: &[Remaining],
) {
    h.reserve(16);
    let d = &meta.deployment;
    let mut put = |name: HeaderName, value: Option<HeaderValue>| {
        if let Some(v) = value {
            h.insert(name, v);
        }
    };
    put(CALL_ID, text(&meta.call_id));
    put(MODEL_ID, text(&d.id));
    put(MODEL_GROUP, text(&meta.requested_model));
    if !d.target.api_base.is_empty() {
        put(API_BASE, text(&d.target.api_base));
    }
    put(
        VERSION,
        Some(HeaderValue::from_static(env!("CARGO_PKG_VERSION"))),
    );
    put(RETRIES, Some(int(u64::from(meta.tried.retries))));
    put(FALLBACKS, Some(int(u64::from(meta.tried.fallbacks))));
    if let Some(c) = cost {
        put(COST, float(c));
    }
    if let Some(key) = meta.entities.iter().find(|e| matches!(e, Entity::Key(_))) {
        put(KEY_SPEND, float(state.ledger.current(key, 0.0)));
    }
    let total = meta.started.elapsed();
    put(DURATION, millis(total));
    let overhead = upstream.map_or(total, |u| total.saturating_sub(u));
    put(OVERHEAD, millis(overhead));
    // The first descriptor (the key's own limits when it has any) sets the standard headers.
    if let Some(r) = remaining.first() {
        if let Some((limit, left)) = r.rpm {
            put(LIMIT_REQUESTS, Some(int(limit)));
            put(REMAINING_REQUESTS, Some(int(left)));
        }
        if let Some((limit, left)) = r.tpm {
            put(LIMIT_TOKENS, Some(int(limit)));
            put(REMAINING_TOKENS, Some(int(left)));
        }
    }
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

    #[test]
    fn numbers_read_back() {
        assert_eq!(millis(Duration::from_micros(12_345)).unwrap(), "12.345");
        assert_eq!(millis(Duration::from_micros(7)).unwrap(), "0.007");
        assert_eq!(millis(Duration::from_micros(3_050)).unwrap(), "3.050");
        for v in [0.0, 0.25, 1.7e-5, 123_456.789, 1e-12] {
            let s = float(v).unwrap();
            assert_eq!(s.to_str().unwrap().parse::<f64>().unwrap(), v);
        }
        assert!(float(f64::NAN).is_none());
        assert_eq!(int(42), "42");
    }
}
