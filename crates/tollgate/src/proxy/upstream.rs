//! One attempt at a deployment, in the client's format. OpenAI clients of OpenAI-compatible
//! upstreams, and any client whose format is the provider's own, pass their body through
//! untouched; everything else crosses the canonical model of `tollgate_llm` (client format in,
//! provider wire out, and back). The mock is an OpenAI-format upstream answered in process.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;
use tollgate_llm::adapter::{
    Endpoint, Format, KeyAuth, Provider as Adapter, StreamEncoder, StreamTranslator,
};
use tollgate_llm::anthropic::{self, AnthropicStreamOut};
use tollgate_llm::canonical::ChatRequest;
use tollgate_llm::openai::{self, EventStream, OpenAiStreamIn, OpenAiStreamOut, OpenAiWire};
use tollgate_llm::sse::Event;
use tollgate_llm::{mock, LlmError, Reply};

use super::call::CallKind;
use crate::router::{Deployment, Provider};
use crate::state::AppState;

/// Seconds since the Unix epoch, for `created`.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The adapter that reaches an OpenAI-compatible server for clients in another format.
fn compatible() -> Adapter {
    Adapter {
        name: "openai",
        wire: Arc::new(OpenAiWire),
        auth: Arc::new(KeyAuth::Bearer),
    }
}

fn endpoint(kind: CallKind) -> Result<Endpoint, LlmError> {
    match kind {
        CallKind::Chat | CallKind::Messages => Ok(Endpoint::Chat),
        CallKind::Embedding => Ok(Endpoint::Embed),
        CallKind::Completion => Err(LlmError::Unsupported("/v1/completions".into())),
        CallKind::Responses => Err(LlmError::Unsupported("/v1/responses".into())),
    }
}

/// The client's chat request, in canonical form, for the deployment's model.
fn canonical(
    kind: CallKind,
    body: &Value,
    d: &Deployment,
    stream: bool,
) -> Result<ChatRequest, LlmError> {
    let mut req = match kind.format() {
        Format::OpenAi => openai::request_from_openai(body)?,
        Format::Anthropic => anthropic::request_from_anthropic(body)?,
    };
    req.model.clone_from(&d.target.model);
    req.stream = stream;
    Ok(req)
}

/// A client body passed through to a provider of its own format, less the gateway's own
/// fields the provider would refuse: Anthropic takes only `user_id` in `metadata` (where
/// LiteLLM clients put `tags` and more) and no `tags` or `litellm_metadata`.
fn passthrough_body(kind: CallKind, mut body: Value) -> Value {
    if kind.format() != Format::Anthropic {
        return body;
    }
    if let Some(o) = body.as_object_mut() {
        o.remove("tags");
        o.remove("litellm_metadata");
        let user = o.get("metadata").and_then(|m| m.get("user_id")).cloned();
        match user {
            Some(u) => {
                o.insert("metadata".into(), serde_json::json!({"user_id": u}));
            }
            None => {
                o.remove("metadata");
            }
        }
    }
    body
}

/// A non-streaming call.
pub async fn json(
    state: &AppState,
    kind: CallKind,
    d: &Deployment,
    body: Value,
    call_id: &str,
) -> Result<Reply, LlmError> {
    match &d.provider {
        Provider::Mock if kind.format() == Format::OpenAi => Ok(Reply {
            status: 200,
            headers: Vec::new(),
            body: super::mock_reply(kind, &body, &d.target.model, call_id),
        }),
        Provider::Mock => {
            let req = canonical(kind, &body, d, false)?;
            let answer = mock::chat(
                &openai::request_to_openai(&req),
                &d.target.model,
                &format!("msg_{call_id}"),
            );
            let resp = openai::response_from_openai(&answer)?;
            Ok(Reply {
                status: 200,
                headers: Vec::new(),
                body: anthropic::response_to_anthropic(&resp),
            })
        }
        Provider::OpenAiCompatible if kind.format() == Format::OpenAi => {
            state
                .upstream
                .post_json(&d.target, kind.upstream_path(), &body)
                .await
        }
        Provider::OpenAiCompatible => translated_json(state, kind, &compatible(), d, &body).await,
        Provider::Native(n) if n.provider.wire.format() == Some(kind.format()) => {
            let body = passthrough_body(kind, body);
            let call = n
                .provider
                .call(endpoint(kind)?, &d.target, false, &body)
                .await?;
            state.upstream.send_json(call, d.target.timeout).await
        }
        Provider::Native(n) => translated_json(state, kind, &n.provider, d, &body).await,
    }
}

async fn translated_json(
    state: &AppState,
    kind: CallKind,
    p: &Adapter,
    d: &Deployment,
    body: &Value,
) -> Result<Reply, LlmError> {
    if endpoint(kind)? == Endpoint::Embed {
        let mut req = openai::embed::request_from_openai(body)?;
        req.model.clone_from(&d.target.model);
        let call = p
            .call(Endpoint::Embed, &d.target, false, &p.wire.embed_body(&req)?)
            .await?;
        let reply = state.upstream.send_json(call, d.target.timeout).await?;
        let mut resp = p.wire.embed_response(&reply.body)?;
        if resp.model.is_empty() {
            resp.model.clone_from(&d.target.model);
        }
        if resp.usage.input_tokens == 0 {
            // Providers that report no usage (Gemini): counted locally, as OpenAI would.
            resp.usage.input_tokens = req
                .inputs
                .iter()
                .map(|t| crate::spend::pricing::count_tokens(&d.target.model, t))
                .sum();
        }
        return Ok(Reply {
            status: 200,
            headers: reply.headers,
            body: openai::embed::response_to_openai(&resp),
        });
    }
    let req = canonical(kind, body, d, false)?;
    let call = p
        .call(Endpoint::Chat, &d.target, false, &p.wire.chat_body(&req)?)
        .await?;
    let reply = state.upstream.send_json(call, d.target.timeout).await?;
    let mut resp = p.wire.chat_response(&reply.body)?;
    if resp.model.is_empty() {
        resp.model.clone_from(&d.target.model);
    }
    let body = match kind.format() {
        Format::OpenAi => openai::response_to_openai(&resp, now()),
        Format::Anthropic => anthropic::response_to_anthropic(&resp),
    };
    Ok(Reply {
        status: 200,
        headers: reply.headers,
        body,
    })
}

/// Where a stream's events come from, already in the client's format.
pub enum Source {
    Upstream(EventStream),
    Mock(VecDeque<Event>),
    Translated(Box<Translated>),
}

impl Source {
    pub async fn next(&mut self) -> Option<Result<Event, LlmError>> {
        match self {
            Source::Upstream(s) => s.next().await,
            Source::Mock(q) => q.pop_front().map(Ok),
            Source::Translated(t) => t.next().await,
        }
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            Source::Upstream(s) => s.headers.clone(),
            Source::Translated(t) => match &t.inner {
                Inner::Upstream(s) => s.headers.clone(),
                Inner::Mock(_) => Vec::new(),
            },
            Source::Mock(_) => Vec::new(),
        }
    }
}

enum Inner {
    Upstream(EventStream),
    Mock(VecDeque<Event>),
}

/// A provider's stream turned into the client's format: provider events, canonical chunks,
/// client events.
pub struct Translated {
    inner: Inner,
    decoder: Box<dyn StreamTranslator>,
    encoder: Box<dyn StreamEncoder>,
    pending: VecDeque<Event>,
    finished: bool,
}

impl Translated {
    async fn next(&mut self) -> Option<Result<Event, LlmError>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            if self.finished {
                return None;
            }
            let next = match &mut self.inner {
                Inner::Upstream(s) => s.next().await,
                Inner::Mock(q) => q.pop_front().map(Ok),
            };
            match next {
                None => {
                    self.finished = true;
                    let tail = self.decoder.finish();
                    for c in tail {
                        self.pending.extend(self.encoder.chunk(c));
                    }
                    self.pending.extend(self.encoder.finish());
                }
                Some(Ok(event)) => match self.decoder.event(&event) {
                    Ok(chunks) => {
                        for c in chunks {
                            self.pending.extend(self.encoder.chunk(c));
                        }
                    }
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                },
                Some(Err(e)) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

fn encoder(kind: CallKind, d: &Deployment, call_id: &str) -> Box<dyn StreamEncoder> {
    match kind.format() {
        Format::OpenAi => Box::new(OpenAiStreamOut::new(
            format!("chatcmpl-{call_id}"),
            d.target.model.clone(),
            now(),
        )),
        Format::Anthropic => Box::new(AnthropicStreamOut::new(
            format!("msg_{call_id}"),
            d.target.model.clone(),
        )),
    }
}

/// Opens a stream (waits for the upstream's headers).
pub async fn stream(
    state: &AppState,
    kind: CallKind,
    d: &Deployment,
    body: Value,
    call_id: &str,
) -> Result<Source, LlmError> {
    let (inner, decoder): (Inner, Box<dyn StreamTranslator>) = match &d.provider {
        Provider::Mock if kind.format() == Format::OpenAi => {
            return Ok(Source::Mock(
                super::relay::mock_events(kind, &d.target.model, call_id, &body).into(),
            ));
        }
        Provider::Mock => {
            let req = openai::request_to_openai(&canonical(kind, &body, d, true)?);
            let events =
                mock::chat_stream(&req, &d.target.model, &format!("chatcmpl-{call_id}"), true);
            (
                Inner::Mock(events.into()),
                Box::new(OpenAiStreamIn::default()),
            )
        }
        Provider::OpenAiCompatible if kind.format() == Format::OpenAi => {
            return state
                .upstream
                .post_stream(&d.target, kind.upstream_path(), &body)
                .await
                .map(Source::Upstream);
        }
        Provider::Native(n) if n.provider.wire.format() == Some(kind.format()) => {
            let body = passthrough_body(kind, body);
            let call = n
                .provider
                .call(endpoint(kind)?, &d.target, true, &body)
                .await?;
            let frames = n.provider.wire.frames();
            return state
                .upstream
                .send_stream(call, d.target.stream_timeout, frames)
                .await
                .map(Source::Upstream);
        }
        Provider::OpenAiCompatible => open_translated(state, kind, &compatible(), d, &body).await?,
        Provider::Native(n) => open_translated(state, kind, &n.provider, d, &body).await?,
    };
    Ok(Source::Translated(Box::new(Translated {
        inner,
        decoder,
        encoder: encoder(kind, d, call_id),
        pending: VecDeque::new(),
        finished: false,
    })))
}

async fn open_translated(
    state: &AppState,
    kind: CallKind,
    p: &Adapter,
    d: &Deployment,
    body: &Value,
) -> Result<(Inner, Box<dyn StreamTranslator>), LlmError> {
    if endpoint(kind)? != Endpoint::Chat {
        return Err(LlmError::Unsupported("streaming this endpoint".into()));
    }
    let req = canonical(kind, body, d, true)?;
    let call = p
        .call(Endpoint::Chat, &d.target, true, &p.wire.chat_body(&req)?)
        .await?;
    let s = state
        .upstream
        .send_stream(call, d.target.stream_timeout, p.wire.frames())
        .await?;
    Ok((Inner::Upstream(s), p.wire.stream_translator()))
}
