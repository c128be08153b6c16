//! Google service-account authentication for Vertex AI: the account's JSON key becomes an
//! RS256-signed JWT (RFC 7523), exchanged at the account's `token_uri` for an OAuth access
//! token. [`TokenSource`] caches the token and refreshes it a margin before it expires; callers
//! arriving during a refresh wait for that one exchange instead of starting their own.
//!
//! Signing uses `ring` (already in the build through rustls): constant-time RSA, and the PEM
//! key is parsed once when the source is made.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::LlmError;

/// The OAuth scope Vertex AI needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, when the key file does not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long a signed assertion is valid.
const ASSERTION_LIFETIME: u64 = 3600;
/// Refresh this long before the token expires.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The fields of a service-account key file this gateway uses. `Debug` hides the key.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    #[serde(rename = "type")]
    pub kind: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

fn default_token_uri() -> String {
    DEFAULT_TOKEN_URI.to_owned()
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Parses a key file's JSON; only `"type": "service_account"` is accepted.
    pub fn from_json(text: &str) -> Result<Self, LlmError> {
        let account: Self = serde_json::from_str(text)
            .map_err(|e| auth_error(&format!("service account JSON: {e}")))?;
        if account.kind != "service_account" {
            return Err(auth_error(&format!(
                "credentials of type {:?} are not a service account",
                account.kind
            )));
        }
        Ok(account)
    }
}

/// Parses a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) or PKCS#1.
pub fn parse_private_key(pem: &str) -> Result<RsaKeyPair, LlmError> {
    let pkcs1 = pem.contains("BEGIN RSA PRIVATE KEY");
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|e| auth_error(&format!("private_key is not PEM: {e}")))?;
    let key = if pkcs1 {
        RsaKeyPair::from_der(&der)
    } else {
        RsaKeyPair::from_pkcs8(&der)
    };
    key.map_err(|e| auth_error(&format!("private_key is not a usable RSA key: {e}")))
}

/// The signed assertion: `{iss, scope, aud: token_uri, iat, exp: iat + 3600}`, RS256.
pub fn signed_jwt(
    account: &ServiceAccount,
    key: &RsaKeyPair,
    iat: u64,
) -> Result<String, LlmError> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = &account.private_key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| auth_error("could not sign the JWT"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[derive(Debug, Clone)]
struct Cached {
    token: String,
    expires_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3600
}

/// Access tokens for one service account, cached and refreshed early. Cheap to clone (shared).
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    account: ServiceAccount,
    key: RsaKeyPair,
    margin: Duration,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.inner.account)
            .field("margin", &self.inner.margin)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source refreshing [`DEFAULT_REFRESH_MARGIN`] before expiry.
    pub fn new(http: reqwest::Client, account: ServiceAccount) -> Result<Self, LlmError> {
        Self::with_margin(http, account, DEFAULT_REFRESH_MARGIN)
    }

    /// A source refreshing `margin` before expiry.
    pub fn with_margin(
        http: reqwest::Client,
        account: ServiceAccount,
        margin: Duration,
    ) -> Result<Self, LlmError> {
        let key = parse_private_key(&account.private_key)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                account,
                key,
                margin,
                cached: Mutex::new(None),
            }),
        })
    }

    pub fn account(&self) -> &ServiceAccount {
        &self.inner.account
    }

    /// A valid access token: the cached one unless it is within the margin of expiring.
    pub async fn token(&self) -> Result<String, LlmError> {
        // Holding the lock across the exchange makes concurrent callers share one refresh.
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() + self.inner.margin < c.expires_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.exchange().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn exchange(&self) -> Result<Cached, LlmError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let assertion = signed_jwt(&self.inner.account, &self.inner.key, now)?;
        let form = [
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.as_str()),
        ];
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| auth_error(&format!("token request: {e}")))?;
        let started = Instant::now();
        let call = self
            .inner
            .http
            .post(&self.inner.account.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send();
        let resp = tokio::time::timeout(EXCHANGE_TIMEOUT, call)
            .await
            .map_err(|_| LlmError::Timeout(EXCHANGE_TIMEOUT))?
            .map_err(|e| LlmError::Connect(format!("vertex_ai token endpoint: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| LlmError::Connect(format!("vertex_ai token endpoint: {e}")))?;
        if !status.is_success() {
            return Err(auth_error(&format!(
                "token exchange answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| auth_error(&format!("token answer: {e}")))?;
        Ok(Cached {
            token: answer.access_token,
            expires_at: started + Duration::from_secs(answer.expires_in),
        })
    }
}

fn auth_error(what: &str) -> LlmError {
    let message = format!("vertex_ai: {what}");
    LlmError::Status {
        status: 401,
        message: message.clone(),
        body: Some(json!({ "message": message })),
        retry_after: None,
    }
}
