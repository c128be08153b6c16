//! One attempt at a deployment, in the client's format. OpenAI clients of OpenAI-compatible
//! upstreams, and any client whose format is the provider's own, pass their body through
//! untouched; everything else crosses the canonical model of `tollgate_llm` (client format in,
//! provider wire out, and back). The mock is an OpenAI-format upstream answered in process.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use tollgate_llm::adapter::{
    Endpoint, Format, KeyAuth, Provider as Adapter, StreamEncoder, StreamTranslator,
};
use tollgate_llm::anthropic::{self, AnthropicStreamOut};
use tollgate_llm::canonical::ChatRequest;
use tollgate_llm::openai::{
    self, EventStream, OpenAiStreamIn, OpenAiStreamOut, OpenAiWire, RawStream,
};
use tollgate_llm::sse::Event;
use tollgate_llm::{mock, LlmError, RawReply, Reply};

use super::attempts::body_for;
use super::call::CallKind;
use super::request::ClientRequest;
use crate::router::{Deployment, Provider};
use crate::spend::pricing::{Usage, UsageObject};
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
    d.target.model.as_ref().clone_into(&mut req.model);
    req.stream = stream;
    Ok(req)
}

/// The body of one attempt passed through to a provider of the client's own format: the
/// client's fields as they came, with the deployment's model, less the gateway's own; streams of
/// chat and completions ask for the usage chunk; Anthropic takes only `user_id` in `metadata`
/// (where LiteLLM clients put `tags` and more) and no `tags` or `litellm_metadata`.
fn forward_body(request: &ClientRequest, kind: CallKind, d: &Deployment) -> Bytes {
    let mut edit: Vec<(&str, Option<String>)> = Vec::new();
    let streams = request.is_true("stream");
    if streams && matches!(kind, CallKind::Chat | CallKind::Completion) {
        let mut opts = match request.field("stream_options") {
            Some(Value::Object(o)) => o,
            _ => serde_json::Map::new(),
        };
        opts.insert("include_usage".into(), Value::Bool(true));
        edit.push(("stream_options", Some(Value::Object(opts).to_string())));
    }
    if kind.format() == Format::Anthropic {
        edit.push(("tags", None));
        edit.push(("litellm_metadata", None));
        let user = request
            .field("metadata")
            .and_then(|m| m.get("user_id").cloned());
        edit.push((
            "metadata",
            user.map(|u| serde_json::json!({"user_id": u}).to_string()),
        ));
    }
    let edit: Vec<(&str, Option<&str>)> = edit.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    request.forward(&d.target.model, d.provider.is_mock(), &edit)
}

/// A successful non-streaming answer.
pub struct Answer {
    pub body: AnswerBody,
    /// The usage the upstream reported, if any.
    pub usage: Option<Usage>,
    /// Upstream headers worth passing back.
    pub headers: Vec<(String, String)>,
}

/// An answer's body: the upstream's bytes, passed on as they came, or one built here.
pub enum AnswerBody {
    Bytes(Bytes),
    Json(Value),
}

/// Just the usage of an answer. Reading it checks that the whole answer is JSON, without
/// building it, and reads the usage's counts without building that either.
#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: UsageObject,
}

impl Answer {
    fn raw(kind: CallKind, reply: RawReply) -> Result<Self, LlmError> {
        let read: UsageOnly = serde_json::from_slice(&reply.body)
            .map_err(|e| LlmError::Protocol(format!("response is not a JSON object: {e}")))?;
        let usage = read.usage.0.map(|c| match kind {
            CallKind::Messages => Usage::anthropic(&c),
            _ => Usage::openai(&c),
        });
        Ok(Self {
            body: AnswerBody::Bytes(reply.body),
            usage,
            headers: reply.headers,
        })
    }

    fn json(kind: CallKind, reply: Reply) -> Self {
        Self {
            usage: usage_of(kind, &reply.body),
            body: AnswerBody::Json(reply.body),
            headers: reply.headers,
        }
    }

    /// The answer as JSON (parsed here for bytes passed through).
    pub fn value(&self) -> Value {
        match &self.body {
            AnswerBody::Json(v) => v.clone(),
            AnswerBody::Bytes(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        }
    }
}

/// The usage in a JSON answer, if it has one.
fn usage_of(kind: CallKind, body: &Value) -> Option<Usage> {
    body.get("usage").filter(|u| u.is_object())?;
    Some(match kind {
        CallKind::Messages => Usage::from_anthropic(body),
        _ => Usage::from_openai(body),
    })
}

/// A non-streaming call.
pub async fn json(
    state: &AppState,
    kind: CallKind,
    d: &Deployment,
    request: &ClientRequest,
    call_id: &str,
) -> Result<Answer, LlmError> {
    match &d.provider {
        Provider::Mock if kind.format() == Format::OpenAi => {
            let body = body_for(request.value(), kind, d);
            let reply = super::mock_reply(kind, &body, &d.target.model, call_id);
            Ok(Answer::json(kind, plain(reply)))
        }
        Provider::Mock => {
            let req = canonical(kind, &body_for(request.value(), kind, d), d, false)?;
            let answer = mock::chat(
                &openai::request_to_openai(&req),
                &d.target.model,
                &format!("msg_{call_id}"),
            );
            let resp = openai::response_from_openai(&answer)?;
            Ok(Answer::json(
                kind,
                plain(anthropic::response_to_anthropic(&resp)),
            ))
        }
        Provider::OpenAiCompatible if kind.format() == Format::OpenAi => {
            let body = forward_body(request, kind, d);
            let reply = state
                .upstream
                .post_raw(&d.target, kind.upstream_path(), body)
                .await?;
            Answer::raw(kind, reply)
        }
        Provider::OpenAiCompatible => {
            let body = body_for(request.value(), kind, d);
            let reply = Box::pin(translated_json(state, kind, &compatible(), d, &body)).await?;
            Ok(Answer::json(kind, reply))
        }
        Provider::Native(n) if n.provider.wire.format() == Some(kind.format()) => {
            let body = forward_body(request, kind, d);
            let call = n
                .provider
                .call_raw(endpoint(kind)?, &d.target, false, body)
                .await?;
            let reply = state.upstream.send_raw(call, d.target.timeout).await?;
            Answer::raw(kind, reply)
        }
        Provider::Native(n) => {
            let body = body_for(request.value(), kind, d);
            let reply = Box::pin(translated_json(state, kind, &n.provider, d, &body)).await?;
            Ok(Answer::json(kind, reply))
        }
    }
}

/// An answer made here, with no upstream headers.
fn plain(body: Value) -> Reply {
    Reply {
        status: 200,
        headers: Vec::new(),
        body,
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
        d.target.model.as_ref().clone_into(&mut req.model);
        let call = p
            .call(Endpoint::Embed, &d.target, false, &p.wire.embed_body(&req)?)
            .await?;
        let reply = state.upstream.send_json(call, d.target.timeout).await?;
        let mut resp = p.wire.embed_response(&reply.body)?;
        if resp.model.is_empty() {
            d.target.model.as_ref().clone_into(&mut resp.model);
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
        d.target.model.as_ref().clone_into(&mut resp.model);
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
    /// The upstream speaks the client's format: its bytes are passed on as they come.
    Raw(Box<RawStream>),
    Mock(VecDeque<Event>),
    Translated(Box<Translated>),
}

impl Source {
    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            Source::Raw(s) => s.headers.clone(),
            Source::Translated(t) => match &t.inner {
                Inner::Upstream(s) => s.headers.clone(),
                Inner::Mock(_) => Vec::new(),
            },
            Source::Mock(_) => Vec::new(),
        }
    }
}

enum Inner {
    Upstream(Box<EventStream>),
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
    pub async fn next(&mut self) -> Option<Result<Event, LlmError>> {
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
            d.target.model.to_string(),
            now(),
        )),
        Format::Anthropic => Box::new(AnthropicStreamOut::new(
            format!("msg_{call_id}"),
            d.target.model.to_string(),
        )),
    }
}

/// Opens a stream (waits for the upstream's headers).
pub async fn stream(
    state: &AppState,
    kind: CallKind,
    d: &Deployment,
    request: &ClientRequest,
    call_id: &str,
) -> Result<Source, LlmError> {
    let (inner, decoder): (Inner, Box<dyn StreamTranslator>) = match &d.provider {
        Provider::Mock if kind.format() == Format::OpenAi => {
            let body = body_for(request.value(), kind, d);
            return Ok(Source::Mock(
                super::relay::mock_events(kind, &d.target.model, call_id, &body).into(),
            ));
        }
        Provider::Mock => {
            let body = body_for(request.value(), kind, d);
            let req = openai::request_to_openai(&canonical(kind, &body, d, true)?);
            let events =
                mock::chat_stream(&req, &d.target.model, &format!("chatcmpl-{call_id}"), true);
            (
                Inner::Mock(events.into()),
                Box::new(OpenAiStreamIn::default()),
            )
        }
        Provider::OpenAiCompatible if kind.format() == Format::OpenAi => {
            let body = forward_body(request, kind, d);
            return state
                .upstream
                .post_raw_stream(&d.target, kind.upstream_path(), body)
                .await
                .map(|raw| Source::Raw(Box::new(raw)));
        }
        Provider::Native(n) if n.provider.wire.format() == Some(kind.format()) => {
            let body = forward_body(request, kind, d);
            let call = n
                .provider
                .call_raw(endpoint(kind)?, &d.target, true, body)
                .await?;
            return state
                .upstream
                .send_raw_stream(call, d.target.stream_timeout)
                .await
                .map(|raw| Source::Raw(Box::new(raw)));
        }
        Provider::OpenAiCompatible => {
            let body = body_for(request.value(), kind, d);
            Box::pin(open_translated(state, kind, &compatible(), d, &body)).await?
        }
        Provider::Native(n) => {
            let body = body_for(request.value(), kind, d);
            Box::pin(open_translated(state, kind, &n.provider, d, &body)).await?
        }
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
    Ok((Inner::Upstream(Box::new(s)), p.wire.stream_translator()))
}
