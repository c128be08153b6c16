//! Vertex AI URLs: Gemini (`publishers/google`, `:generateContent` /
//! `:streamGenerateContent?alt=sse`), Claude (`publishers/anthropic`, `:rawPredict` /
//! `:streamRawPredict`, with `anthropic_version` in the body instead of a header) and text
//! embeddings (`:predict`). The `global` location has no regional host prefix.

use serde_json::Value;

/// The `anthropic_version` Claude on Vertex expects in the body.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// `{location}-aiplatform.googleapis.com`, or `aiplatform.googleapis.com` for `global`.
pub fn host(location: &str) -> String {
    if location == "global" {
        "aiplatform.googleapis.com".to_owned()
    } else {
        format!("{location}-aiplatform.googleapis.com")
    }
}

/// Where a publisher model lives; `api_base` (e.g. a test fake) replaces
/// `https://{host}` when given.
#[derive(Debug, Clone)]
pub struct VertexModel<'a> {
    pub api_base: Option<&'a str>,
    pub project: &'a str,
    pub location: &'a str,
    pub model: &'a str,
}

impl VertexModel<'_> {
    fn url(&self, publisher: &str, method: &str) -> String {
        let base = match self.api_base {
            Some(b) => b.trim_end_matches('/').to_owned(),
            None => format!("https://{}", host(self.location)),
        };
        format!(
            "{base}/v1/projects/{}/locations/{}/publishers/{publisher}/models/{}:{method}",
            self.project, self.location, self.model
        )
    }

    /// Gemini: `:generateContent`, or `:streamGenerateContent?alt=sse` when streaming.
    pub fn gemini_url(&self, stream: bool) -> String {
        if stream {
            self.url("google", "streamGenerateContent?alt=sse")
        } else {
            self.url("google", "generateContent")
        }
    }

    /// Claude: `:rawPredict`, or `:streamRawPredict` when streaming.
    pub fn claude_url(&self, stream: bool) -> String {
        self.url(
            "anthropic",
            if stream {
                "streamRawPredict"
            } else {
                "rawPredict"
            },
        )
    }

    /// Text embeddings (`text-embedding-*`): `:predict`.
    pub fn embeddings_url(&self) -> String {
        self.url("google", "predict")
    }
}

/// An Anthropic Messages body made fit for Vertex: `anthropic_version` set, `model` removed
/// (the model is in the URL).
pub fn claude_body(mut body: Value) -> Value {
    if let Some(obj) = body.as_object_mut() {
        obj.remove("model");
        obj.insert("anthropic_version".into(), Value::from(ANTHROPIC_VERSION));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(location: &str) -> VertexModel<'_> {
        VertexModel {
            api_base: None,
            project: "my-proj",
            location,
            model: "gemini-2.0-flash",
        }
    }

    #[test]
    fn gemini_urls() {
        assert_eq!(
            model("us-central1").gemini_url(false),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
        );
        assert_eq!(
            model("europe-west4").gemini_url(true),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn global_location_has_no_region_prefix() {
        assert_eq!(
            model("global").gemini_url(false),
            "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global/publishers/google/models/gemini-2.0-flash:generateContent"
        );
    }

    #[test]
    fn claude_urls_and_body() {
        let m = VertexModel {
            model: "claude-3-5-sonnet-v2@20241022",
            ..model("us-east5")
        };
        assert_eq!(
            m.claude_url(false),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict"
        );
        assert!(m.claude_url(true).ends_with(":streamRawPredict"));
        let body = claude_body(json!({"model": "x", "max_tokens": 5, "messages": []}));
        assert_eq!(
            body,
            json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 5, "messages": []})
        );
    }

    #[test]
    fn api_base_replaces_the_host() {
        let m = VertexModel {
            api_base: Some("http://127.0.0.1:9/"),
            ..model("us-central1")
        };
        assert_eq!(
            m.embeddings_url(),
            "http://127.0.0.1:9/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:predict"
        );
    }
}
