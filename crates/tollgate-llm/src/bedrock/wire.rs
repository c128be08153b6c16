//! Bedrock as an adapter: the [`BedrockWire`] (Converse and ConverseStream for chat, InvokeModel
//! for Titan and Cohere embeddings, event-stream frames handed on as events), the
//! [`SigV4`] authorization that signs every call, and [`provider`], which resolves a
//! deployment's AWS parameters (environment fallbacks included) into both.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::converse::{converse_path, converse_stream_path, invoke_path};
use super::embed::EmbedFamily;
use super::eventstream::{Decoder, Message as Frame};
use super::request::request_to_converse;
use super::response::{response_from_converse, BedrockStreamIn, EXCEPTION_EVENT};
use super::sigv4::{sign, Credentials, Scope, SignableRequest};
use super::transport::{Bedrock, BedrockParams, SERVICE};
use crate::adapter::{
    unsupported, Authorize, Endpoint, FrameDecoder, HttpCall, Provider, StreamTranslator, Wire,
};
use crate::canonical::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Usage};
use crate::sse::Event;
use crate::{LlmError, Target};

/// The model id of a deployment's model: LiteLLM's route prefixes (`bedrock/converse/…`,
/// `bedrock/invoke/…`) removed; every chat goes through Converse.
fn model_id(model: &str) -> &str {
    model
        .strip_prefix("converse/")
        .or_else(|| model.strip_prefix("invoke/"))
        .unwrap_or(model)
}

/// Bedrock's runtime API under the target's base URL (`https://bedrock-runtime.{region}.amazonaws.com`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BedrockWire;

impl Wire for BedrockWire {
    fn url(&self, endpoint: Endpoint, target: &Target, stream: bool) -> Result<String, LlmError> {
        let model = model_id(&target.model);
        let path = match (endpoint, stream) {
            (Endpoint::Embed, _) => invoke_path(model),
            (Endpoint::Chat, false) => converse_path(model),
            (Endpoint::Chat, true) => converse_stream_path(model),
            (Endpoint::CountTokens, _) => return Err(unsupported(endpoint)),
        };
        Ok(format!("{}{path}", target.api_base.trim_end_matches('/')))
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        serde_json::to_value(request_to_converse(req)?)
            .map_err(|e| LlmError::Protocol(format!("bedrock: request body: {e}")))
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        response_from_converse(body)
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(BedrockStreamIn::default())
    }

    fn frames(&self) -> Box<dyn FrameDecoder> {
        Box::new(EventStreamFrames::default())
    }

    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        match EmbedFamily::of(&req.model) {
            Some(EmbedFamily::Titan) => {
                let [text] = req.inputs.as_slice() else {
                    return Err(LlmError::Invalid(format!(
                        "bedrock Titan embeddings take one input per request, got {}",
                        req.inputs.len()
                    )));
                };
                let mut body = json!({"inputText": text});
                if let Some(d) = req.dimensions {
                    body["dimensions"] = json!(d);
                }
                Ok(body)
            }
            Some(EmbedFamily::Cohere) => {
                Ok(json!({"texts": req.inputs, "input_type": "search_document"}))
            }
            None => Err(LlmError::Invalid(format!(
                "bedrock embeddings are supported for amazon.titan-embed-* and cohere.embed-* models, not {}",
                req.model
            ))),
        }
    }

    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        let floats = |v: &Value| -> Vec<f64> {
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        };
        if let Some(e) = body.get("embedding") {
            let tokens = body
                .get("inputTextTokenCount")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            return Ok(EmbedResponse {
                vectors: vec![floats(e)],
                usage: Usage {
                    input_tokens: tokens,
                    ..Usage::default()
                },
                ..EmbedResponse::default()
            });
        }
        let list = body
            .get("embeddings")
            .and_then(|e| e.get("float").or(Some(e)))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                LlmError::Protocol("bedrock: embedding answer without embeddings".into())
            })?;
        Ok(EmbedResponse {
            vectors: list.iter().map(floats).collect(),
            ..EmbedResponse::default()
        })
    }
}

/// Cuts `application/vnd.amazon.eventstream` bytes into events: an event frame becomes an
/// [`Event`] named by its `:event-type` with its JSON payload as data; an exception or error
/// frame becomes an [`EXCEPTION_EVENT`] with `{"type", "message", ...}`. A corrupt frame is an
/// error, after the good frames before it.
#[derive(Debug, Default)]
pub struct EventStreamFrames {
    decoder: Decoder,
    failed: Option<LlmError>,
}

fn frame_event(frame: &Frame) -> Event {
    let payload = String::from_utf8_lossy(&frame.payload).into_owned();
    match frame.header_str(":message-type") {
        Some("exception") => {
            let mut v: Value = serde_json::from_str(&payload).unwrap_or_else(|_| json!({}));
            if !v.is_object() {
                v = json!({ "message": payload });
            }
            let kind = frame.header_str(":exception-type").unwrap_or("unknown");
            v["type"] = json!(kind);
            Event {
                event: Some(EXCEPTION_EVENT.into()),
                data: v.to_string(),
            }
        }
        Some("event") => Event {
            event: frame.header_str(":event-type").map(str::to_owned),
            data: payload,
        },
        _ => {
            let kind = frame.header_str(":error-code").unwrap_or("unknown");
            let message = frame.header_str(":error-message").unwrap_or_default();
            Event {
                event: Some(EXCEPTION_EVENT.into()),
                data: json!({"type": kind, "message": message}).to_string(),
            }
        }
    }
}

impl FrameDecoder for EventStreamFrames {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, LlmError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.decoder.push(bytes);
        let mut out = Vec::new();
        loop {
            match self.decoder.next_message() {
                Ok(Some(frame)) => out.push(frame_event(&frame)),
                Ok(None) => return Ok(out),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    self.failed = Some(e);
                    return Ok(out);
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<Event>, LlmError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.decoder.finish().map(|()| Vec::new())
    }
}

/// Signs every call with AWS Signature Version 4 for the `bedrock` service. Credentials that
/// could not be resolved fail each call with a 401 that names what is missing.
#[derive(Debug, Clone)]
pub struct SigV4 {
    resolved: Result<(Credentials, String), String>,
}

impl Authorize for SigV4 {
    fn authorize<'a>(
        &'a self,
        call: &'a mut HttpCall,
        _target: &'a Target,
    ) -> BoxFuture<'a, Result<(), LlmError>> {
        Box::pin(async move {
            let (credentials, region) = self.resolved.as_ref().map_err(|m| LlmError::Status {
                status: 401,
                message: m.clone(),
                body: Some(json!({ "message": m })),
                retry_after: None,
            })?;
            let url = reqwest::Url::parse(&call.url)
                .map_err(|e| LlmError::Connect(format!("bedrock: bad URL {}: {e}", call.url)))?;
            let host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                (None, _) => return Err(LlmError::Connect(format!("bedrock: no host in {url}"))),
            };
            let mut headers = vec![("host".to_owned(), host)];
            headers.extend(call.headers.iter().cloned());
            let signed = sign(
                &SignableRequest {
                    method: "POST",
                    path: url.path(),
                    query: url.query().unwrap_or(""),
                    headers: &headers,
                    body: &call.body,
                },
                credentials,
                Scope {
                    region,
                    service: SERVICE,
                },
                chrono::Utc::now(),
                true,
            );
            call.headers.extend(signed.headers);
            Ok(())
        })
    }
}

/// The Bedrock provider of a deployment and its base URL: credentials and region from `params`,
/// else from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION_NAME` / `AWS_REGION` / `AWS_DEFAULT_REGION` as `env` gives them.
pub fn provider(
    params: &BedrockParams,
    env: impl Fn(&str) -> Option<String>,
) -> (Provider, String) {
    let resolved = Bedrock::resolve(params, &env);
    let base = match &resolved {
        Ok(b) => b.base.clone(),
        // Credentials are missing but the URL is still known: calls fail with the 401 below.
        Err(_) => {
            let no_keys = BedrockParams {
                aws_access_key_id: Some("-".into()),
                aws_secret_access_key: Some("-".into()),
                ..params.clone()
            };
            Bedrock::resolve(&no_keys, &env).map_or_else(|_| String::new(), |b| b.base)
        }
    };
    let resolved = resolved
        .map(|b| (b.credentials, b.region))
        .map_err(|e| match e {
            LlmError::Status { message, .. } => message,
            other => other.to_string(),
        });
    let provider = Provider {
        name: "bedrock",
        wire: Arc::new(BedrockWire),
        auth: Arc::new(SigV4 { resolved }),
    };
    (provider, base)
}

#[cfg(test)]
mod tests {
    use super::super::converse::{exception_frame, StreamEvent};
    use super::*;
    use proptest::prelude::*;

    fn frames() -> Vec<u8> {
        let mut bytes = Vec::new();
        for e in [
            json!({"messageStart": {"role": "assistant"}}),
            json!({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hello"}}}),
        ] {
            let e: StreamEvent = serde_json::from_value(e).unwrap();
            bytes.extend(e.to_frame().unwrap().encode().unwrap());
        }
        bytes.extend(
            exception_frame("throttlingException", "slow")
                .encode()
                .unwrap(),
        );
        bytes
    }

    #[test]
    fn frames_become_events_and_exceptions_errors_of_their_status() {
        let mut d = EventStreamFrames::default();
        let events = d.feed(&frames()).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].event.as_deref(), Some("contentBlockDelta"));
        let mut t = BedrockStreamIn::default();
        assert!(t.event(&events[1]).is_ok());
        let e = t.event(&events[2]).unwrap_err();
        assert_eq!(e.status(), 429);
        assert!(d.finish().unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn any_cut_gives_the_same_events_and_corruption_an_error(
            cuts in proptest::collection::vec(0usize..400, 0..8),
            flip in 0usize..400,
        ) {
            let bytes = frames();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            points.sort_unstable();
            let mut d = EventStreamFrames::default();
            let (mut events, mut last) = (Vec::new(), 0);
            for p in points.into_iter().chain([bytes.len()]) {
                events.extend(d.feed(&bytes[last..p]).unwrap());
                last = p;
            }
            prop_assert!(d.finish().is_ok());
            prop_assert_eq!(events, EventStreamFrames::default().feed(&bytes).unwrap());
            let mut bad = bytes.clone();
            bad[flip % bytes.len()] ^= 0x40;
            let mut d = EventStreamFrames::default();
            let fed = d.feed(&bad);
            let ended = d.finish();
            // Every byte is under a CRC: a flipped bit never goes unnoticed.
            prop_assert!(fed.is_err() || ended.is_err());
        }

        #[test]
        fn truncated_streams_are_errors(cut in 1usize..400) {
            let bytes = frames();
            let cut = cut % bytes.len();
            prop_assume!(cut > 0);
            let mut d = EventStreamFrames::default();
            let _ = d.feed(&bytes[..cut]);
            let whole_frames_only = d.finish();
            // A cut exactly between frames is a clean (shorter) stream; anywhere else an error.
            prop_assert!(whole_frames_only.is_err() || is_boundary(&bytes, cut));
        }
    }

    /// Whether `cut` falls between two frames of `bytes`.
    fn is_boundary(bytes: &[u8], cut: usize) -> bool {
        let mut at = 0usize;
        while at < bytes.len() {
            if at == cut {
                return true;
            }
            let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            at += len as usize;
        }
        at == cut
    }

    #[tokio::test]
    async fn missing_credentials_fail_calls_with_a_401_naming_the_parameter() {
        let (p, base) = provider(
            &BedrockParams {
                aws_region_name: Some("eu-west-1".into()),
                ..BedrockParams::default()
            },
            |_| None,
        );
        assert_eq!(base, "https://bedrock-runtime.eu-west-1.amazonaws.com");
        let target = Target {
            api_base: base.into(),
            api_key: None,
            model: "m".into(),
            timeout: std::time::Duration::from_secs(1),
            stream_timeout: std::time::Duration::from_secs(1),
            headers: Vec::new(),
        };
        let e = p
            .call(Endpoint::Chat, &target, false, &json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.to_string().contains("aws_access_key_id"), "{e}");
    }

    #[test]
    fn route_prefixes_are_not_part_of_the_model_id() {
        let t = |model: &str| Target {
            api_base: "https://b".into(),
            api_key: None,
            model: model.into(),
            timeout: std::time::Duration::from_secs(1),
            stream_timeout: std::time::Duration::from_secs(1),
            headers: Vec::new(),
        };
        let w = BedrockWire;
        assert_eq!(
            w.url(
                Endpoint::Chat,
                &t("converse/us.amazon.nova-pro-v1:0"),
                false
            )
            .unwrap(),
            "https://b/model/us.amazon.nova-pro-v1%3A0/converse"
        );
        assert_eq!(
            w.url(
                Endpoint::Embed,
                &t("invoke/amazon.titan-embed-text-v2:0"),
                false
            )
            .unwrap(),
            "https://b/model/amazon.titan-embed-text-v2%3A0/invoke"
        );
        assert_eq!(
            w.url(Endpoint::CountTokens, &t("m"), false)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn embedding_bodies_by_family() {
        let req = |model: &str, n: usize| EmbedRequest {
            model: model.into(),
            inputs: (0..n).map(|i| format!("t{i}")).collect(),
            dimensions: Some(256),
        };
        let w = BedrockWire;
        assert_eq!(
            w.embed_body(&req("amazon.titan-embed-text-v2:0", 1))
                .unwrap(),
            json!({"inputText": "t0", "dimensions": 256})
        );
        assert_eq!(
            w.embed_body(&req("amazon.titan-embed-text-v2:0", 2))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            w.embed_body(&req("cohere.embed-english-v3", 2)).unwrap()["texts"],
            json!(["t0", "t1"])
        );
        let r = w
            .embed_response(&json!({"embedding": [0.5, 1.0], "inputTextTokenCount": 3}))
            .unwrap();
        assert_eq!((r.vectors.len(), r.usage.input_tokens), (1, 3));
        let r = w
            .embed_response(&json!({"embeddings": {"float": [[1.0], [2.0]]}}))
            .unwrap();
        assert_eq!(r.vectors, vec![vec![1.0], vec![2.0]]);
    }
}
