//! Which fallbacks an upstream error calls for: a prompt too long for the model goes to
//! `context_window_fallbacks`, a refusal by a content filter to `content_policy_fallbacks`, and
//! anything else to the ordinary `fallbacks`.
//!
//! Signals, strongest first: the error's `code` (OpenAI and Azure send `context_length_exceeded`,
//! `content_policy_violation`, `content_filter`); then, for a 4xx other than 429, the message
//! phrases LiteLLM's exception mapping matches (OpenAI's "This model's maximum context length
//! is", Anthropic's "prompt is too long", Gemini's "exceeds the maximum number of tokens
//! allowed", Azure's "ResponsibleAIPolicyViolation"...). LiteLLM leaves out the `user`
//! parameter's own "string too long" error, and so do we.

use serde_json::Value;
use tollgate_llm::LlmError;

/// The kind of an upstream failure, as far as fallbacks are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    ContextWindow,
    ContentPolicy,
    Other,
}

const CONTEXT_WINDOW_PHRASES: &[&str] = &[
    "this model's maximum context length is",
    "maximum context length",
    "prompt is too long",
    "input is too long",
    "exceed context limit",
    "model's maximum context limit",
    "is longer than the model's context length",
    "input tokens exceed the configured limit",
    "exceeds the available context size",
    "exceeds the maximum number of tokens allowed",
    "context_length_exceeded",
    "context length exceeded",
];

const CONTENT_POLICY_PHRASES: &[&str] = &[
    "content_policy_violation",
    "responsibleaipolicyviolation",
    "content_filter_policy",
    "content management policy",
    "your request was rejected as a result of our safety system",
    "your task failed as a result of our safety system",
];

/// Classifies an upstream error.
pub fn classify(e: &LlmError) -> FailureKind {
    let LlmError::Status {
        status,
        message,
        body,
        ..
    } = e
    else {
        return FailureKind::Other;
    };
    let error = body.as_ref().and_then(|b| b.get("error").or(Some(b)));
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    match field("code") {
        Some("context_length_exceeded") => return FailureKind::ContextWindow,
        Some("content_policy_violation" | "content_filter") => return FailureKind::ContentPolicy,
        _ => {}
    }
    if !(400..500).contains(status) || *status == 429 {
        return FailureKind::Other;
    }
    let text = field("message").unwrap_or(message).to_lowercase();
    if text.contains("string_above_max_length")
        || (text.contains("invalid 'user'") && text.contains("string too long"))
    {
        return FailureKind::Other;
    }
    if CONTEXT_WINDOW_PHRASES.iter().any(|p| text.contains(p)) {
        FailureKind::ContextWindow
    } else if CONTENT_POLICY_PHRASES.iter().any(|p| text.contains(p)) {
        FailureKind::ContentPolicy
    } else {
        FailureKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(status: u16, body: Value) -> LlmError {
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        LlmError::Status {
            status,
            message,
            body: Some(body),
            retry_after: None,
        }
    }

    #[test]
    fn codes_come_first() {
        let e = status(
            400,
            json!({"error": {"message": "too big", "code": "context_length_exceeded"}}),
        );
        assert_eq!(classify(&e), FailureKind::ContextWindow);
        let e = status(
            400,
            json!({"error": {"message": "filtered", "code": "content_filter"}}),
        );
        assert_eq!(classify(&e), FailureKind::ContentPolicy);
        let e = status(
            400,
            json!({"error": {"message": "no", "code": "content_policy_violation"}}),
        );
        assert_eq!(classify(&e), FailureKind::ContentPolicy);
    }

    #[test]
    fn messages_as_litellm_matches_them() {
        let anthropic = json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum"}});
        assert_eq!(
            classify(&status(400, anthropic)),
            FailureKind::ContextWindow
        );
        let openai =
            json!({"error": {"message": "This model's maximum context length is 8192 tokens."}});
        assert_eq!(
            classify(&status(400, openai.clone())),
            FailureKind::ContextWindow
        );
        // Only client errors: a 500 that mentions it is an ordinary failure.
        assert_eq!(classify(&status(500, openai)), FailureKind::Other);
        let azure = json!({"error": {"message": "The response was filtered (ResponsibleAIPolicyViolation)"}});
        assert_eq!(classify(&status(400, azure)), FailureKind::ContentPolicy);
        let user = json!({"error": {"message": "Invalid 'user': string too long. Expected a string with maximum length 64", "code": "string_above_max_length"}});
        assert_eq!(classify(&status(400, user)), FailureKind::Other);
        assert_eq!(
            classify(&status(
                400,
                json!({"error": {"message": "bad temperature"}})
            )),
            FailureKind::Other
        );
        assert_eq!(
            classify(&LlmError::Connect("refused".into())),
            FailureKind::Other
        );
    }
}
