//! The fake's gemini wire.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::openai::server::{Ctx, Req};

pub(crate) fn injected_error(status: u16, _retry_after: u64) -> Response {
    StatusCode::from_u16(status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response()
}

pub(crate) fn dispatch(_ctx: &Ctx, _req: &Req<'_>, _body: serde_json::Result<Value>) -> Response {
    StatusCode::NOT_FOUND.into_response()
}
