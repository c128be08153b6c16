//! The one middleware every route passes through: authentication (the public allowlist
//! aside), errors of Anthropic-format routes in Anthropic's envelope, and the request's log line.
//! One layer rather than three: each layer boxes the request's future and clones the service
//! behind it, on every call.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{dialect, log};
use crate::auth;
use crate::state::AppState;

pub async fn front(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let response = match auth::authenticate(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let response = if dialect::is_anthropic(uri.path()) {
        dialect::anthropic_errors(response)
    } else {
        response
    };
    log::record(&method, uri.path(), started, &response);
    response
}
