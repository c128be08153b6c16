//! The provider's one error type. Whether an object is gone is decided here, from the status
//! code and the error type of the gateway's envelope, never from message text.

use serde_json::Value as Json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway answered with an error envelope.
    #[error("{method} {path}: HTTP {status} ({kind}): {message}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        kind: String,
        message: String,
    },
    /// The gateway says the object was deleted (e.g. a key whose token is retired).
    #[error("{0} no longer exists")]
    Gone(String),
    #[error("cannot reach the gateway at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("provider is not configured: {0}")]
    Config(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the gateway answered something unexpected: {0}")]
    Unexpected(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error envelope from a response.
    pub fn from_envelope(method: &'static str, path: &str, status: u16, body: &Json) -> Error {
        let err = body.get("error").unwrap_or(body);
        let text = |k: &str| err.get(k).and_then(Json::as_str).map(str::to_owned);
        Error::Api {
            method,
            path: path.to_owned(),
            status,
            kind: text("type").unwrap_or_default(),
            message: text("message").unwrap_or_else(|| body.to_string()),
        }
    }

    /// The object asked for does not exist: 404 with the not-found error type (LiteLLM's
    /// older `token_not_found_in_db` answers count too).
    pub fn is_gone(&self) -> bool {
        match self {
            Error::Gone(_) => true,
            Error::Api { status, kind, .. } => {
                matches!(
                    (*status, kind.as_str()),
                    (404, "not_found" | "not_found_error") | (400 | 401, "token_not_found_in_db")
                )
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gone_is_decided_by_status_and_type() {
        let gone = Error::from_envelope(
            "GET",
            "/team/info",
            404,
            &json!({"error": {"message": "Team not found", "type": "not_found", "code": "404"}}),
        );
        assert!(gone.is_gone());
        // Same words, other status or type: not gone.
        let bad = Error::from_envelope(
            "POST",
            "/key/update",
            400,
            &json!({"error": {"message": "Team not found for team_id=x", "type": "bad_request_error"}}),
        );
        assert!(!bad.is_gone());
        let other = Error::from_envelope(
            "GET",
            "/x",
            404,
            &json!({"error": {"message": "not found", "type": "weird"}}),
        );
        assert!(!other.is_gone());
        assert!(!Error::Invalid("not found".into()).is_gone());
    }
}
