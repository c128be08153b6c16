//! The provider adapter interface. A provider is a [`Wire`] (pure translation between the
//! canonical model and the provider's JSON, plus the URL of each call) and an [`Authorize`]
//! (how a call is authenticated: a key header, a bearer token, a signature). The transport
//! ([`crate::openai::Client::send`]) knows neither; it sends an [`HttpCall`] and reads the
//! answer, framing streams with the wire's [`FrameDecoder`] (server-sent events unless the wire
//! says otherwise) and translating events with its [`StreamTranslator`].

use std::fmt::Debug;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::canonical::{ChatRequest, ChatResponse, Chunk, EmbedRequest, EmbedResponse};
use crate::sse::{Event, Parser};
use crate::{LlmError, Target};

/// The client formats the gateway accepts. A wire whose own format is one of these can take a
/// client's body as it came (pass-through), keeping fields the canonical model does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
}

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Embed,
    /// Counting a chat request's input tokens, where the provider offers it (the body is the
    /// chat body).
    CountTokens,
}

/// One HTTP request to an upstream, before and after authorization.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

/// The error of a wire asked for an endpoint it does not offer.
pub fn unsupported(endpoint: Endpoint) -> LlmError {
    LlmError::Unsupported(
        match endpoint {
            Endpoint::Chat => "chat",
            Endpoint::Embed => "embeddings",
            Endpoint::CountTokens => "token counting",
        }
        .into(),
    )
}

/// A provider's wire format: pure functions, no I/O.
pub trait Wire: Send + Sync + Debug {
    /// The client format this wire speaks natively, if any.
    fn format(&self) -> Option<Format> {
        None
    }

    /// The full URL of a call (base URL from the target, plus path and query).
    fn url(&self, endpoint: Endpoint, target: &Target, stream: bool) -> Result<String, LlmError>;

    /// Headers every call carries besides authorization (e.g. a version header).
    fn headers(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The request body of a chat call.
    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError>;

    /// Reads a chat answer.
    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError>;

    /// A fresh translator of this wire's stream events into canonical chunks.
    fn stream_translator(&self) -> Box<dyn StreamTranslator>;

    /// A fresh decoder of this wire's stream framing (server-sent events by default; binary
    /// framings such as AWS event streams turn each frame into an [`Event`]).
    fn frames(&self) -> Box<dyn FrameDecoder> {
        Box::new(Parser::new())
    }

    /// The request body of an embedding call; providers without embeddings refuse.
    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        let _ = req;
        Err(LlmError::Unsupported("embeddings".into()))
    }

    /// Reads an embedding answer.
    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        let _ = body;
        Err(LlmError::Unsupported("embeddings".into()))
    }
}

/// Turns a provider's stream events into canonical chunks; keeps whatever state that needs
/// (open blocks, tool-call indices, running usage).
pub trait StreamTranslator: Send {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError>;

    /// The stream ended: anything still held back.
    fn finish(&mut self) -> Vec<Chunk> {
        Vec::new()
    }
}

/// Cuts a byte stream into events.
pub trait FrameDecoder: Send {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, LlmError>;
    fn finish(&mut self) -> Result<Vec<Event>, LlmError>;
}

impl FrameDecoder for Parser {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, LlmError> {
        Ok(Parser::feed(self, bytes))
    }

    fn finish(&mut self) -> Result<Vec<Event>, LlmError> {
        Ok(Parser::finish(self).into_iter().collect())
    }
}

/// Authenticates a call: adds headers, or signs it. May be asynchronous (fetching a token).
pub trait Authorize: Send + Sync + Debug {
    fn authorize<'a>(
        &'a self,
        call: &'a mut HttpCall,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<(), LlmError>>;
}

/// The target's key in a header: `Authorization: Bearer <key>`, or `<name>: <key>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAuth {
    Bearer,
    Header(&'static str),
}

impl Authorize for KeyAuth {
    fn authorize<'a>(
        &'a self,
        call: &'a mut HttpCall,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<(), LlmError>> {
        if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
            match self {
                KeyAuth::Bearer => call
                    .headers
                    .push(("authorization".into(), format!("Bearer {key}"))),
                KeyAuth::Header(name) => call.headers.push(((*name).into(), key.to_owned())),
            }
        }
        Box::pin(async { Ok(()) })
    }
}

/// A native provider: its wire format and its authorization.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The provider's name (`anthropic`, `azure`, ...).
    pub name: &'static str,
    pub wire: Arc<dyn Wire>,
    pub auth: Arc<dyn Authorize>,
}

impl Provider {
    /// An authorized call with `body` (already in this wire's format) to `endpoint`.
    pub async fn call(
        &self,
        endpoint: Endpoint,
        target: &Target,
        stream: bool,
        body: &Value,
    ) -> Result<HttpCall, LlmError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| LlmError::Protocol(format!("could not encode the request: {e}")))?;
        self.call_raw(endpoint, target, stream, bytes.into()).await
    }

    /// An authorized call whose body is already this wire's JSON, as bytes.
    pub async fn call_raw(
        &self,
        endpoint: Endpoint,
        target: &Target,
        stream: bool,
        body: bytes::Bytes,
    ) -> Result<HttpCall, LlmError> {
        let mut headers = self.wire.headers();
        headers.extend(target.headers.iter().cloned());
        let mut call = HttpCall {
            url: self.wire.url(endpoint, target, stream)?,
            headers,
            body,
        };
        self.auth.authorize(&mut call, target).await?;
        Ok(call)
    }
}

/// `base` without its trailing slash, followed by `path`.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Turns canonical chunks into a client format's stream events; keeps whatever state that
/// needs (open blocks, the stop reason until the usage is known).
pub trait StreamEncoder: Send {
    fn chunk(&mut self, chunk: Chunk) -> Vec<Event>;

    /// The upstream ended: closing events (for OpenAI, the usage chunk and `[DONE]`).
    fn finish(&mut self) -> Vec<Event>;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::providers::{native, Options, PREFIXES};

    fn translators() -> Vec<Box<dyn StreamTranslator>> {
        let mut all: Vec<Box<dyn StreamTranslator>> =
            vec![Box::new(crate::openai::OpenAiStreamIn::default())];
        for p in PREFIXES {
            if let Some(n) = native(p, &Options::default()) {
                all.push(n.provider.wire.stream_translator());
            }
        }
        all
    }

    /// JSON-ish event data: objects with the fields providers use, nested at random.
    fn data() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            "-?[0-9]{1,3}".prop_map(|s| s),
            "\"[a-z_ -]{0,12}\"".prop_map(|s| s),
        ];
        let keys = prop_oneof![
            Just("type"),
            Just("delta"),
            Just("index"),
            Just("choices"),
            Just("usage"),
            Just("message"),
            Just("content_block"),
            Just("candidates"),
            Just("parts"),
            Just("tool_calls"),
            Just("text"),
            Just("functionCall"),
            Just("error"),
        ];
        leaf.prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec((keys.clone(), inner), 0..5).prop_map(|kv| {
                    let fields: Vec<String> =
                        kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn translators_never_panic_on_hostile_events(
            events in proptest::collection::vec((proptest::option::of("[a-z_-]{1,20}"), prop_oneof![data(), ".{0,40}"]), 0..12)
        ) {
            for mut t in translators() {
                for (event, data) in &events {
                    let _ = t.event(&Event { event: event.clone(), data: data.clone() });
                }
                let _ = t.finish();
            }
        }
    }
}
