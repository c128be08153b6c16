//! AWS Signature Version 4: the canonical request, the string to sign, the signing key and the
//! `Authorization` header, for every service except S3 (paths are normalized and each segment is
//! URI-encoded, so a path that is already percent-encoded on the wire is encoded a second time).
//! Signing and verifying share one canonicalization, so the test fakes check exactly what the
//! gateway sends.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::LlmError;

/// The only algorithm SigV4 names.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-date`'s format.
const AMZ_DATE: &str = "%Y%m%dT%H%M%SZ";

/// An AWS key pair, with the session token of temporary credentials. `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where a signature is valid: the region and the service's signing name (`bedrock` for the
/// Bedrock runtime).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// A request as it goes on the wire. `headers` must hold `host`; every header given is signed.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// The path as sent, e.g. `/model/anthropic.claude-v2%3A1/converse`.
    pub path: &'a str,
    /// The query string as sent, without `?` (may be empty).
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// What signing adds to a request, and the intermediate strings (for tests and debugging).
#[derive(Debug, Clone)]
pub struct Signed {
    /// Headers to add: `x-amz-date`, then `x-amz-content-sha256` and `x-amz-security-token`
    /// when used, then `authorization`.
    pub headers: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

/// Signs `req` at `time`. With `content_sha256`, the payload hash is also sent (and signed) as
/// `x-amz-content-sha256`; a session token is always sent and signed.
pub fn sign(
    req: &SignableRequest<'_>,
    credentials: &Credentials,
    scope: Scope<'_>,
    time: DateTime<Utc>,
    content_sha256: bool,
) -> Signed {
    let amz_date = time.format(AMZ_DATE).to_string();
    let payload_hash = hex::encode(Sha256::digest(req.body));
    let mut added = vec![("x-amz-date".to_owned(), amz_date.clone())];
    if content_sha256 {
        added.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
    }
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    let all: Vec<(String, String)> = req.headers.iter().chain(&added).cloned().collect();
    let (canonical_headers, signed_headers) = canonical_headers(&all);
    let canonical_request = [
        req.method,
        &canonical_uri(req.path),
        &canonical_query(req.query),
        &canonical_headers,
        &signed_headers,
        &payload_hash,
    ]
    .join("\n");
    let date = &amz_date[..8];
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = string_to_sign(&amz_date, &credential_scope, &canonical_request);
    let key = signing_key(&credentials.secret_access_key, date, scope);
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    added.push(("authorization".to_owned(), authorization));
    Signed {
        headers: added,
        canonical_request,
        string_to_sign,
        signature,
    }
}

/// The string to sign: algorithm, time, scope and the hash of the canonical request.
pub fn string_to_sign(amz_date: &str, credential_scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{amz_date}\n{credential_scope}\n{hash}")
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, scope: Scope<'_>) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never fails.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// The path with `.`/`..` and empty segments removed, each segment URI-encoded (so `%`
/// becomes `%25`); a trailing slash is kept.
pub fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The query's parameters decoded, re-encoded strictly and sorted by name, then value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Canonical header lines (each ending in `\n`) and the `;`-joined signed header names. Names
/// are lower-cased, values trimmed with inner runs of spaces collapsed, repeated names joined
/// with `,` in the order given.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let lines: String = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let names = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (lines, names)
}

/// RFC 3986 encoding: everything but `A-Z a-z 0-9 - _ . ~` becomes `%XX` (upper-case hex).
pub fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` sequences decoded; a `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=…/date/region/service/aws4_request,
    /// SignedHeaders=…, Signature=…`.
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header.strip_prefix(ALGORITHM)?.trim_start();
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => return None,
            }
        }
        let mut scope = credential?.split('/');
        let (key, date, region, service, term) = (
            scope.next()?,
            scope.next()?,
            scope.next()?,
            scope.next()?,
            scope.next()?,
        );
        if term != "aws4_request" || scope.next().is_some() {
            return None;
        }
        Some(Self {
            access_key_id: key.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers: signed?.split(';').map(str::to_owned).collect(),
            signature: signature?.to_owned(),
        })
    }
}

/// Checks a received request's signature the way AWS does: recomputes it from the headers the
/// `Authorization` header names (`req.headers` holds every header received). Answers 403 with
/// AWS's message on any mismatch.
pub fn verify(
    req: &SignableRequest<'_>,
    credentials: &Credentials,
    expected: Scope<'_>,
) -> Result<(), LlmError> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let auth = header("authorization").ok_or_else(|| denied("Missing Authentication Token"))?;
    let auth = Authorization::parse(auth)
        .ok_or_else(|| denied("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."))?;
    if auth.access_key_id != credentials.access_key_id {
        return Err(denied(
            "The security token included in the request is invalid.",
        ));
    }
    if auth.region != expected.region || auth.service != expected.service {
        return Err(denied(
            "Credential should be scoped to a valid region and service.",
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| denied("Missing x-amz-date"))?;
    let time = NaiveDateTime::parse_from_str(amz_date, AMZ_DATE)
        .map_err(|_| denied("Invalid x-amz-date"))?
        .and_utc();
    if !amz_date.starts_with(&auth.date) {
        return Err(denied("Credential date does not match x-amz-date."));
    }
    if header("x-amz-security-token") != credentials.session_token.as_deref() {
        return Err(denied(
            "The security token included in the request is invalid.",
        ));
    }
    if let Some(claimed) = header("x-amz-content-sha256") {
        if claimed != hex::encode(Sha256::digest(req.body)) {
            return Err(denied(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(denied(&format!("'{required}' must be a signed header.")));
        }
    }
    // Re-sign with only the named headers (the ones `sign` adds itself are left out).
    let added = ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token"];
    let named: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            auth.signed_headers.contains(&n) && !added.contains(&n.as_str())
        })
        .cloned()
        .collect();
    let resigned = sign(
        &SignableRequest {
            headers: &named,
            ..*req
        },
        credentials,
        expected,
        time,
        auth.signed_headers
            .iter()
            .any(|h| h == "x-amz-content-sha256"),
    );
    if resigned.signature != auth.signature {
        return Err(denied("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."));
    }
    Ok(())
}

fn denied(message: &str) -> LlmError {
    LlmError::Status {
        status: 403,
        message: message.to_owned(),
        body: Some(serde_json::json!({ "message": message })),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    //! AWS's published SigV4 test suite (aws-sig-v4-test-suite): credentials `AKIDEXAMPLE`,
    //! region `us-east-1`, service `service`, time 2015-08-30T12:36:00Z, host
    //! `example.amazonaws.com`. Expected values are the suite's `.creq`, `.sts` and `.authz`.

    use super::*;

    const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    struct Vector {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        /// Headers besides `host` and `x-amz-date` (which every case has).
        headers: &'static [(&'static str, &'static str)],
        body: &'static str,
        token: bool,
        signed_headers: &'static str,
        signature: &'static str,
    }

    fn creds(token: bool) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.then(|| TOKEN.to_owned()),
        }
    }

    const SCOPE: Scope<'static> = Scope {
        region: "us-east-1",
        service: "service",
    };

    fn when() -> DateTime<Utc> {
        NaiveDateTime::parse_from_str("20150830T123600Z", AMZ_DATE)
            .unwrap()
            .and_utc()
    }

    fn run(v: &Vector) -> Signed {
        let mut headers = vec![("Host".to_owned(), "example.amazonaws.com".to_owned())];
        headers.extend(
            v.headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let req = SignableRequest {
            method: v.method,
            path: v.path,
            query: v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        sign(&req, &creds(v.token), SCOPE, when(), false)
    }

    fn vector(
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        signature: &'static str,
    ) -> Vector {
        Vector {
            name,
            method,
            path,
            query,
            headers: &[],
            body: "",
            token: false,
            signed_headers: "host;x-amz-date",
            signature,
        }
    }

    fn vectors() -> Vec<Vector> {
        let h1 = "host;my-header1;x-amz-date";
        vec![
            vector("get-vanilla", "GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            vector("get-vanilla-query", "GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            vector("get-vanilla-empty-query-key", "GET", "/", "Param1=value1", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
            vector("get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
            vector("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
            vector("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            vector("get-vanilla-query-unreserved", "GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
            vector("get-vanilla-utf8-query", "GET", "/", "\u{1234}=bar", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
            vector("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
            vector("get-utf8", "GET", "/\u{1234}", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
            vector("normalize-path/get-relative", "GET", "/example/..", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            vector("normalize-path/get-relative-relative", "GET", "/example1/example2/../..", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            vector("normalize-path/get-slash", "GET", "//", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            vector("normalize-path/get-slash-dot-slash", "GET", "/./", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            vector("normalize-path/get-slash-pointless-dot", "GET", "/./example", "", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
            vector("normalize-path/get-slashes", "GET", "//example//", "", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
            vector("normalize-path/get-space", "GET", "/example space/", "", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
            vector("post-vanilla", "POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            vector("post-header-key-case", "POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            vector("post-vanilla-query", "POST", "/", "Param1=value1", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
            vector("post-vanilla-empty-query-value", "POST", "/", "Param1=value1", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
            vector("post-vanilla-query-nonunreserved", "POST", "/", "%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"),
            Vector { headers: &[("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")], signed_headers: h1, ..vector("get-header-key-duplicate", "GET", "/", "", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea") },
            Vector { headers: &[("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2")], signed_headers: h1, ..vector("get-header-value-order", "GET", "/", "", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01") },
            Vector { headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")], signed_headers: "host;my-header1;my-header2;x-amz-date", ..vector("get-header-value-trim", "GET", "/", "", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") },
            Vector { headers: &[("My-Header1", "value1")], signed_headers: h1, ..vector("post-header-key-sort", "POST", "/", "", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c") },
            Vector { headers: &[("My-Header1", "VALUE1")], signed_headers: h1, ..vector("post-header-value-case", "POST", "/", "", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d") },
            Vector { token: true, signed_headers: "host;x-amz-date;x-amz-security-token", ..vector("post-sts-token/post-sts-header-before", "POST", "/", "", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead") },
            Vector { headers: &[("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1", signed_headers: "content-type;host;x-amz-date", ..vector("post-x-www-form-urlencoded", "POST", "/", "", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a") },
            Vector { headers: &[("Content-Type", "application/x-www-form-urlencoded; charset=utf8")], body: "Param1=value1", signed_headers: "content-type;host;x-amz-date", ..vector("post-x-www-form-urlencoded-parameters", "POST", "/", "", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe") },
        ]
    }

    #[test]
    fn every_suite_vector_gives_the_published_authorization() {
        let mut failures = Vec::new();
        for v in vectors() {
            let signed = run(&v);
            let want = format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
                v.signed_headers, v.signature
            );
            let got = &signed.headers.last().unwrap().1;
            if *got != want {
                failures.push(format!(
                    "{}:\n  want {want}\n  got  {got}\n{}",
                    v.name, signed.canonical_request
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn find(name: &str) -> Vector {
        vectors().into_iter().find(|v| v.name == name).unwrap()
    }

    #[test]
    fn get_vanilla_canonical_request_and_string_to_sign() {
        let signed = run(&find("get-vanilla"));
        assert_eq!(
            signed.canonical_request,
            format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_HASH}")
        );
        assert_eq!(
            signed.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            signed.headers[0],
            ("x-amz-date".into(), "20150830T123600Z".into())
        );
    }

    #[test]
    fn header_value_trim_canonical_request() {
        let signed = run(&find("get-header-value-trim"));
        assert_eq!(
            signed.canonical_request,
            format!("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n{EMPTY_HASH}")
        );
        assert!(signed
            .string_to_sign
            .ends_with("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"));
    }

    #[test]
    fn post_form_canonical_request_hashes_the_body() {
        let signed = run(&find("post-x-www-form-urlencoded"));
        assert_eq!(
            signed.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
    }

    #[test]
    fn query_order_and_session_token_strings_to_sign() {
        let signed = run(&find("get-vanilla-query-order-key"));
        assert!(signed
            .canonical_request
            .contains("\nParam1=Value1&Param1=value2\n"));
        assert!(signed
            .string_to_sign
            .ends_with("704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89"));
        let signed = run(&find("post-sts-token/post-sts-header-before"));
        assert!(signed
            .string_to_sign
            .ends_with("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"));
        assert!(signed
            .headers
            .contains(&("x-amz-security-token".into(), TOKEN.into())));
    }

    #[test]
    fn paths_already_encoded_on_the_wire_are_encoded_again() {
        assert_eq!(
            canonical_uri("/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
            "/model/us.anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"
        );
        assert_eq!(canonical_uri("/a%2Fb/"), "/a%252Fb/");
    }

    #[test]
    fn content_sha256_is_sent_and_signed_when_asked() {
        let headers = vec![("host".to_owned(), "example.amazonaws.com".to_owned())];
        let req = SignableRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        let signed = sign(&req, &creds(false), SCOPE, when(), true);
        let sha = hex::encode(Sha256::digest(b"{}"));
        assert!(signed
            .headers
            .contains(&("x-amz-content-sha256".into(), sha)));
        assert!(signed
            .headers
            .last()
            .unwrap()
            .1
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    }

    fn signed_request(token: bool, body: &[u8]) -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_owned(), "127.0.0.1:9".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        let req = SignableRequest {
            method: "POST",
            path: "/model/m%3A0/converse",
            query: "",
            headers: &headers,
            body,
        };
        let signed = sign(&req, &creds(token), SCOPE, when(), true);
        headers.extend(signed.headers);
        // An unsigned header the server also sees.
        headers.push(("accept-encoding".to_owned(), "gzip".to_owned()));
        headers
    }

    fn check(
        headers: &[(String, String)],
        body: &[u8],
        creds: &Credentials,
    ) -> Result<(), LlmError> {
        let req = SignableRequest {
            method: "POST",
            path: "/model/m%3A0/converse",
            query: "",
            headers,
            body,
        };
        verify(&req, creds, SCOPE)
    }

    #[test]
    fn verify_accepts_what_sign_produced() {
        for token in [false, true] {
            let headers = signed_request(token, b"{\"a\":1}");
            check(&headers, b"{\"a\":1}", &creds(token)).unwrap();
        }
    }

    #[test]
    fn verify_rejects_tampering_with_403() {
        let headers = signed_request(false, b"{\"a\":1}");
        let err = check(&headers, b"{\"a\":2}", &creds(false)).unwrap_err();
        assert_eq!(err.status(), 403);
        let mut wrong = creds(false);
        wrong.secret_access_key = "other".into();
        let err = check(&headers, b"{\"a\":1}", &wrong).unwrap_err();
        assert!(
            err.to_string()
                .contains("signature we calculated does not match"),
            "{err}"
        );
        let mut tampered = headers.clone();
        tampered.retain(|(n, _)| n != "content-type");
        tampered.push(("content-type".into(), "text/plain".into()));
        assert_eq!(
            check(&tampered, b"{\"a\":1}", &creds(false))
                .unwrap_err()
                .status(),
            403
        );
        let no_auth: Vec<_> = headers
            .iter()
            .filter(|(n, _)| n != "authorization")
            .cloned()
            .collect();
        let err = check(&no_auth, b"{\"a\":1}", &creds(false)).unwrap_err();
        assert!(err.to_string().contains("Missing Authentication Token"));
    }

    #[test]
    fn authorization_header_parses() {
        let a = Authorization::parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc").unwrap();
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.service, "bedrock");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert!(Authorization::parse("Bearer x").is_none());
        assert!(Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKID/x/y, SignedHeaders=host, Signature=abc"
        )
        .is_none());
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let s = format!("{:?}", creds(true));
        assert!(!s.contains("wJalr") && !s.contains("AQoD"), "{s}");
    }
}
