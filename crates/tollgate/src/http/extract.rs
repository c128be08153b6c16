//! Request extractors whose errors name the failing field: [`Body`] for JSON bodies and
//! [`Params`] for query strings. An empty body reads as `{}`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::Error;

/// Limit on management request bodies.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// A JSON body parsed with the path of any failing field in the error.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::bad_request(format!("Could not read the request body: {e}")))?;
        if bytes.len() > MAX_BODY {
            return Err(Error::bad_request("Request body is too large"));
        }
        parse_json(&bytes).map(Body)
    }
}

/// Parses JSON, naming the field that fails.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(Error::bad_request(format!("Malformed JSON body: {e}"))),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(Error::bad_request(format!("Malformed JSON body: {inner}")));
            }
            Err(field_error(&path, &inner.to_string()))
        }
    }
}

fn field_error(path: &str, problem: &str) -> Error {
    // serde reports a missing field at the parent's path; name the field itself.
    let missing = problem
        .strip_prefix("missing field `")
        .and_then(|s| s.split('`').next());
    let field = match (missing, path) {
        (Some(f), "." | "") => f.to_owned(),
        (Some(f), p) => format!("{p}.{f}"),
        (None, p) => p.to_owned(),
    };
    let problem = problem.split(" at line ").next().unwrap_or(problem);
    if field.is_empty() || field == "." {
        return Error::invalid(None, format!("Invalid request: {problem}"));
    }
    Error::invalid(
        Some(field.clone()),
        format!("Invalid request: field `{field}`: {problem}"),
    )
}

/// A query string parsed with the path of any failing field in the error.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| field_error(&e.path().to_string(), &e.into_inner().to_string()))
    }
}
