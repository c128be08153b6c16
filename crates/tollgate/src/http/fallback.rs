//! Answers for unknown routes and wrong methods, in the error envelope.

use axum::http::{Method, Uri};

use super::Error;

pub async fn not_found(method: Method, uri: Uri) -> Error {
    Error::NotFound(format!("Route not found: {method} {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Error {
    Error::invalid(
        None,
        format!("Method {method} is not allowed on {}", uri.path()),
    )
}
