//! The `x-litellm-*` and `x-ratelimit-*` headers of inference responses.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::call::CallMeta;
use crate::limits::rate::Remaining;
use crate::state::AppState;

fn put(h: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// Sets the headers; `cost` and `upstream_ms` are unknown on streams when headers go out.
pub fn set(
    state: &AppState,
    h: &mut HeaderMap,
    meta: &CallMeta,
    cost: Option<f64>,
    upstream_ms: Option<f64>,
    remaining: &[Remaining],
) {
    let d = &meta.deployment;
    let total_ms = meta.started.elapsed().as_secs_f64() * 1000.0;
    put(h, "x-litellm-call-id", &meta.call_id);
    put(h, "x-litellm-model-id", &d.id);
    put(h, "x-litellm-model-group", &meta.requested_model);
    if !d.target.api_base.is_empty() {
        put(h, "x-litellm-model-api-base", &d.target.api_base);
    }
    put(h, "x-litellm-version", env!("CARGO_PKG_VERSION"));
    put(h, "x-litellm-attempted-retries", meta.tried.retries);
    put(h, "x-litellm-attempted-fallbacks", meta.tried.fallbacks);
    if let Some(c) = cost {
        put(h, "x-litellm-response-cost", c);
    }
    if let Some(key_id) = &meta.key_id {
        let spend = state
            .ledger
            .current(&crate::limits::Entity::Key(key_id.clone()), 0.0);
        put(h, "x-litellm-key-spend", spend);
    }
    put(
        h,
        "x-litellm-response-duration-ms",
        format!("{total_ms:.3}"),
    );
    let overhead = upstream_ms.map_or(total_ms, |u| (total_ms - u).max(0.0));
    put(
        h,
        "x-litellm-overhead-duration-ms",
        format!("{overhead:.3}"),
    );
    // The first descriptor (the key's own limits when it has any) sets the standard headers.
    if let Some(r) = remaining.first() {
        if let Some((limit, left)) = r.rpm {
            put(h, "x-ratelimit-limit-requests", limit);
            put(h, "x-ratelimit-remaining-requests", left);
        }
        if let Some((limit, left)) = r.tpm {
            put(h, "x-ratelimit-limit-tokens", limit);
            put(h, "x-ratelimit-remaining-tokens", left);
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
