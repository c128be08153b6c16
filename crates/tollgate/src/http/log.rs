//! Request logging: one line per request, with the error message of failed ones.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ErrorLogged;

pub async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
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
    response
}
