//! Calling the Bedrock runtime: credentials and region resolved from the deployment (with the
//! standard AWS environment variables as fallback), every request SigV4-signed for the
//! `bedrock` service, JSON answers parsed into the Converse types, streams decoded frame by
//! frame with a bound on each wait, and AWS error answers turned into [`LlmError::Status`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::converse::{
    converse_path, converse_stream_path, exception_status, invoke_path, runtime_base,
    ConverseRequest, ConverseResponse, StreamEvent,
};
use super::eventstream::Decoder;
use super::sigv4::{sign, Credentials, Scope, SignableRequest};
use crate::LlmError;

/// The signing name of the Bedrock runtime.
pub const SERVICE: &str = "bedrock";
/// The region used when neither the deployment nor the environment names one.
pub const DEFAULT_REGION: &str = "us-west-2";

/// What a deployment may say about AWS (`litellm_params` names).
#[derive(Debug, Clone, Default)]
pub struct BedrockParams {
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    pub aws_region_name: Option<String>,
    /// Replaces `https://bedrock-runtime.{region}.amazonaws.com` (proxies, tests).
    pub api_base: Option<String>,
}

/// A resolved deployment: who signs, for which region, and where requests go.
#[derive(Debug, Clone)]
pub struct Bedrock {
    pub credentials: Credentials,
    pub region: String,
    pub base: String,
}

impl Bedrock {
    /// Resolves credentials and region. `env` reads an environment variable (the caller
    /// passes `std::env::var` or a test map): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` are used only when the deployment has no key of its own; the region
    /// falls back to `AWS_REGION_NAME`, `AWS_REGION`, `AWS_DEFAULT_REGION`, then us-west-2.
    pub fn resolve(
        params: &BedrockParams,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let env = |name: &str| env(name).filter(|s| !s.is_empty());
        let credentials = match non_empty(&params.aws_access_key_id) {
            Some(key) => Credentials {
                access_key_id: key,
                secret_access_key: non_empty(&params.aws_secret_access_key)
                    .ok_or_else(|| missing("aws_secret_access_key"))?,
                session_token: non_empty(&params.aws_session_token),
            },
            None => Credentials {
                access_key_id: env("AWS_ACCESS_KEY_ID")
                    .ok_or_else(|| missing("aws_access_key_id"))?,
                secret_access_key: env("AWS_SECRET_ACCESS_KEY")
                    .ok_or_else(|| missing("aws_secret_access_key"))?,
                session_token: env("AWS_SESSION_TOKEN"),
            },
        };
        let region = non_empty(&params.aws_region_name)
            .or_else(|| env("AWS_REGION_NAME"))
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let base = non_empty(&params.api_base)
            .map(|b| b.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| runtime_base(&region));
        Ok(Self {
            credentials,
            region,
            base,
        })
    }

    /// A signed POST of `body` to `path`, accepting `accept`.
    fn request(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        accept: &str,
    ) -> Result<reqwest::RequestBuilder, LlmError> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| LlmError::Connect(format!("bedrock: bad URL {}{path}: {e}", self.base)))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(LlmError::Connect(format!("bedrock: no host in {url}"))),
        };
        let headers = vec![
            ("host".to_owned(), host),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), accept.to_owned()),
        ];
        let signed = sign(
            &SignableRequest {
                method: "POST",
                path: url.path(),
                query: url.query().unwrap_or(""),
                headers: &headers,
                body: &body,
            },
            &self.credentials,
            Scope {
                region: &self.region,
                service: SERVICE,
            },
            chrono::Utc::now(),
            true,
        );
        let mut req = http.post(url).body(body);
        for (name, value) in headers.iter().skip(1).chain(&signed.headers) {
            req = req.header(name.as_str(), value.as_str());
        }
        Ok(req)
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, LlmError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| LlmError::Protocol(format!("bedrock: request body: {e}")))?;
        let req = self.request(http, path, body, "application/json")?;
        let call = async {
            let resp = check(req.send().await.map_err(send_error)?).await?;
            let bytes = resp.bytes().await.map_err(send_error)?;
            serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::Protocol(format!("bedrock: unreadable answer: {e}")))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| LlmError::Timeout(timeout))?
    }

    /// Converse: one answer.
    pub async fn converse(
        &self,
        http: &reqwest::Client,
        model_id: &str,
        req: &ConverseRequest,
        timeout: Duration,
    ) -> Result<ConverseResponse, LlmError> {
        self.post_json(http, &converse_path(model_id), req, timeout)
            .await
    }

    /// InvokeModel with a model-specific JSON body (embeddings).
    pub async fn invoke<T: DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        model_id: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, LlmError> {
        self.post_json(http, &invoke_path(model_id), body, timeout)
            .await
    }

    /// ConverseStream: the events as they arrive. `stream_timeout` bounds the wait for the
    /// answer's headers and for each chunk after; an exception frame ends the stream with its
    /// error, and so does a stream cut inside a frame.
    pub async fn converse_stream(
        &self,
        http: &reqwest::Client,
        model_id: &str,
        req: &ConverseRequest,
        stream_timeout: Duration,
    ) -> Result<EventStream, LlmError> {
        let body = serde_json::to_vec(req)
            .map_err(|e| LlmError::Protocol(format!("bedrock: request body: {e}")))?;
        let req = self.request(
            http,
            &converse_stream_path(model_id),
            body,
            "application/vnd.amazon.eventstream",
        )?;
        let resp = tokio::time::timeout(stream_timeout, async {
            check(req.send().await.map_err(send_error)?).await
        })
        .await
        .map_err(|_| LlmError::Timeout(stream_timeout))??;
        Ok(events(resp.bytes_stream(), stream_timeout))
    }
}

/// Events of one ConverseStream answer.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

struct StreamState<S> {
    body: S,
    decoder: Decoder,
    ready: VecDeque<Result<StreamEvent, LlmError>>,
    done: bool,
}

/// Decodes a body of event-stream bytes into events; after the first error nothing follows.
pub fn events<S>(body: S, gap: Duration) -> EventStream
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + Unpin + 'static,
{
    let state = StreamState {
        body,
        decoder: Decoder::new(),
        ready: VecDeque::new(),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        move |mut st| async move {
            loop {
                if let Some(item) = st.ready.pop_front() {
                    if item.is_err() {
                        st.ready.clear();
                        st.done = true;
                    }
                    return Some((item, st));
                }
                if st.done {
                    return None;
                }
                match tokio::time::timeout(gap, st.body.next()).await {
                    Err(_) => st.ready.push_back(Err(LlmError::Timeout(gap))),
                    Ok(Some(Err(e))) => st.ready.push_back(Err(send_error(e))),
                    Ok(Some(Ok(chunk))) => st.decode(&chunk),
                    Ok(None) => {
                        st.done = true;
                        if let Err(e) = st.decoder.finish() {
                            st.ready.push_back(Err(e));
                        }
                    }
                }
            }
        },
    ))
}

impl<S> StreamState<S> {
    fn decode(&mut self, chunk: &[u8]) {
        self.decoder.push(chunk);
        loop {
            match self.decoder.next_message() {
                Ok(Some(frame)) => self.ready.push_back(StreamEvent::from_frame(&frame)),
                Ok(None) => break,
                Err(e) => {
                    self.ready.push_back(Err(e));
                    break;
                }
            }
        }
    }
}

fn missing(field: &str) -> LlmError {
    let env = field.to_ascii_uppercase();
    let message = format!(
        "bedrock: no AWS credentials: set {field} on the deployment or {env} in the environment"
    );
    LlmError::Status {
        status: 401,
        message: message.clone(),
        body: Some(serde_json::json!({ "message": message })),
        retry_after: None,
    }
}

fn send_error(e: reqwest::Error) -> LlmError {
    LlmError::Connect(format!("bedrock: {e}"))
}

/// Passes a 2xx answer through; turns anything else into AWS's error (`x-amzn-ErrorType` and
/// the body's `message`).
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, LlmError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let kind = header("x-amzn-errortype");
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let bytes = resp.bytes().await.unwrap_or_default();
    let body: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let text = body
        .as_ref()
        .and_then(|b| b.get("message").or_else(|| b.get("Message")))
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let kind = kind.map(|k| k.split(':').next().unwrap_or_default().to_owned());
    let status = match (&kind, status) {
        // Some proxies answer 400 for throttling; the error type is the truth.
        (Some(k), 400) if exception_status(k) == 429 => 429,
        _ => status,
    };
    let message = match kind {
        Some(k) => format!("{k}: {text}"),
        None => text,
    };
    Err(LlmError::Status {
        status,
        message,
        body,
        retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn deployment_values_win_over_the_environment() {
        let params = BedrockParams {
            aws_access_key_id: Some("AKIDPARAM".into()),
            aws_secret_access_key: Some("secret".into()),
            aws_region_name: Some("eu-central-1".into()),
            ..Default::default()
        };
        let env = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SESSION_TOKEN", "envtoken"),
            ("AWS_REGION", "us-east-1"),
        ]);
        let b = Bedrock::resolve(&params, env).unwrap();
        assert_eq!(b.credentials.access_key_id, "AKIDPARAM");
        // A session token from the environment belongs to the environment's key, not this one.
        assert_eq!(b.credentials.session_token, None);
        assert_eq!(b.region, "eu-central-1");
        assert_eq!(b.base, "https://bedrock-runtime.eu-central-1.amazonaws.com");
    }

    #[test]
    fn environment_fallbacks_and_api_base() {
        let params = BedrockParams {
            api_base: Some("http://127.0.0.1:9/".into()),
            ..Default::default()
        };
        let b = Bedrock::resolve(
            &params,
            env(&[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
                ("AWS_SESSION_TOKEN", "tok"),
                ("AWS_REGION", "ap-south-1"),
            ]),
        )
        .unwrap();
        assert_eq!(b.credentials.session_token.as_deref(), Some("tok"));
        assert_eq!(b.region, "ap-south-1");
        assert_eq!(b.base, "http://127.0.0.1:9");
        let b = Bedrock::resolve(
            &BedrockParams::default(),
            env(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]),
        )
        .unwrap();
        assert_eq!(b.region, DEFAULT_REGION);
    }

    #[test]
    fn missing_credentials_name_what_to_set() {
        let err = Bedrock::resolve(&BedrockParams::default(), env(&[])).unwrap_err();
        assert_eq!(err.status(), 401);
        assert!(err.to_string().contains("aws_access_key_id"), "{err}");
        let params = BedrockParams {
            aws_access_key_id: Some("k".into()),
            ..Default::default()
        };
        let err = Bedrock::resolve(&params, env(&[])).unwrap_err();
        assert!(err.to_string().contains("aws_secret_access_key"), "{err}");
    }
}
