//! Vertex AI as an adapter: [`VertexWire`] speaks Gemini's `generateContent` for Gemini models
//! and Anthropic's Messages (`rawPredict`, with the Vertex body tweaks) for `claude-*` models,
//! and `:predict` for text embeddings; [`VertexAuth`] adds the service account's OAuth bearer
//! token (cached, refreshed early); [`provider`] resolves a deployment's project, location and
//! credentials, with the environment as fallback.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::auth::{ServiceAccount, TokenSource};
use super::endpoints::{claude_body, host, VertexModel};
use crate::adapter::{
    unsupported, Authorize, Endpoint, HttpCall, Provider, StreamTranslator, Wire,
};
use crate::anthropic::{request_to_anthropic, response_from_anthropic, AnthropicStreamIn};
use crate::canonical::{ChatRequest, ChatResponse, Chunk, EmbedRequest, EmbedResponse};
use crate::gemini::{request_to_gemini, response_from_gemini, GeminiStreamIn};
use crate::sse::Event;
use crate::{LlmError, Target};

/// The location used when neither the deployment nor the environment names one.
pub const DEFAULT_LOCATION: &str = "us-central1";

/// What a deployment may say about Vertex (`litellm_params` names).
#[derive(Debug, Clone, Default)]
pub struct VertexParams {
    pub vertex_project: Option<String>,
    pub vertex_location: Option<String>,
    /// A service-account JSON document, or the path to one.
    pub vertex_credentials: Option<String>,
}

/// Claude models are served through Anthropic's format; every other model through Gemini's.
fn is_claude(model: &str) -> bool {
    model.starts_with("claude")
}

/// Vertex AI's publisher models for one project and location.
#[derive(Debug, Clone)]
pub struct VertexWire {
    /// `None` when no project is known: every call fails saying so.
    pub project: Option<String>,
    pub location: String,
}

impl Wire for VertexWire {
    fn url(&self, endpoint: Endpoint, target: &Target, stream: bool) -> Result<String, LlmError> {
        let project = self.project.as_deref().ok_or_else(|| {
            LlmError::Invalid(
                "vertex_ai needs a project: set vertex_project on the deployment, VERTEXAI_PROJECT, or use credentials with a project_id".into(),
            )
        })?;
        let m = VertexModel {
            api_base: Some(&target.api_base),
            project,
            location: &self.location,
            model: &target.model,
        };
        Ok(match endpoint {
            Endpoint::CountTokens => return Err(unsupported(endpoint)),
            Endpoint::Embed if is_claude(&target.model) => return Err(unsupported(endpoint)),
            Endpoint::Embed => m.embeddings_url(),
            Endpoint::Chat if is_claude(&target.model) => m.claude_url(stream),
            Endpoint::Chat => m.gemini_url(stream),
        })
    }

    fn chat_body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        if is_claude(&req.model) {
            Ok(claude_body(request_to_anthropic(req)?))
        } else {
            request_to_gemini(req)
        }
    }

    fn chat_response(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        if body.get("candidates").is_some() {
            response_from_gemini(body)
        } else {
            response_from_anthropic(body)
        }
    }

    fn stream_translator(&self) -> Box<dyn StreamTranslator> {
        Box::new(VertexStreamIn::default())
    }

    fn embed_body(&self, req: &EmbedRequest) -> Result<Value, LlmError> {
        let instances: Vec<Value> = req.inputs.iter().map(|t| json!({"content": t})).collect();
        let mut body = json!({ "instances": instances });
        if let Some(d) = req.dimensions {
            body["parameters"] = json!({ "outputDimensionality": d });
        }
        Ok(body)
    }

    fn embed_response(&self, body: &Value) -> Result<EmbedResponse, LlmError> {
        let predictions = body
            .get("predictions")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                LlmError::Protocol("vertex_ai: embeddings without predictions".into())
            })?;
        let mut out = EmbedResponse::default();
        for p in predictions {
            let e = p.get("embeddings").unwrap_or(&Value::Null);
            out.vectors.push(
                e.get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default(),
            );
            out.usage.input_tokens += e
                .pointer("/statistics/token_count")
                .and_then(Value::as_f64)
                .map_or(0, |n| n.max(0.0) as u64);
        }
        Ok(out)
    }
}

/// A Vertex stream: Anthropic's events (named) for Claude, Gemini's chunks (unnamed) otherwise,
/// told apart by the first event.
#[derive(Default)]
pub struct VertexStreamIn {
    inner: Option<Box<dyn StreamTranslator>>,
}

impl StreamTranslator for VertexStreamIn {
    fn event(&mut self, event: &Event) -> Result<Vec<Chunk>, LlmError> {
        let inner = self.inner.get_or_insert_with(|| {
            let anthropic = event.event.is_some()
                || serde_json::from_str::<Value>(&event.data)
                    .is_ok_and(|v| v.get("type").is_some());
            if anthropic {
                Box::new(AnthropicStreamIn::default())
            } else {
                Box::new(GeminiStreamIn::default())
            }
        });
        inner.event(event)
    }

    fn finish(&mut self) -> Vec<Chunk> {
        self.inner.as_mut().map(|i| i.finish()).unwrap_or_default()
    }
}

/// Adds `Authorization: Bearer <token>` from the service account's token source.
#[derive(Debug, Clone)]
pub struct VertexAuth {
    source: Result<TokenSource, String>,
}

impl Authorize for VertexAuth {
    fn authorize<'a>(
        &'a self,
        call: &'a mut HttpCall,
        _target: &'a Target,
    ) -> BoxFuture<'a, Result<(), LlmError>> {
        Box::pin(async move {
            let source = self.source.as_ref().map_err(|m| LlmError::Status {
                status: 401,
                message: m.clone(),
                body: Some(json!({ "message": m })),
                retry_after: None,
            })?;
            let token = source.token().await?;
            call.headers
                .push(("authorization".into(), format!("Bearer {token}")));
            Ok(())
        })
    }
}

/// The service account named by the deployment (JSON text or a path) or by
/// `GOOGLE_APPLICATION_CREDENTIALS` (a path).
fn account(
    params: &VertexParams,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ServiceAccount, String> {
    let given = params
        .vertex_credentials
        .clone()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| env("GOOGLE_APPLICATION_CREDENTIALS"))
        .ok_or_else(|| {
            "vertex_ai: no credentials: set vertex_credentials on the deployment (a service-account JSON or its path) or GOOGLE_APPLICATION_CREDENTIALS".to_owned()
        })?;
    let text = if given.trim_start().starts_with('{') {
        given
    } else {
        std::fs::read_to_string(given.trim()).map_err(|e| {
            format!(
                "vertex_ai: cannot read credentials file {}: {e}",
                given.trim()
            )
        })?
    };
    ServiceAccount::from_json(&text).map_err(|e| match e {
        LlmError::Status { message, .. } => message,
        other => other.to_string(),
    })
}

/// The Vertex provider of a deployment and its base URL (`https://{location}-aiplatform...`).
pub fn provider(params: &VertexParams, env: impl Fn(&str) -> Option<String>) -> (Provider, String) {
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let account = account(params, &env);
    let project = non_empty(&params.vertex_project)
        .or_else(|| env("VERTEXAI_PROJECT"))
        .or_else(|| env("VERTEX_PROJECT"))
        .or_else(|| account.as_ref().ok().and_then(|a| a.project_id.clone()));
    let location = non_empty(&params.vertex_location)
        .or_else(|| env("VERTEXAI_LOCATION"))
        .or_else(|| env("VERTEX_LOCATION"))
        .unwrap_or_else(|| DEFAULT_LOCATION.to_owned());
    let source = account.and_then(|a| {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("vertex_ai: HTTP client: {e}"))?;
        TokenSource::new(http, a).map_err(|e| match e {
            LlmError::Status { message, .. } => message,
            other => other.to_string(),
        })
    });
    let base = format!("https://{}", host(&location));
    let provider = Provider {
        name: "vertex_ai",
        wire: Arc::new(VertexWire { project, location }),
        auth: Arc::new(VertexAuth { source }),
    };
    (provider, base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Message, Part, Role};

    fn target(model: &str) -> Target {
        Target {
            api_base: "http://127.0.0.1:9".into(),
            api_key: None,
            model: model.into(),
            timeout: std::time::Duration::from_secs(1),
            stream_timeout: std::time::Duration::from_secs(1),
            headers: Vec::new(),
        }
    }

    #[test]
    fn claude_and_gemini_urls_and_bodies() {
        let w = VertexWire {
            project: Some("p".into()),
            location: "us-east5".into(),
        };
        let url = w
            .url(Endpoint::Chat, &target("claude-sonnet-4-5@20250929"), true)
            .unwrap();
        assert_eq!(url, "http://127.0.0.1:9/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict");
        let url = w
            .url(Endpoint::Chat, &target("gemini-2.5-flash"), false)
            .unwrap();
        assert!(url.ends_with("/publishers/google/models/gemini-2.5-flash:generateContent"));
        let req = ChatRequest {
            model: "claude-sonnet-4-5@20250929".into(),
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::Text("hi".into())],
            }],
            ..ChatRequest::default()
        };
        let body = w.chat_body(&req).unwrap();
        assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
        assert!(body.get("model").is_none(), "{body}");
        let body = w
            .chat_body(&ChatRequest {
                model: "gemini-2.5-flash".into(),
                ..req
            })
            .unwrap();
        assert!(body.get("contents").is_some(), "{body}");
    }

    #[test]
    fn missing_project_or_credentials_are_named() {
        let (p, base) = provider(
            &VertexParams {
                vertex_location: Some("europe-west4".into()),
                ..VertexParams::default()
            },
            |_| None,
        );
        assert_eq!(base, "https://europe-west4-aiplatform.googleapis.com");
        let e = p
            .wire
            .url(Endpoint::Chat, &target("gemini-2.5-flash"), false)
            .unwrap_err();
        assert!(e.to_string().contains("vertex_project"), "{e}");
        let (p, _) = provider(
            &VertexParams {
                vertex_project: Some("p".into()),
                ..VertexParams::default()
            },
            |_| None,
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let e = rt
            .block_on(p.call(
                Endpoint::Chat,
                &target("gemini-2.5-flash"),
                false,
                &json!({}),
            ))
            .unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.to_string().contains("vertex_credentials"), "{e}");
    }

    #[test]
    fn embeddings_predict_shape() {
        let w = VertexWire {
            project: Some("p".into()),
            location: "us-central1".into(),
        };
        let body = w
            .embed_body(&EmbedRequest {
                model: "text-embedding-005".into(),
                inputs: vec!["a".into(), "b".into()],
                dimensions: Some(8),
            })
            .unwrap();
        assert_eq!(
            body,
            json!({"instances": [{"content": "a"}, {"content": "b"}], "parameters": {"outputDimensionality": 8}})
        );
        let r = w
            .embed_response(&json!({"predictions": [
                {"embeddings": {"values": [0.1], "statistics": {"token_count": 2.0}}},
                {"embeddings": {"values": [0.2], "statistics": {"token_count": 3.0}}}]}))
            .unwrap();
        assert_eq!((r.vectors.len(), r.usage.input_tokens), (2, 5));
    }
}
