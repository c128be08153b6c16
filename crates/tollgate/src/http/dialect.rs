//! The caller's error dialect: errors on Anthropic-format routes (`/v1/messages...`) go out in
//! Anthropic's envelope, `{"type": "error", "error": {"type", "message"}}`, whichever layer
//! raised them (authentication, admission, the upstream). Other routes keep the OpenAI envelope.

use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::error::ErrorLogged;

/// Whether a path speaks Anthropic's format.
pub fn is_anthropic(path: &str) -> bool {
    path.starts_with("/v1/messages") || path.starts_with("/messages")
}

/// Re-renders an error response in Anthropic's envelope.
pub fn anthropic_errors(mut response: Response) -> Response {
    let Some(ErrorLogged(message)) = response.extensions().get::<ErrorLogged>().cloned() else {
        return response;
    };
    let body = tollgate_llm::anthropic::error_body(response.status().as_u16(), &message);
    *response.body_mut() = axum::body::Body::from(body.to_string());
    let h = response.headers_mut();
    h.remove(header::CONTENT_LENGTH);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::is_anthropic;

    #[test]
    fn anthropic_routes() {
        assert!(is_anthropic("/v1/messages"));
        assert!(is_anthropic("/v1/messages/count_tokens"));
        assert!(!is_anthropic("/v1/chat/completions"));
    }
}
