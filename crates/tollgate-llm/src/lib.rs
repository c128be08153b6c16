//! Talking to model providers: the canonical model every format crosses through, one adapter
//! per provider, the upstream transport, server-sent events, and the built-in mock provider.
//! Nothing here knows about HTTP serving, keys or storage.
//!
//! # Formats and adapters
//!
//! [`canonical`] holds the format-neutral chat request, answer, stream chunk, embeddings and
//! usage. Each client format (OpenAI chat in [`openai`], Anthropic Messages in [`anthropic`])
//! converts requests into it and answers and stream chunks out of it; each provider converts
//! requests out of it and answers and stream events into it. N providers and M client formats
//! cost N + M translations.
//!
//! A provider is an [`adapter::Provider`]: a [`adapter::Wire`] (pure translation plus the URL
//! of each call, unit-testable without a network) and an [`adapter::Authorize`] (a key header,
//! a bearer token, or any asynchronous signer). The [`openai::Client`] sends what they build.
//!
//! # Adding a provider
//!
//! 1. A folder `src/<provider>/` with a type implementing [`adapter::Wire`]: `url` (base URL
//!    plus path and query for chat or embeddings, streaming or not), `chat_body`,
//!    `chat_response`, `stream_translator` (a fresh [`adapter::StreamTranslator`] per stream,
//!    turning the provider's events into [`canonical::Chunk`]s), optionally `headers`,
//!    `embed_body` / `embed_response`, and `frames` when the stream is not server-sent events
//!    (a binary framing implements [`adapter::FrameDecoder`] and hands each frame on as an
//!    [`sse::Event`] whose `event` is the frame's event type and `data` its JSON payload).
//! 2. Authorization: [`adapter::KeyAuth`] for key headers; otherwise a type implementing
//!    [`adapter::Authorize`], which receives the finished [`adapter::HttpCall`] (URL, headers
//!    and body bytes) and may add headers after an asynchronous step (signing the body,
//!    fetching and caching an OAuth token).
//! 3. Register the `model:` prefix in [`providers::native`] (and [`providers::PREFIXES`]),
//!    which builds the [`adapter::Provider`] for a deployment from its [`providers::Options`].
//!    Settings a provider needs beyond the [`Target`] (region, project, credentials) are fields
//!    of `Options`, filled from `litellm_params` in the gateway's
//!    `crates/tollgate/src/router/deployment.rs`; secrets stay out of `Debug`.
//! 4. Test it: a fake of the provider's wire in `crates/tollgate-testkit` and one line in the
//!    `conformance!` list of `crates/tollgate/tests/conformance.rs`.
//!
//! The gateway then serves the provider to OpenAI and Anthropic clients alike, streaming or
//! not, and prices the canonical usage.

pub mod adapter;
pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod canonical;
pub mod cohere;
mod error;
pub mod gemini;
pub mod mock;
pub mod openai;
pub mod providers;
pub mod sse;
pub mod transport;
pub mod vertex;
pub mod wake;

use std::sync::Arc;
use std::time::Duration;

pub use error::LlmError;

/// Where and how to call one deployment. Its `Debug` hides the key.
#[derive(Clone)]
pub struct Target {
    /// Base URL, e.g. `https://api.openai.com/v1` (OpenAI-compatible servers include the
    /// version segment; native providers take their API root).
    pub api_base: Arc<str>,
    pub api_key: Option<String>,
    /// The model name the upstream expects (the part after `provider/`).
    pub model: Arc<str>,
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

/// A finished non-streaming upstream answer, unparsed.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub body: bytes::Bytes,
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
