//! The crate's one error type.

use std::time::Duration;

/// Why a call to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The upstream answered with an error status; `body` is its error payload.
    #[error("upstream answered {status}: {message}")]
    Status {
        status: u16,
        message: String,
        body: Option<serde_json::Value>,
        retry_after: Option<Duration>,
    },
    #[error("upstream timed out after {0:?}")]
    Timeout(Duration),
    #[error("could not reach the upstream: {0}")]
    Connect(String),
    #[error("upstream sent something unreadable: {0}")]
    Protocol(String),
    /// The client's request cannot be translated: names the field.
    #[error("{0}")]
    Invalid(String),
    /// The provider does not offer this (e.g. embeddings on Anthropic).
    #[error("this provider does not support {0}")]
    Unsupported(String),
}

impl LlmError {
    /// The status the gateway should answer with.
    pub fn status(&self) -> u16 {
        match self {
            LlmError::Status { status, .. } => *status,
            LlmError::Timeout(_) => 408,
            LlmError::Connect(_) => 502,
            LlmError::Protocol(_) => 502,
            LlmError::Invalid(_) | LlmError::Unsupported(_) => 400,
        }
    }

    /// Whether a retry on another attempt could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Timeout(_) | LlmError::Connect(_) => true,
            LlmError::Protocol(_) | LlmError::Invalid(_) | LlmError::Unsupported(_) => false,
        }
    }
}
