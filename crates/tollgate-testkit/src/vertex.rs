//! A fake Vertex AI front over real HTTP: an OAuth token endpoint for service accounts
//! (`POST /token`, JWT-bearer grant), a bearer-token check on every other call, and Vertex's
//! publisher-model paths forwarded to a fake of the model's own API: Gemini
//! (`publishers/google/models/{m}:generateContent`, `:streamGenerateContent?alt=sse`) to a Gemini
//! fake, Claude (`publishers/anthropic/models/{m}:rawPredict`, `:streamRawPredict`, body with
//! `anthropic_version` and no `model`) to an Anthropic fake. Text embeddings (`:predict`) are
//! answered here. Answers, streams and injected failures of the fake behind pass through as
//! they come.
//!
//! ```no_run
//! # async fn demo() {
//! let gemini = tollgate_testkit::FakeUpstream::start_as(tollgate_testkit::Wire::Gemini).await;
//! let vertex = tollgate_testkit::FakeVertex::start(&gemini.url()).await;
//! // api_base: vertex.url(), vertex_credentials: vertex.credentials_path()
//! # }
//! ```

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// The access token the fake issues.
pub const VERTEX_TOKEN: &str = "ya29.fake-vertex-token";

/// A throwaway RSA key for test service accounts (the fake does not check JWT signatures; the
/// token source's own tests do).
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDcpeTx2CdHYaL+\nBo5kFG4GqZUMEf3JruH+m09styUFLyxysAZ+Ru4rQnpwqB3TKuK1IT9ntyW22KU5\nmbRAfhEF3LawhATUGID0XqurRkxBtnavW2fJvglhGHatK7o8MlxvxL4RTRtMv/EC\n2pmdVcdu/hGA03fV+uBQisqdiN5ZyjnjSpSCdKrO9D5Ne01kZAjQZh0FGDjmlEUm\ndg7dMC4hON5mZh7XKnlAqqOsLNcSuAp5CLZAyXBAI/j4MD+jJ7HxTjTIlu3Go3S0\nX6O/iyZlKUih4b6oIiBUSZgwezGXqh02hwtO+7fWAT4V0afli56Vgt5kLXMNgy+P\nV+S2fPclAgMBAAECggEATRh+BW7EUrGv1NiPmjJ1O0i3tm724SiE+IRl3ROlEMmp\n2yzcJ/U6tMzWoVRsj2M1sZo7YE7jE59hI94r2Dj0U7sJ7mVClqU1Ma1+iCrY7EEH\n+T+T5S7MciutE9bqjKwAFmGFE+CAQHH0kU22TP4y3/pQPVYmUhMFm77TCvZO0sor\nFvP9myBXVlscQxbSFvAGmN9AW0Pa3e1e0PIcIhu3//n6DL3DHQHOTQsQw6fBBxwt\n6LNdc3BNge7HatAS8pnillsdcsyJXCYirt/zT5/hx4twYiSAHYaaOFFtICPT3SFv\nqkmvd8Y478W6BmIrjsH0rm25kkiPHVc7EHzLVPc/pQKBgQDu3Z6TPQC+rvMhCFlD\nAr64FMOrgBDOYVX1LMhgpi/p3atj/5DZZxSgX9hgf3ICVR8tBY+xiImjfI51V6l+\nQygkkvmRHBOQtxYNiviS4AIXlKxN8fmlWhvVZf9GyqEH9lPCQBc46LwDJIVU/hwF\n1N6p6DRKi/k3oPKY5M7N58I5uwKBgQDsebyiRDCsHUs9Jt57DSkpJbrePvbp5CqH\nCsiwe1q1M+9jXSR9sh+rqKEB7yLQuor1HpVhE3Rd2WoZo3YLbotwhclYOWXQcrtJ\nH0oKshakXo4hI2GbMw0xfLL27UJYNz2BaYD2e1Y/OuU2dwNGigYNO+5JypBEyyxc\nCzqTyUGUnwKBgEhp71T7vWoRZ6uv+D+UaXUs9lTbsjyezYxSUzzZpNTlWrwqEiOW\nWG52IAbBHDMQ0y627OUJW5Cwhg+Uz9FzUowj8nzHYjcRCiJ46vq75mZ3r/TBUsmK\nE74R+d3gOAlN5/6Pp3qdM8JQJAusLZqm+gnQV2nyHU97/4/Sbc+GXx9ZAoGACCw4\n6b7Dk987T3S9cbFFv+dO6wlwDStWkO49e2P4AZU26883SKTUVWFxlxiFsoMP9GLH\nNOCwP+IYuaQdm02JwizNhaAONcMRV/id3XrEL5AZB2oqoGuGRDSUFtaiWVwnYwab\nb2lZ1LubWmOImHKCvQhaNvCqRcZj1RaKQrtM6e8CgYBKBQ++A38glfj8vZzo7AMF\nk+ug1oKavUlBCwMhowramVhYr5ouNImNVSY6Iw90gHyv1XHFeJKrVFC4RC+HydHI\n5LFROQHh/8NkM26rxlbAqmYQ3wGaDMvAqIErR501oFFffWjn9L5yGwW/K+QcO4mT\nVLUZwx/obWynhALws5wQfQ==\n-----END PRIVATE KEY-----\n";

struct Front {
    upstream: String,
    http: reqwest::Client,
    token_calls: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

/// A running fake Vertex front on `127.0.0.1`; it stops when dropped.
pub struct FakeVertex {
    addr: std::net::SocketAddr,
    front: Arc<Front>,
    server: JoinHandle<()>,
    credentials: tempfile::NamedTempFile,
}

impl FakeVertex {
    /// A front forwarding to the fake at `upstream` (its base URL).
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake Vertex: bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake Vertex: local address: {e}"));
        let front = Arc::new(Front {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token_calls: AtomicUsize::new(0),
            paths: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(front.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut credentials =
            tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("fake Vertex: {e}"));
        let account = json!({
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "fake-key-1",
            "private_key": TEST_KEY,
            "client_email": "gateway@fake-project.iam.gserviceaccount.com",
            "token_uri": format!("http://{addr}/token"),
        });
        credentials
            .write_all(account.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("fake Vertex: {e}"));
        Self {
            addr,
            front,
            server,
            credentials,
        }
    }

    /// The base URL to use as `api_base`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A service-account JSON file whose `token_uri` is this front's token endpoint.
    pub fn credentials_path(&self) -> String {
        self.credentials.path().display().to_string()
    }

    /// Token exchanges served.
    pub fn token_calls(&self) -> usize {
        self.front.token_calls.load(Ordering::SeqCst)
    }

    /// Paths of the model calls received (token calls aside), in order.
    pub fn paths(&self) -> Vec<String> {
        self.front
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeVertex {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn google_error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        404 => "NOT_FOUND",
        _ => "INTERNAL",
    };
    let body = json!({"error": {"code": status, "message": message, "status": name}});
    (code, Json(body)).into_response()
}

async fn handle(
    State(front): State<Arc<Front>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == "/token" {
        return token(&front, &body);
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(VERTEX_TOKEN) {
        return google_error(401, "Request had invalid authentication credentials.");
    }
    front
        .paths
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(uri.path().to_owned());
    let Some((publisher, model, method)) = parse(uri.path()) else {
        return google_error(404, "The requested URL was not found on this server.");
    };
    let Ok(mut body) = serde_json::from_slice::<Value>(&body) else {
        return google_error(400, "Invalid JSON payload received.");
    };
    match (publisher.as_str(), method.as_str()) {
        ("google", "generateContent" | "streamGenerateContent") => {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            let url = format!("{}/v1beta/models/{model}:{method}{query}", front.upstream);
            forward(&front, &url, &[("x-goog-api-key", "fake")], &body).await
        }
        ("google", "predict") => predict(&body),
        ("anthropic", "rawPredict" | "streamRawPredict") => {
            if body.get("anthropic_version").and_then(Value::as_str) != Some("vertex-2023-10-16")
                || body.get("model").is_some()
            {
                return google_error(
                    400,
                    "Claude on Vertex takes anthropic_version=vertex-2023-10-16 in the body and the model in the URL",
                );
            }
            if let Some(o) = body.as_object_mut() {
                o.remove("anthropic_version");
                o.insert("model".into(), json!(model));
            }
            let url = format!("{}/v1/messages", front.upstream);
            let h = [("x-api-key", "fake"), ("anthropic-version", "2023-06-01")];
            forward(&front, &url, &h, &body).await
        }
        _ => google_error(404, "The requested URL was not found on this server."),
    }
}

/// `/v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:{method}`.
fn parse(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/v1/projects/")?;
    let (_, rest) = rest.split_once("/locations/")?;
    let (_, rest) = rest.split_once("/publishers/")?;
    let (publisher, rest) = rest.split_once("/models/")?;
    let (model, method) = rest.rsplit_once(':')?;
    Some((publisher.to_owned(), model.to_owned(), method.to_owned()))
}

fn token(front: &Front, body: &[u8]) -> Response {
    let form = String::from_utf8_lossy(body);
    let field = |name: &str| {
        form.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let grant_ok = field("grant_type").as_deref()
        == Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
    let jwt_ok = field("assertion").is_some_and(|a| a.split('.').count() == 3);
    if !grant_ok || !jwt_ok {
        let body = json!({"error": "invalid_grant", "error_description": "bad grant or assertion"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    front.token_calls.fetch_add(1, Ordering::SeqCst);
    Json(json!({"access_token": VERTEX_TOKEN, "expires_in": 3600, "token_type": "Bearer"}))
        .into_response()
}

fn predict(body: &Value) -> Response {
    let instances = body
        .get("instances")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let predictions: Vec<Value> = instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let words = inst
                .get("content")
                .and_then(Value::as_str)
                .map_or(1, |t| t.split_whitespace().count().max(1));
            json!({"embeddings": {"values": [0.1 * i as f64, 0.5, 0.25], "statistics": {"token_count": words, "truncated": false}}})
        })
        .collect();
    Json(json!({ "predictions": predictions })).into_response()
}

/// Sends `body` to the fake behind and streams its answer back as it comes.
async fn forward(front: &Front, url: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    let mut req = front.http.post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return google_error(502, &format!("fake Vertex: upstream: {e}")),
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for name in ["content-type", "retry-after"] {
        if let Some(v) = resp.headers().get(name) {
            out = out.header(name, v.as_bytes());
        }
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|e| panic!("fake Vertex: {e}"))
}
