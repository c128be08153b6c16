//! Talking to model providers: the upstream transport, server-sent events, and the built-in
//! mock provider. Nothing here knows about HTTP serving, keys or storage; the gateway hands in a
//! [`Target`] and a JSON body and gets back a response or a stream of events.

pub mod bedrock;
mod error;
pub mod mock;
pub mod openai;
pub mod sse;
pub mod vertex;

use std::time::Duration;

pub use error::LlmError;

/// Where and how to call one deployment. Its `Debug` hides the key.
#[derive(Clone)]
pub struct Target {
    /// Base URL including the version segment, e.g. `https://api.openai.com/v1`.
    pub api_base: String,
    pub api_key: Option<String>,
    /// The model name the upstream expects (the part after `provider/`).
    pub model: String,
    /// Bound on a whole non-streaming call.
    pub timeout: Duration,
    /// Bound on the wait for each piece of a stream (first byte and gaps between chunks).
    pub stream_timeout: Duration,
    /// Extra headers to send (organization, custom headers of the deployment).
    pub headers: Vec<(String, String)>,
}

/// A finished non-streaming upstream answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    /// Upstream headers worth passing back (rate-limit headers, request ids).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("stream_timeout", &self.stream_timeout)
            .finish_non_exhaustive()
    }
}
