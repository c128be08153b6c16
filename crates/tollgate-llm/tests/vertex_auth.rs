//! Vertex service-account auth against a real token endpoint on loopback: the JWT's claims and
//! RS256 signature (checked with the public half of a freshly generated key), token caching,
//! early refresh, one shared refresh for concurrent callers, and a rejected exchange.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::{json, Value};
use tollgate_llm::vertex::auth::{parse_private_key, signed_jwt, SCOPE};
use tollgate_llm::vertex::{ServiceAccount, TokenSource};

/// A fresh 2048-bit key: (PKCS#8 PEM, PKCS#1 DER public key).
fn keypair() -> (String, Vec<u8>) {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    (pem, public)
}

fn account(pem: &str, token_uri: &str) -> ServiceAccount {
    ServiceAccount::from_json(
        &json!({
            "type": "service_account",
            "project_id": "my-proj",
            "private_key_id": "kid-1",
            "private_key": pem,
            "client_email": "gw@my-proj.iam.gserviceaccount.com",
            "token_uri": token_uri,
        })
        .to_string(),
    )
    .unwrap()
}

/// Checks a JWT's signature with `public`; returns its header and claims.
fn open_jwt(jwt: &str, public: &[u8]) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let (h, c, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let sig = URL_SAFE_NO_PAD.decode(s).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .expect("signature verifies with the public key");
    let json = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (json(h), json(c))
}

#[test]
fn jwt_has_the_claims_and_verifies_with_the_public_key() {
    let (pem, public) = keypair();
    let sa = account(&pem, "https://oauth2.example/token");
    let key = parse_private_key(&sa.private_key).unwrap();
    let jwt = signed_jwt(&sa, &key, 1_700_000_000).unwrap();
    let (header, claims) = open_jwt(&jwt, &public);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
    );
    assert_eq!(
        claims,
        json!({
            "iss": "gw@my-proj.iam.gserviceaccount.com",
            "scope": SCOPE,
            "aud": "https://oauth2.example/token",
            "iat": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
        })
    );
    // Another key's public half does not verify it.
    let (_, other) = keypair();
    let (h, c) = jwt.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(c).unwrap();
    assert!(UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, other)
        .verify(h.as_bytes(), &sig)
        .is_err());
}

#[test]
fn only_service_accounts_with_rsa_keys_are_accepted() {
    let err = ServiceAccount::from_json(
        r#"{"type":"authorized_user","client_email":"a","private_key":"k"}"#,
    )
    .unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(err.to_string().contains("not a service account"), "{err}");
    assert!(
        parse_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
    );
    assert!(!format!("{:?}", account("secret-pem", "x")).contains("secret-pem"));
}

#[derive(Default)]
struct Endpoint {
    exchanges: usize,
    expires_in: u64,
    delay: Duration,
    reject: bool,
    public: Vec<u8>,
}

type Shared = Arc<Mutex<Endpoint>>;

async fn token(State(shared): State<Shared>, body: Bytes) -> axum::response::Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (n, expires_in, delay, reject, public) = {
        let mut s = shared.lock().unwrap();
        s.exchanges += 1;
        (
            s.exchanges,
            s.expires_in,
            s.delay,
            s.reject,
            s.public.clone(),
        )
    };
    tokio::time::sleep(delay).await;
    assert_eq!(
        get("grant_type"),
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let (_, claims) = open_jwt(&get("assertion"), &public);
    assert_eq!(claims["scope"], SCOPE);
    if reject {
        let body = json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    axum::Json(json!({"access_token": format!("tok-{n}"), "expires_in": expires_in, "token_type": "Bearer"}))
        .into_response()
}

/// A token endpoint on loopback and a source pointed at it.
async fn setup(expires_in: u64, margin: Duration) -> (Shared, TokenSource) {
    let (pem, public) = keypair();
    let shared: Shared = Arc::new(Mutex::new(Endpoint {
        expires_in,
        public,
        ..Default::default()
    }));
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sa = account(&pem, &format!("http://{addr}/token"));
    let source = TokenSource::with_margin(reqwest::Client::new(), sa, margin).unwrap();
    (shared, source)
}

fn exchanges(shared: &Shared) -> usize {
    shared.lock().unwrap().exchanges
}

#[tokio::test]
async fn tokens_are_cached_between_calls() {
    let (shared, source) = setup(3600, Duration::from_secs(300)).await;
    assert_eq!(source.token().await.unwrap(), "tok-1");
    assert_eq!(source.token().await.unwrap(), "tok-1");
    assert_eq!(source.clone().token().await.unwrap(), "tok-1");
    assert_eq!(exchanges(&shared), 1);
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // Valid for 301 s with a 300 s margin: due for refresh one second from now, long before
    // it actually expires.
    let (shared, source) = setup(301, Duration::from_secs(300)).await;
    assert_eq!(source.token().await.unwrap(), "tok-1");
    assert_eq!(source.token().await.unwrap(), "tok-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(source.token().await.unwrap(), "tok-2");
    assert_eq!(exchanges(&shared), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let (shared, source) = setup(3600, Duration::from_secs(300)).await;
    shared.lock().unwrap().delay = Duration::from_millis(300);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let s = source.clone();
            tokio::spawn(async move { s.token().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "tok-1");
    }
    assert_eq!(exchanges(&shared), 1);
}

#[tokio::test]
async fn a_rejected_exchange_is_an_error_and_is_not_cached() {
    let (shared, source) = setup(3600, Duration::from_secs(300)).await;
    shared.lock().unwrap().reject = true;
    let err = source.token().await.unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    shared.lock().unwrap().reject = false;
    assert_eq!(source.token().await.unwrap(), "tok-2");
}
