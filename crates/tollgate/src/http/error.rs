//! The crate's one error type, rendered in the OpenAI error envelope:
//! `{"error": {"message", "type", "param", "code"}}` with `code` the status as a string.
//! Rendering has no side effects; the logging middleware reports failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is well-formed but asks for something invalid.
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
    },
    /// 422: the body or query does not match the endpoint's schema.
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    /// 401: no credentials, bad credentials, or a role that may not call the route.
    #[error("{message}")]
    Unauthorized {
        message: String,
        kind: &'static str,
        param: Option<String>,
    },
    /// 403: authenticated, but not allowed to touch this object.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 400 (LiteLLM 1.81's status): a budget is spent.
    #[error("{0}")]
    BudgetExceeded(String),
    /// 429: a rate limit is full; `retry_after` in whole seconds.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: u64,
        limit_type: &'static str,
    },
    /// An upstream provider's failure, passed on with its status.
    #[error("{message}")]
    Upstream { status: u16, message: String },
    /// 503: the database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or a broken database; the message is safe to show.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
            param: None,
        }
    }

    /// A 400 about one field of the request.
    pub fn bad_field(param: &str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    pub fn invalid(param: Option<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
            param,
        }
    }

    pub fn unauthorized(kind: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthorized {
            message: message.into(),
            kind,
            param: None,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BudgetExceeded(_) => StatusCode::BAD_REQUEST,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BadRequest { .. } | Error::Invalid { .. } => "bad_request_error",
            Error::Unauthorized { kind, .. } => kind,
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::BudgetExceeded(_) => "budget_exceeded",
            Error::RateLimited { .. } => "rate_limit_error",
            Error::Upstream { status, .. } => upstream_kind(*status),
            Error::Unavailable(_) => "service_unavailable",
            Error::Internal(_) => "internal_server_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Error::BadRequest { param, .. }
            | Error::Invalid { param, .. }
            | Error::Unauthorized { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// The OpenAI error envelope.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": self.param(),
                "code": self.status_code().as_u16().to_string(),
            }
        })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Error::RateLimited {
            retry_after,
            limit_type,
            ..
        } = &self
        {
            let h = response.headers_mut();
            h.insert("retry-after", axum::http::HeaderValue::from(*retry_after));
            h.insert(
                "rate_limit_type",
                axum::http::HeaderValue::from_static(limit_type),
            );
        }
        response
            .extensions_mut()
            .insert(ErrorLogged(self.to_string()));
        response
    }
}

/// OpenAI's error types by status, as its SDKs map them.
fn upstream_kind(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_denied_error",
        404 => "not_found_error",
        408 => "timeout",
        422 => "unprocessable_entity_error",
        429 => "rate_limit_error",
        _ => "api_error",
    }
}

/// Attached to error responses so that the logging middleware can report the message.
#[derive(Debug, Clone)]
pub struct ErrorLogged(pub String);

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Error::NotFound(format!("Not found: {what}")),
            StoreError::Conflict(what) => Error::bad_request(format!("Already exists: {what}")),
            StoreError::Unavailable(why) => {
                Error::Unavailable(format!("Database unavailable, try again later: {why}"))
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("could not encode a record: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_carries_the_status_as_a_string() {
        let e = Error::bad_field("max_budget", "max_budget must be >= 0");
        let body = e.body();
        assert_eq!(body["error"]["code"], "400");
        assert_eq!(body["error"]["param"], "max_budget");
        assert_eq!(body["error"]["type"], "bad_request_error");
        assert_eq!(body["error"]["message"], "max_budget must be >= 0");
    }

    #[test]
    fn an_unreachable_database_is_a_503_never_a_401() {
        let e: Error = StoreError::Unavailable("pool timed out".into()).into();
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
