//! Request logging: one line per request, with the error message of failed ones.

use std::time::Instant;

use axum::http::Method;
use axum::response::Response;

use super::error::ErrorLogged;

/// Logs a finished request: failures as errors, refusals at info, the rest at debug.
pub fn record(method: &Method, path: &str, started: Instant, response: &Response) {
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match response.extensions().get::<ErrorLogged>() {
        Some(ErrorLogged(msg)) if status >= 500 => {
            tracing::error!(%method, %path, status, ms, error = %msg, "request failed");
        }
        Some(ErrorLogged(msg)) => {
            tracing::info!(%method, %path, status, ms, error = %msg, "request refused");
        }
        None => tracing::debug!(%method, %path, status, ms, "request"),
    }
}
