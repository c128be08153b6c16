//! Finding the API key in a request, in LiteLLM's order: `x-litellm-api-key`, `Authorization`,
//! `API-Key`, `x-api-key`, `x-goog-api-key`, `Ocp-Apim-Subscription-Key`, `?key=` on Google
//! routes, then the custom header of `general_settings.litellm_key_header_name`.

use axum::http::header::{AsHeaderName, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;

use crate::http::Error;

const MALFORMED: &str =
    "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.";

const LITELLM_API_KEY: HeaderName = HeaderName::from_static("x-litellm-api-key");
/// The plain key headers, in the order they are looked at.
const KEY_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("api-key"),
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-goog-api-key"),
    HeaderName::from_static("ocp-apim-subscription-key"),
];

/// A header's value, trimmed, when it is text and not empty. Names are looked up as
/// [`HeaderName`]s: a `&str` would be checked and hashed anew on every request.
fn header(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The key the caller passed, if any.
pub fn api_key(parts: &Parts, custom_header: Option<&str>) -> Result<Option<String>, Error> {
    let headers = &parts.headers;
    if let Some(v) = header(headers, &LITELLM_API_KEY) {
        return Ok(Some(strip_bearer(v).unwrap_or(v).to_owned()));
    }
    if let Some(v) = header(headers, &AUTHORIZATION) {
        return from_authorization(v).map(Some);
    }
    for name in &KEY_HEADERS {
        if let Some(v) = header(headers, name) {
            return Ok(Some(v.to_owned()));
        }
    }
    if is_google_route(parts.uri.path()) {
        if let Some(k) = query_key(parts.uri.query()) {
            return Ok(Some(k));
        }
    }
    if let Some(v) = custom_header.and_then(|name| header(headers, name)) {
        return Ok(Some(strip_bearer(v).unwrap_or(v).to_owned()));
    }
    Ok(None)
}

fn strip_bearer(v: &str) -> Option<&str> {
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn from_authorization(v: &str) -> Result<String, Error> {
    if let Some(k) = strip_bearer(v) {
        return Ok(k.to_owned());
    }
    if let Some(encoded) = v.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Error::unauthorized("auth_error", MALFORMED))?;
        // `user:password`: the key is the password.
        let key = decoded.split_once(':').map_or(decoded.as_str(), |(_, p)| p);
        return Ok(key.to_owned());
    }
    // AWS SigV4 clients: `AWS4-HMAC-SHA256 Credential=Bearer sk-.../20240101/...`.
    if let Some(rest) = v.split("Credential=Bearer ").nth(1) {
        if let Some(k) = rest.split(['/', ',', ' ']).next().filter(|k| !k.is_empty()) {
            return Ok(k.to_owned());
        }
    }
    Err(Error::unauthorized("auth_error", MALFORMED))
}

fn is_google_route(path: &str) -> bool {
    path.contains(":generateContent") || path.contains(":streamGenerateContent")
}

fn query_key(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn litellm_header_wins_over_authorization() {
        let p = parts(
            &[
                ("authorization", "Bearer sk-b"),
                ("x-litellm-api-key", "Bearer sk-a"),
            ],
            "/",
        );
        assert_eq!(api_key(&p, None).unwrap().as_deref(), Some("sk-a"));
    }

    #[test]
    fn authorization_forms() {
        let get = |v: &str| api_key(&parts(&[("authorization", v)], "/"), None);
        assert_eq!(get("Bearer sk-1").unwrap().as_deref(), Some("sk-1"));
        assert_eq!(get("bearer sk-1").unwrap().as_deref(), Some("sk-1"));
        let basic = base64::engine::general_purpose::STANDARD.encode("user:sk-2");
        assert_eq!(
            get(&format!("Basic {basic}")).unwrap().as_deref(),
            Some("sk-2")
        );
        assert_eq!(
            get("AWS4-HMAC-SHA256 Credential=Bearer sk-3/20240101/us-east-1/bedrock/aws4_request")
                .unwrap()
                .as_deref(),
            Some("sk-3")
        );
        let err = get("sk-1").unwrap_err();
        assert!(err.to_string().contains("Malformed API Key"));
    }

    #[test]
    fn sdk_headers_in_order() {
        let p = parts(
            &[("x-api-key", "sk-anthropic"), ("api-key", "sk-azure")],
            "/",
        );
        assert_eq!(api_key(&p, None).unwrap().as_deref(), Some("sk-azure"));
        let p = parts(&[("x-goog-api-key", "sk-g")], "/");
        assert_eq!(api_key(&p, None).unwrap().as_deref(), Some("sk-g"));
    }

    #[test]
    fn query_key_only_on_google_routes() {
        let p = parts(&[], "/v1beta/models/gemini:generateContent?key=sk-q");
        assert_eq!(api_key(&p, None).unwrap().as_deref(), Some("sk-q"));
        let p = parts(&[], "/key/info?key=sk-q");
        assert_eq!(api_key(&p, None).unwrap(), None);
    }

    #[test]
    fn custom_header_is_last() {
        let p = parts(&[("x-my-key", "sk-c")], "/");
        assert_eq!(
            api_key(&p, Some("x-my-key")).unwrap().as_deref(),
            Some("sk-c")
        );
        assert_eq!(api_key(&p, None).unwrap(), None);
    }
}
